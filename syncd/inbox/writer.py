"""Group commit for the receiver: deliveries are stored in batches, one commit each.

A batch is one multi-row ``INSERT`` in autocommit mode (``deliveries.insert_rows``): the
rows, the commit and its fsync are one call into SQLite. The event loop stores every
delivery that arrived together with ``store_batch`` (``inbox/loop.py``); request threads
(``store_delivery``) hand their delivery to the writer and wait until the batch holding
it is committed, so a 202 still means "durably stored". When no batch is being written and
none is queued, the request thread writes its delivery itself (with any that queue up
meanwhile), which saves two thread hand-overs; either way one batch is written at a time.
One writer at a time means no two request threads ever fight for SQLite's write lock
(whose busy handler sleeps for milliseconds), and one commit (one fsync with
``synchronous=full``) covers every delivery that arrived while the previous batch was
being written.

The writer never dies and never undoes an acknowledgement: a batch whose commit fails is
written again one delivery at a time, so only the delivery that caused the failure fails
(``PayloadError``, 400, when the database refuses its data; ``StorageError``, 503, when the
database itself is unwritable), and a result is handed back only after its commit. Any
exception is caught in the thread; if the thread is gone all the same, the next delivery
starts a new one, and ``alive`` tells ``/healthz``.
"""
from __future__ import annotations

import queue
from collections import deque
import sqlite3
import threading
import time
from typing import Callable, Mapping

from syncd import logs, metrics
from syncd.store import deliveries
from syncd.errors import PayloadError, StorageError
from syncd.store.db import Store, write_gate

log = logs.get("syncd.ingest")
_BATCH_SIZE = metrics.INGEST_BATCH.observe
MAX_BATCH = 256
WAIT_SECONDS = 10.0


def _database_fault(exc: BaseException) -> bool:
    """The database itself failed (locked, read-only, full, unreadable), so every delivery
    of the batch would fail alone too (and wait the busy timeout again each)."""
    return isinstance(exc, (sqlite3.OperationalError, sqlite3.InternalError,
                            sqlite3.ProgrammingError)) or type(exc) is sqlite3.DatabaseError


def unstorable(exc: BaseException) -> StorageError:
    """The 503 for a delivery the database could not take (not its data's fault)."""
    return StorageError(f"could not store the delivery ({exc}); Discourse can redeliver it "
                        "from Admin → API → Webhooks once the database is writable")


class _Done:
    """A one-shot "committed" flag: a lock held until the writer releases it, cheaper
    than a ``threading.Event`` (no Condition, no waiter list) for one waiter."""

    __slots__ = ("_lock", "_set")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()
        self._set = False

    def set(self) -> None:
        if not self._set:
            self._set = True
            self._lock.release()

    def is_set(self) -> bool:
        return self._set

    def wait(self, timeout: float) -> bool:
        return self._set or self._lock.acquire(timeout=timeout)


class _Pending:
    """One delivery on its way to the database; ``row`` is computed by the thread that
    received it, so the writer's own work is only the statement."""

    __slots__ = ("row", "done", "result", "error")

    def __init__(self, headers: Mapping[str, str], body: bytes, topic_id: int | None):
        self.row = deliveries.row(headers, body, topic_id)
        self.done = _Done()
        self.result: deliveries.Stored | None = None
        self.error: Exception | None = None


class IngestPressure:
    """When the receiver last answered: the processor yields to a burst of deliveries.

    Storing is what Discourse waits for; processing can follow a moment later. While
    deliveries keep arriving the processor takes one at least every ``max_defer`` seconds
    and runs at full speed again once the receiver is quiet or the backlog is large.
    "Quiet" is no request being answered (``begin``/``end``) and none for ``quiet``
    seconds, so at a steady rate the processor works in the gaps between deliveries
    instead of a fixed time after each one (which at 200/s fell on the next arrival).

    At a steady rate it also stops short of the next delivery: from the usual gap between
    arrivals (a moving average) and how long its own steps take (``step_took``), a step
    that would still run when the next delivery is due (within the last quarter of the
    gap) waits for that delivery to be answered first. A flow that pauses (nothing for two
    gaps) is no flow: the processor runs freely again.
    """

    def __init__(self, quiet: float = 0.0005, max_defer: float = 0.25, max_backlog: int = 10000,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, poll: float = 0.002):
        self.quiet, self.max_defer, self.max_backlog = quiet, max_defer, max_backlog
        self.clock, self.sleep = clock, sleep
        self.poll = max(quiet, poll)     # how often a deferred processor looks again
        self._last = -1e9
        self._in_flight: deque[None] = deque()   # one entry a request being answered
        self._arrived = -1e9             # when the last delivery began to be received
        self._gap: float | None = None   # moving average of the time between arrivals
        self._step = 0.001               # moving average of a processor step's duration

    def touch(self) -> None:
        self._last = self.clock()

    def begin(self) -> None:
        """A delivery is being received: the processor waits until it is answered."""
        now = self.clock()
        interval = now - self._arrived
        if interval < 1.0:
            self._gap = interval if self._gap is None else 0.8 * self._gap + 0.2 * interval
        else:
            self._gap = None             # after a second of nothing, a new flow
        self._arrived = now
        self._in_flight.append(None)

    def end(self) -> None:
        try:
            self._in_flight.pop()
        except IndexError:
            pass
        self._last = self.clock()

    def step_took(self, seconds: float) -> None:
        """The processor says how long its last step took."""
        self._step = 0.8 * self._step + 0.2 * min(seconds, 0.1)

    def busy(self) -> bool:
        return bool(self._in_flight) or self.clock() - self._last <= self.quiet

    def due_soon(self, now: float | None = None) -> bool:
        """A steady flow's next delivery is due before a step started now would end.

        Only where a step fits between two deliveries (``gap`` over two steps and the
        quiet time): in a denser flow waiting for a gap would only starve the processor,
        and ``busy`` alone decides."""
        gap = self._gap
        if not self._roomy():
            return False
        since = (self.clock() if now is None else now) - self._arrived
        return since < 2 * gap and since + self._step > gap - self.quiet

    def _roomy(self) -> bool:
        """A steady flow with room for a step between two deliveries (the gap over two
        steps and the quiet time)."""
        return self._gap is not None and self._gap >= 2 * self._step + self.quiet

    def wait_for_quiet(self, backlog: Callable[[], int]) -> None:
        now = self.clock()
        deadline = now + self.max_defer
        if not (self.busy() or self.due_soon(now)) or backlog() >= self.max_backlog:
            return
        while now < deadline:
            pause = self._pause(now)
            if pause is None:
                return
            self.sleep(max(min(pause, deadline - now), 0.0001))
            now = self.clock()

    def _pause(self, now: float) -> float | None:
        """How long to wait before looking again; None: go on now. In a flow with room
        between deliveries, look again just when a step may start (after the answer and
        the quiet time, or when the next delivery is due); in a dense one, every ``poll``."""
        gap, roomy = self._gap, self._roomy()
        if self._in_flight:
            return min(self.quiet, self.poll) if roomy else self.poll
        if now - self._last <= self.quiet:
            return self._last + self.quiet - now + 0.0001 if roomy else self.poll
        if self.due_soon(now):       # until it is due; then as while it is answered
            until = self._arrived + gap - now
            return min(until, self.poll) if until > 0 else min(self.quiet, self.poll)
        return None


class IngestWriter:
    """Stores deliveries for many request threads through one connection."""

    def __init__(self, store: Store):
        self.store = store
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._closed = False
        self._start_lock = threading.Lock()
        self._committing = threading.Lock()   # held while a batch is being written
        self._holding = False   # the thread has a delivery and waits for _committing
        self.restarts = 0
        self._thread = self._start()

    def _start(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)
        thread.start()
        return thread

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _ensure_running(self) -> None:
        """Start a new writer thread if the old one is gone (it should never be)."""
        if self._closed or self._thread.is_alive():
            return
        with self._start_lock:
            if not self._thread.is_alive():
                self.restarts += 1
                log.error("ingest_writer_restarted", restarts=self.restarts)
                self._thread = self._start()

    def store_delivery(self, headers: Mapping[str, str], body: bytes,
                       topic_id: int | None) -> deliveries.Stored:
        """Block until the delivery is committed (or raise ``StorageError``)."""
        item = _Pending(headers, body, topic_id)
        self._ensure_running()
        if (self._queue.empty() and not self._holding
                and self._committing.acquire(blocking=False)):
            self._lead(item)     # nobody writing: commit here, no hand-over to the thread
        else:
            self._queue.put(item)
        if not item.done.wait(WAIT_SECONDS):
            raise StorageError(f"the database did not answer within {WAIT_SECONDS:.0f} s; the "
                               "delivery may be stored all the same, and a redelivery from "
                               "Discourse is safe (duplicates are recognised)")
        if item.error is not None:
            raise self._error(item.error)
        assert item.result is not None
        return item.result

    def store_batch(self, items: list[tuple[Mapping[str, str], bytes, int | None]]
                    ) -> list[deliveries.Stored | Exception]:
        """Store (headers, body, topic_id) deliveries with one commit, in the caller's
        thread; for each, its ``Stored`` or the error it alone failed with
        (``PayloadError`` for data the database refuses, ``StorageError`` otherwise).
        ``MAX_BATCH`` deliveries a commit at most."""
        batch = [_Pending(*item) for item in items]
        with self._committing:
            for first in range(0, len(batch), MAX_BATCH):   # SQLite's limit on variables
                self._write_safely(batch[first:first + MAX_BATCH])
        return [item.result if item.error is None else self._error(item.error)
                for item in batch]

    @staticmethod
    def _error(exc: Exception) -> Exception:
        if isinstance(exc, PayloadError):
            return exc
        error = unstorable(exc)
        error.__cause__ = exc
        return error

    def close(self) -> None:
        self._closed = True
        self._queue.put(None)
        self._thread.join(WAIT_SECONDS)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            self._holding = True     # request threads stop leading until this one is written
            with self._committing:
                self._holding = False
                self._write_safely(self._gather([first]))

    def _lead(self, item: _Pending) -> None:
        """The request thread writes the batch itself (``_committing`` is held): its own
        delivery and any queued meanwhile, one commit, the same rules as the thread."""
        try:
            self._write_safely(self._gather([item]))
        finally:
            self._committing.release()

    def _gather(self, batch: list[_Pending]) -> list[_Pending]:
        while len(batch) < MAX_BATCH:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self._queue.put(None)
                break
            batch.append(item)
        return batch

    def _write_safely(self, batch: list[_Pending]) -> None:
        try:
            self._write(batch)
        except BaseException as exc:  # never leave a request waiting, never die
            interrupted = (not isinstance(exc, Exception)   # KeyboardInterrupt, SystemExit
                           and threading.current_thread() is threading.main_thread())
            if not interrupted:
                log.exception("ingest_writer_step_failed", error=repr(exc))
            for item in batch:
                if not item.done.is_set():
                    item.result, item.error = None, StorageError(repr(exc))
                    item.done.set()
            if interrupted:
                # serve's SIGTERM handler, in the thread that runs the event loop (signals
                # reach no other): the batch is answered 503 (it may be stored all the
                # same; a redelivery is a duplicate) and the interrupt ends the loop.
                raise

    def _write(self, batch: list[_Pending]) -> None:
        """Commit the batch; if that fails, each delivery alone, so one bad delivery fails
        only itself. Results are published only after their commit."""
        try:
            results = self._commit(batch)
        except Exception as exc:
            if _database_fault(exc):     # not one delivery's data: each alone would fail too
                log.error("ingest_batch_failed", size=len(batch), error=str(exc))
                for item in batch:
                    item.result, item.error = None, exc
                    item.done.set()
                return
            if len(batch) == 1:
                self._fail(batch[0], exc)
                return
            log.warning("ingest_batch_retried_one_by_one", size=len(batch), error=repr(exc))
            for item in batch:
                try:
                    [result] = self._commit([item])
                except Exception as one:
                    self._fail(item, one)
                else:
                    self._publish(item, result)
            return
        for item, result in zip(batch, results, strict=True):
            self._publish(item, result)

    def _commit(self, batch: list[_Pending]) -> list[deliveries.Stored]:
        db = self.store.db()
        with write_gate(db):
            stored = deliveries.insert_rows(db.conn, [item.row for item in batch])
        _BATCH_SIZE(len(batch))
        return stored

    @staticmethod
    def _publish(item: _Pending, result: deliveries.Stored) -> None:
        item.result, item.error = result, None
        item.done.set()

    @staticmethod
    def _fail(item: _Pending, exc: Exception) -> None:
        """A database that cannot write fails with ``StorageError`` (retry later); anything
        else is this delivery's data (an integer SQLite cannot hold ...): ``PayloadError``."""
        if _database_fault(exc):
            log.error("ingest_batch_failed", size=1, error=str(exc))
            item.result, item.error = None, exc
        else:
            log.warning("delivery_refused_by_database", error=repr(exc))
            item.result, item.error = None, PayloadError(
                f"the delivery could not be stored ({type(exc).__name__}: {exc}); "
                "check the payload's fields")
        item.done.set()
