"""/tickets: the open queue (filters, order, links to the forum) and a ticket's history."""
from __future__ import annotations

import re
from dataclasses import replace

import pytest

from syncd.core.tickets import Ticket
from syncd.store import tickets as ticketstore
from syncd.store.db import transaction

from webkit import JANE, provider, sign_in, web_app, web_settings


def _ticket(tid, **kw):
    base = Ticket(id=tid, title=f"Ticket {tid}", url=f"https://forum.example.com/t/t-{tid}/{tid}",
                  category_id=5, created_at=f"2026-03-0{tid}T09:00:00.000000Z", author="alice",
                  has_topic=True, has_first_post=True, announced=True)
    return replace(base, **kw)


@pytest.fixture
def queue(tmp_path):
    app, store = web_app(web_settings(tmp_path))
    with transaction(store.db()) as conn:
        ticketstore.save(conn, _ticket(1, priority="urgent"))
        ticketstore.save(conn, _ticket(2, priority="low", category_id=7, tags=("printer",)))
        ticketstore.save(conn, _ticket(3, priority="high", title="<script>alert(1)</script>"))
        ticketstore.save(conn, _ticket(4, stage="resolved"))
        ticketstore.add_history(conn, 1, "event", "topic_created", {"actor": "alice"})
        ticketstore.add_history(conn, 1, "rule", "escalate-urgent", {"event": "priority_changed"})
        ticketstore.enqueue(conn, 1, "notify", {"channel": "escalations"}, "escalate-urgent",
                            None, "2026-03-01T09:00:01.000000Z")
    client = app.test_client()
    sign_in(client, provider(), JANE)
    return client


def _ids(html):
    return [int(i) for i in re.findall(r'href="/tickets/(\d+)"', html)]


def test_queue_needs_a_sign_in(tmp_path):
    """A visitor without a session is sent to sign in, and back to the queue afterwards."""
    app, _ = web_app(web_settings(tmp_path))
    r = app.test_client().get("/tickets?priority=high")
    assert r.status_code == 302 and r.headers["Location"].startswith("/auth/login?next=")


def test_queue_lists_unresolved_tickets_newest_first(queue):
    """By default: open and answered tickets, the newest first; resolved ones are left out."""
    assert _ids(queue.get("/tickets").get_data(as_text=True)) == [3, 2, 1]


def test_most_urgent_first(queue):
    """sort=urgent: urgent, high, normal, low (oldest first within a priority)."""
    assert _ids(queue.get("/tickets?sort=urgent").get_data(as_text=True)) == [1, 3, 2]


def test_filters_by_category_priority_and_status(queue):
    """category (slug), priority and status narrow the list."""
    assert _ids(queue.get("/tickets?category=hardware").get_data(as_text=True)) == [2]
    assert _ids(queue.get("/tickets?priority=urgent").get_data(as_text=True)) == [1]
    assert _ids(queue.get("/tickets?status=resolved").get_data(as_text=True)) == [4]
    assert _ids(queue.get("/tickets?status=all").get_data(as_text=True)) == [4, 3, 2, 1]


def test_each_ticket_links_to_its_topic_and_titles_are_escaped(queue):
    """The title links to the Discourse topic; markup in a title is shown, never run."""
    html = queue.get("/tickets").get_data(as_text=True)
    assert 'href="https://forum.example.com/t/t-1/1"' in html
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html


def test_ticket_page_shows_history_rules_and_actions(queue):
    """One ticket: its facts, the rules that fired, the outbox actions and their state."""
    r = queue.get("/tickets/1")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "escalate-urgent" in html and "topic_created" in html
    assert "pending" in html and "Open in Discourse" in html and "notify → escalations" in html
    assert queue.get("/tickets/999").status_code == 404


def test_pages_have_no_forms_that_change_tickets(queue):
    """Read-only: the queue and ticket pages post nothing but sign-out."""
    for path in ("/tickets", "/tickets/1"):
        html = queue.get(path).get_data(as_text=True)
        assert re.findall(r'<form method="post" action="([^"]+)"', html) == ["/auth/logout"]


def test_a_long_queue_comes_in_pages(tmp_path):
    """More than 200 tickets: the first page, and a link to the next that keeps the filters."""
    app, store = web_app(web_settings(tmp_path))
    with transaction(store.db()) as conn:
        for i in range(1, 251):
            ticketstore.save(conn, replace(_ticket(1), id=i, priority="high",
                                           created_at=f"2026-03-01T09:{i // 60:02d}:{i % 60:02d}.000000Z"))
    client = app.test_client()
    sign_in(client, provider(), JANE)
    first = client.get("/tickets?priority=high").get_data(as_text=True)
    assert len(_ids(first)) == 200 and _ids(first)[0] == 250
    link = re.search(r'href="/tickets\?([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    assert "priority=high" in link and "page=2" in link
    second = client.get(f"/tickets?{link}").get_data(as_text=True)
    assert _ids(second) == list(range(50, 0, -1)) and 'rel="prev"' in second
