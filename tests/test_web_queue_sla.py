"""/tickets filtered by SLA state (breaching, due soon, on track, no SLA) and ordered by SLA
due time, as plain GET forms; the ticket page shows each target's due time. A fake clock."""
from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from syncd.core.sla_state import next_due, state_of
from syncd.core.tickets import Ticket
from syncd.store import tickets as ticketstore
from syncd.store import timers
from syncd.store.db import transaction

from webkit import JANE, provider, sign_in, web_app, web_settings

UTC = timezone.utc
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
SLAS = "slas:\n  - name: std\n    first_response: 1h\n    resolution: 1d\n    warn_at: 50%\n"


def _ticket(tid, **kw):
    return replace(Ticket(id=tid, title=f"Ticket {tid}", url=f"https://forum.example.com/t/t/{tid}",
                          category_id=5, created_at=f"2026-03-10T0{tid}:00:00.000000Z",
                          author="alice", has_topic=True, has_first_post=True, announced=True), **kw)


def _clocks(started, met_at=None):
    first = {"target": "first_response", "started_at": started, "used": 0.0, "since": started}
    if met_at:
        first = {**first, "since": None, "used": 600.0, "done_at": met_at, "outcome": "met"}
    res = {"target": "resolution", "started_at": started, "used": 0.0, "since": started}
    return {"policy": "std", "paused": False, "clocks": [first, res]}


@pytest.fixture
def queue(tmp_path):
    app, store = web_app(web_settings(tmp_path, extra=SLAS), clock=lambda: NOW)
    with transaction(store.db()) as conn:
        for tid, started, met in ((1, "2026-03-10T10:00:00.000000Z", None),    # 2 h: breached
                                  (2, "2026-03-10T11:25:00.000000Z", None),    # 35 min: due soon
                                  (3, "2026-03-10T11:50:00.000000Z", None),    # 10 min: on track
                                  (5, "2026-03-10T05:00:00.000000Z", "2026-03-10T05:10:00.000000Z")):
            ticketstore.save(conn, _ticket(tid))
            timers.save_sla(conn, tid, _clocks(started, met), "2026-03-10T11:59:00.000000Z")
        ticketstore.save(conn, _ticket(4))                                     # no SLA
    client = app.test_client()
    sign_in(client, provider(), JANE)
    return client


def _ids(html):
    return [int(i) for i in re.findall(r'href="/tickets/(\d+)"', html)]


def test_state_of_names_breaching_due_soon_on_track_and_none():
    """The one-word state from a snapshot: breached wins, then the warn share of a running target."""
    def snap(status, elapsed, goal=3600.0):
        return {"policy": "std", "targets": {"first_response": {
            "status": status, "elapsed_seconds": elapsed, "target_seconds": goal,
            "due_at": "2026-03-10T13:00:00.000000Z"}}}
    assert state_of(None) == "none" and state_of({"targets": {}}) == "none"
    assert state_of(snap("breached", 4000)) == "breaching"
    assert state_of(snap("running", 1800), warn_at=0.5) == "due_soon"
    assert state_of(snap("running", 1800), warn_at=0.8) == "on_track"
    assert state_of(snap("running", 3000), warn_at=None) == "due_soon"      # 80 % by default
    assert state_of(snap("paused", 3500)) == "on_track" and state_of(snap("met", 100)) == "on_track"
    assert next_due(snap("running", 10)) == ("first_response", "2026-03-10T13:00:00.000000Z")
    assert next_due(snap("met", 10)) is None


def test_queue_filters_by_sla_state(queue):
    """sla=breaching, due_soon, on_track, none pick their tickets; any (the default) shows all."""
    get = lambda q: _ids(queue.get(f"/tickets?status=all&{q}").get_data(as_text=True))  # noqa: E731
    assert get("sla=breaching") == [1]
    assert get("sla=due_soon") == [2]
    assert get("sla=on_track") == [5, 3]
    assert get("sla=none") == [4]
    assert get("sla=any") == [5, 4, 3, 2, 1] == get("sla=bogus")
    assert get("sla=on_track&priority=urgent") == []


def test_queue_shows_each_tickets_sla_and_orders_by_due_time(queue):
    """An SLA column with the state and the next due time; sort=sla puts the soonest due first."""
    html = queue.get("/tickets").get_data(as_text=True)
    assert '<select id="f-sla" name="sla">' in html and "no SLA" in html
    assert "breaching" in html and "first response due" in html
    assert _ids(queue.get("/tickets?sort=sla").get_data(as_text=True)) == [1, 2, 3, 5, 4]
    assert _ids(queue.get("/tickets?status=all&sort=sla&sla=on_track").get_data(as_text=True)) == [3, 5]


def test_the_filter_form_is_a_plain_get_without_javascript(queue):
    """The SLA filter is part of the GET form (no script on the page)."""
    html = queue.get("/tickets").get_data(as_text=True)
    form = re.search(r'<form method="get" action="/tickets".*?</form>', html, re.S).group(0)
    assert 'name="sla"' in form and "<script" not in html


def test_ticket_page_shows_sla_due_times(queue):
    """The ticket page lists each target with its state and local due time."""
    html = queue.get("/tickets/2").get_data(as_text=True)
    assert "SLA due times" in html and "policy std" in html and "due soon" in html
    assert "first response" in html and "10 Mar 2026, 17:55 IST" in html     # 11:25Z + 1 h, in Kolkata
    assert "resolution" in html and "11 Mar 2026, 16:55 IST" in html
    assert "SLA due times" not in queue.get("/tickets/4").get_data(as_text=True)


def test_without_slas_configured_the_queue_has_no_sla_filter(tmp_path):
    """No slas: in the config: no SLA filter or column (nothing to filter by)."""
    app, store = web_app(web_settings(tmp_path))
    with transaction(store.db()) as conn:
        ticketstore.save(conn, _ticket(1))
    client = app.test_client()
    sign_in(client, provider(), JANE)
    html = client.get("/tickets").get_data(as_text=True)
    assert 'name="sla"' not in html and _ids(html) == [1]
