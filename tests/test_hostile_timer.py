"""Issue 18, finding 3: one poisoned timer never blocks the announcement of other tickets."""
from __future__ import annotations

from datetime import timedelta

import pytest

from syncd.clock import iso, utcnow
from syncd.core.tickets import Ticket
from syncd.processor import Processor
from syncd.service import prepare
from syncd.store import tickets as ticketstore
from syncd.store.db import transaction

from test_processor import PING, put, rules_processor

from conftest import make_settings, sample_body


def poisoned(store, ticket: Ticket, at: str) -> None:
    """A ticket row as an older syncd (or a bad import) could have left it."""
    with transaction(store.db()) as conn:
        ticketstore.save(conn, ticket, at)


@pytest.mark.parametrize("bad", [
    Ticket(id=0, title="zero", category_id=5, has_topic=True),      # ticket 0, created "now"
    Ticket(id=77, title="bad time", category_id=5, has_topic=True, created_at="0"),
    Ticket(id=78, title="bad time", category_id=5, has_topic=True, created_at="now"),
])
def test_a_poisoned_ticket_is_marked_and_the_others_announced(tmp_path, bad):
    """The bad ticket is marked with the reason and skipped; a good one behind it is announced
    with its rules, and the timer goes idle instead of spinning."""
    settings = make_settings(tmp_path)
    store, _ = prepare(settings)
    p = rules_processor(tmp_path, settings, store, PING)
    start = utcnow()
    if bad.id == 0:
        bad = Ticket(**{**bad.__dict__, "created_at": iso(start)})
    poisoned(store, bad, iso(start - timedelta(seconds=60)))   # older: it comes first
    body = sample_body("topic_created")
    body["topic"]["created_at"] = iso(start)
    put(store, "topic_created", body=body)
    later = start + timedelta(seconds=31)
    assert p.run_once(start) is True                             # the good topic's delivery
    steps = 0
    while p.run_once(later) and steps < 10:
        steps += 1
    assert steps <= 3, "the timer kept working on the same ticket"
    conn = store.db().conn
    assert ticketstore.load(conn, 1234).announced
    assert conn.execute("SELECT kind, rule FROM outbox").fetchall() == [("notify", "ping")]
    error = conn.execute("SELECT announce_error FROM tickets WHERE id = ?", (bad.id,)).fetchone()[0]
    assert error
    notes = [h for h in ticketstore.history(conn, bad.id) if h["name"] == "announce_failed"]
    assert notes and notes[0]["detail"]["note"] == error


def test_announce_is_not_retried_for_a_marked_ticket(tmp_path):
    """Once marked, a ticket is not tried again on later timer steps."""
    settings = make_settings(tmp_path)
    store, _ = prepare(settings)
    p = Processor(settings, store)
    start = utcnow()
    poisoned(store, Ticket(id=77, category_id=5, has_topic=True, created_at="0"), iso(start))
    later = start + timedelta(seconds=31)
    assert p.run_once(later) is True
    assert p.run_once(later) is False
