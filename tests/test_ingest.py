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
