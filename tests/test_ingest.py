"""Group commit: many request threads, one writer, every delivery stored exactly once."""
from __future__ import annotations

import json
import threading

import pytest

from syncd.errors import StorageError
from syncd.inbox.writer import IngestPressure, IngestWriter
from syncd.service import prepare

from conftest import make_settings, sample


def test_concurrent_deliveries_are_each_stored_once(tmp_path):
    """40 threads hand deliveries to the writer; each gets its own row, duplicates none."""
    store, _ = prepare(make_settings(tmp_path))
    writer = IngestWriter(store)
    headers, raw = sample("topic_created")
    results = []

    def send(i):
        body = json.loads(raw)
        body["topic"]["id"] = i % 20  # every delivery is sent twice
        h = {**headers, "X-Discourse-Event-Id": str(i % 20)}
        results.append(writer.store_delivery(h, json.dumps(body).encode(), i % 20))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.close()
    assert sum(not r.duplicate for r in results) == 20
    assert store.db().conn.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0] == 20


def test_a_failed_commit_is_a_storage_error_and_stores_nothing(tmp_path, monkeypatch):
    """A write the database refuses fails the batch with a StorageError; no row is left."""
    import sqlite3
    from syncd.store import deliveries
    store, _ = prepare(make_settings(tmp_path))
    writer = IngestWriter(store)
    def refuse(conn, batch):   # what SQLite says before it writes anything
        raise sqlite3.OperationalError("attempt to write a readonly database")
    monkeypatch.setattr(deliveries, "insert_rows", refuse)
    headers, raw = sample("topic_created")
    with pytest.raises(StorageError, match="readonly"):
        writer.store_delivery(headers, raw, 1234)
    writer.close()
    assert store.db().conn.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0] == 0


class FakeClock:
    """Time that moves only when slept; ``busy`` touches the pressure at every sleep."""

    def __init__(self, pressure_touches: bool = False):
        self.now, self.slept, self.busy = 100.0, [], pressure_touches
        self.pressure = None

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        if self.busy:
            self.pressure.touch()   # deliveries keep arriving


def test_pressure_defers_processing_during_a_burst_but_not_forever():
    """While deliveries keep arriving the processor waits, max_defer seconds at most."""
    t = FakeClock(pressure_touches=True)
    p = IngestPressure(quiet=0.01, max_defer=0.25, max_backlog=100, clock=t.clock, sleep=t.sleep)
    t.pressure = p
    p.touch()
    p.wait_for_quiet(lambda: 0)
    assert 0.25 <= sum(t.slept) < 0.25 + 0.011


def test_pressure_waits_only_until_the_receiver_is_quiet():
    """Once no delivery came for `quiet` seconds, processing goes on."""
    t = FakeClock()
    p = IngestPressure(quiet=0.01, max_defer=5.0, max_backlog=100, clock=t.clock, sleep=t.sleep)
    p.touch()
    p.wait_for_quiet(lambda: 0)
    assert 0 < sum(t.slept) <= 0.02 + 1e-9   # one or two quiet periods, not max_defer


def test_pressure_does_not_defer_when_quiet_or_backlogged():
    """A quiet receiver, or a large backlog, means no waiting at all."""
    t = FakeClock()
    p = IngestPressure(quiet=0.01, max_defer=5.0, max_backlog=100, clock=t.clock, sleep=t.sleep)
    p.wait_for_quiet(lambda: 0)          # never touched: quiet
    p.touch()
    p.wait_for_quiet(lambda: 500)        # backlog over the cap
    assert t.slept == []


def test_one_statement_tells_new_rows_from_duplicates(tmp_path):
    """insert_rows: ids in order when all are new; with duplicates in the batch (a known
    event id, the same event id twice, Discourse's retry of a body under a new id) each
    row is new or a duplicate exactly as one INSERT a row would have decided."""
    from syncd.store import deliveries
    store, _ = prepare(make_settings(tmp_path))
    conn = store.db().conn
    headers, raw = sample("topic_created")

    def row(event_id, body=raw):
        return deliveries.row({**headers, "X-Discourse-Event-Id": event_id}, body, 1)
    first = deliveries.insert_rows(conn, [row("1", raw + b" "), row("2", raw + b"  ")])
    assert [(s.id, s.duplicate) for s in first] == [(1, False), (2, False)]
    mixed = deliveries.insert_rows(conn, [
        row("3", raw + b"   "),        # new
        row("1", raw + b"    "),       # an event id already stored: the admin's redelivery
        row("4", raw + b"     "),      # new
        row("4", raw + b"      "),     # the same event id again in this batch
        row("5", raw + b" "),          # the body of event 1 again: Discourse's retry
        row("6", raw + b"       "),    # new
    ])
    assert [s.duplicate for s in mixed] == [False, True, False, True, True, False]
    stored = dict(conn.execute("SELECT event_id, id FROM deliveries"))
    assert [s.id for s in mixed if not s.duplicate] == [stored["3"], stored["4"], stored["6"]]
    assert sorted(stored) == ["1", "2", "3", "4", "6"]
    assert not conn.in_transaction       # the statement committed itself


def test_a_locked_database_fails_the_whole_batch_at_once(tmp_path, monkeypatch):
    """A fault of the database itself (locked, read-only) is not retried one delivery at a
    time, which would wait SQLite's busy timeout again for each: one try, every delivery
    a StorageError."""
    import sqlite3
    from syncd.store import deliveries
    store, _ = prepare(make_settings(tmp_path))
    writer = IngestWriter(store)
    calls = []

    def locked(conn, batch):
        calls.append(len(batch))
        raise sqlite3.OperationalError("database is locked")
    monkeypatch.setattr(deliveries, "insert_rows", locked)
    headers, raw = sample("topic_created")
    results = writer.store_batch([({**headers, "X-Discourse-Event-Id": str(i)},
                                   raw + b" " * i, i) for i in range(3)])
    writer.close()
    assert calls == [3]
    assert all(isinstance(r, StorageError) and "locked" in str(r) for r in results)
