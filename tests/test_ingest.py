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
    assert 0.25 - 1e-9 <= sum(t.slept) < 0.25 + 0.011


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


def steady_flow(p: IngestPressure, t: FakeClock, every: float, count: int,
                answer_after: float = 0.0008) -> None:
    """``count`` deliveries ``every`` seconds apart, each answered ``answer_after`` later."""
    for _ in range(count):
        p.begin()
        t.now += answer_after
        p.end()
        t.now += every - answer_after


def test_in_a_steady_flow_a_step_waits_when_the_next_delivery_is_due():
    """200 deliveries/s, 1 ms steps: right after an answer (and the quiet time) a step may
    start; 4 ms after the last arrival, with the next due at 5 ms, it waits for that one
    to be answered instead of landing on it."""
    t = FakeClock()
    p = IngestPressure(quiet=0.0005, max_defer=0.25, max_backlog=100, clock=t.clock,
                       sleep=t.sleep)
    p.step_took(0.001)
    for _ in range(20):
        p.step_took(0.001)
    steady_flow(p, t, 0.005, 10)
    t.now -= 0.005 - 0.0008          # back to just after the last answer
    t.now += 0.0006                  # past the quiet time: room for a 1 ms step
    assert not p.busy() and not p.due_soon()
    t.now += 0.0026                  # 4 ms after the arrival: the next is due at 5 ms
    assert p.due_soon()
    p.wait_for_quiet(lambda: 0)      # nobody comes: it waits out the gap, not max_defer
    assert 0 < sum(t.slept) < 0.012


def test_a_dense_flow_or_a_paused_one_does_not_make_the_processor_wait_for_gaps():
    """When steps do not fit between deliveries (1,000/s, 1 ms steps), or the flow has
    paused for two gaps, only ``busy`` counts: waiting for a gap would starve it."""
    t = FakeClock()
    p = IngestPressure(quiet=0.0005, clock=t.clock, sleep=t.sleep)
    for _ in range(20):
        p.step_took(0.001)
    steady_flow(p, t, 0.001, 20, answer_after=0.0002)
    t.now += 0.0006
    assert not p.due_soon()          # dense: no room for a polite step
    steady_flow(p, t, 0.005, 20)
    t.now += 0.011                   # more than two gaps since the last arrival
    assert not p.due_soon() and not p.busy()
    p.wait_for_quiet(lambda: 0)
    assert t.slept == []


def test_a_processor_step_reports_its_duration(tmp_path):
    """Processor.run_once tells the pressure how long the step took."""
    from syncd.processor import Processor
    from syncd.store import deliveries
    settings = make_settings(tmp_path)
    store, _ = prepare(settings)
    headers, raw = sample("topic_created")
    deliveries.store(store.db().conn, headers, raw, 1234)

    class Spy(IngestPressure):
        took: list = []

        def step_took(self, seconds):
            self.took.append(seconds)
            super().step_took(seconds)
    spy = Spy()
    assert Processor(settings, store, pressure=spy).run_once()
    assert len(spy.took) == 1 and 0 < spy.took[0] < 5


def test_a_batch_larger_than_one_statement_may_be_is_stored_in_pieces(tmp_path, monkeypatch):
    """store_batch with 600 deliveries (a server with a high connection_limit, all ready at
    once): MAX_BATCH rows a statement, under SQLite's limit on variables; all stored."""
    from syncd.inbox import writer as writer_module
    from syncd.store import deliveries
    store, _ = prepare(make_settings(tmp_path))
    writer = IngestWriter(store)
    sizes, real = [], deliveries.insert_rows

    def spy(conn, batch):
        sizes.append(len(batch))
        return real(conn, batch)
    monkeypatch.setattr(deliveries, "insert_rows", spy)
    headers, raw = sample("topic_created")
    results = writer.store_batch([({**headers, "X-Discourse-Event-Id": str(i)},
                                   raw + b" " * i, i) for i in range(600)])
    writer.close()
    assert sizes == [writer_module.MAX_BATCH, writer_module.MAX_BATCH,
                     600 - 2 * writer_module.MAX_BATCH]
    assert all(not isinstance(r, Exception) and not r.duplicate for r in results)
    assert len({r.id for r in results}) == 600
