"""Group commit for the receiver: one writer thread stores deliveries in batches.

Request threads hand their delivery to the writer and wait until the batch holding it
is committed, so a 202 still means "durably stored". One writer means no two request
threads ever fight for SQLite's write lock (whose busy handler sleeps for milliseconds),
and one commit (one fsync with ``synchronous=full``) covers every delivery that arrived
while the previous batch was being written.
"""
from __future__ import annotations

import queue
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping

from syncd import logs
from syncd.store import deliveries
from syncd.errors import StorageError
from syncd.store.db import Store, transaction

log = logs.get("syncd.ingest")
MAX_BATCH = 256
WAIT_SECONDS = 10.0


@dataclass
class _Pending:
    headers: Mapping[str, str]
    body: bytes
    topic_id: int | None
    done: threading.Event = field(default_factory=threading.Event)
    result: deliveries.Stored | None = None
    error: Exception | None = None


class IngestPressure:
    """When the receiver last answered: the processor yields to a burst of deliveries.

    Storing is what Discourse waits for; processing can follow a moment later. While
    deliveries keep arriving the processor takes one at least every ``max_defer`` seconds
    and runs at full speed again once the receiver is quiet or the backlog is large.
    """

    def __init__(self, quiet: float = 0.003, max_defer: float = 0.25, max_backlog: int = 10000,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.quiet, self.max_defer, self.max_backlog = quiet, max_defer, max_backlog
        self.clock, self.sleep = clock, sleep
        self._last = -1e9

    def touch(self) -> None:
        self._last = self.clock()

    def wait_for_quiet(self, backlog: Callable[[], int]) -> None:
        deadline = self.clock() + self.max_defer
        if self.clock() - self._last > self.quiet or backlog() >= self.max_backlog:
            return
        while self.clock() - self._last <= self.quiet and self.clock() < deadline:
            self.sleep(self.quiet)


class IngestWriter:
    """Stores deliveries for many request threads through one connection."""

    def __init__(self, store: Store):
        self.store = store
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)
        self._thread.start()

    def store_delivery(self, headers: Mapping[str, str], body: bytes,
                       topic_id: int | None) -> deliveries.Stored:
        """Block until the delivery is committed (or raise ``StorageError``)."""
        item = _Pending(headers, body, topic_id)
        self._queue.put(item)
        if not item.done.wait(WAIT_SECONDS):
            raise StorageError(f"the database did not answer within {WAIT_SECONDS:.0f} s; the "
                               "delivery may be stored all the same, and a redelivery from "
                               "Discourse is safe (duplicates are recognised)")
        if item.error is not None:
            raise StorageError(f"could not store the delivery ({item.error}); Discourse can "
                               "redeliver it from Admin → API → Webhooks once the database "
                               "is writable") from item.error
        assert item.result is not None
        return item.result

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(WAIT_SECONDS)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                batch.append(item)
            self._write(batch)

    def _write(self, batch: list[_Pending]) -> None:
        try:
            with transaction(self.store.db()) as conn:
                for item in batch:
                    item.result = deliveries.store(conn, item.headers, item.body, item.topic_id)
        except sqlite3.Error as exc:
            log.error("ingest_batch_failed", size=len(batch), error=str(exc))
            for item in batch:
                item.result, item.error = None, exc
        finally:
            for item in batch:
                item.done.set()
