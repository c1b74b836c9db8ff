"""The import, resumable: users, agents into the staff group, tickets with their notes, and
the closing of resolved and closed tickets at the end.

Never twice. Each user, topic and post has a row in ``import_map`` (``store/imports.py``):
``planned`` (its username and email chosen), ``pending`` (committed *before* the call:
in flight), ``done`` (the Discourse id, committed after it), ``failed`` or ``skipped``. A
rerun skips what is done without a call; an item found ``pending`` may have been created
just before the process died, so it is looked up first: a topic by
``/t/external_id/fd-<id>.json``, a note by its hidden marker among the topic's posts that
the map does not know, a user by email. A create that fails on the network is looked up
the same way before it is sent again. So Ctrl-C, SIGKILL or a lost network at any point,
then the same command, ends with each user, topic and post exactly once.

Paced: every call goes through one ``Pacer`` (client.py); a pool of worker threads keeps the
budget spent while calls are slow. Notes of one ticket are posted in order by one worker.
"""
from __future__ import annotations

import queue
import threading
import time
from typing import Any, Callable, Iterable

from syncd import logs
from syncd.core.tickets import Ticket
from syncd.errors import TransientError
from syncd.importers.freshdesk import mapping, plan as shared
from syncd.importers.freshdesk.client import Cancelled, ImportClient
from syncd.importers.freshdesk.plan import ImportAborted, Plan, Tally
from syncd.importers.freshdesk.reader import ExportReader, Ticket as FdTicket
from syncd.importers.freshdesk.topics import TicketSteps, save_ticket_quietly
from syncd.importers.freshdesk.users import UserSteps
from syncd.store import imports
from syncd.store.db import Store, transaction

log = logs.get("syncd.importers")
CLOSE_BATCH = 100


TicketSink = Callable[[Any, Ticket, FdTicket, "mapping.TopicCall"], None]


class FreshdeskImport(UserSteps, TicketSteps):
    """One import of one export folder into one forum."""

    def __init__(self, store: Store, client: ImportClient, reader: ExportReader, plan: Plan,
                 workers: int = 4, sink: TicketSink | None = None,
                 catch_up: Callable[[str | None], Iterable[FdTicket]] | None = None,
                 uploader: Any = None, fetch_user: Callable[[str], Any] | None = None):
        self.store, self.client, self.reader, self.plan = store, client, reader, plan
        self.workers = max(1, workers)
        self.sink = sink or save_ticket_quietly
        self.catch_up = catch_up       # the API catch-up, after the export: (newest) → tickets
        self.uploader = uploader       # attachments into the forum (None: named only)
        self.fetch_user = fetch_user   # a user the catch-up meets who was not in the export
        self.newest_updated: str | None = None
        self.tally = Tally()
        self.stop = threading.Event()
        self.fatal: BaseException | None = None
        self.phase = "start"

    # --- the phases ----------------------------------------------------------------------

    def run(self, on_tick: Callable[[], None] = lambda: None) -> Tally:
        self.phase = "users"
        self._pool(self._planned_users(), self.import_user, on_tick, key=lambda u: u.email or u.id)
        self.phase = "staff group"
        self.add_members()
        self.phase = "tickets"
        by_id = lambda t: t.id   # noqa: E731  (one ticket's notes: one worker, in order)
        self._pool(self._noting_newest(self.reader.tickets()), self.import_ticket, on_tick, by_id)
        if self.catch_up is not None and not self.stop.is_set():
            self.phase = "catch-up"
            tickets = self.catch_up(self.newest_updated)
            if self.fetch_user is not None:
                tickets = self.users_first(tickets, self.fetch_user)
            self._pool(tickets, self.import_ticket, on_tick, by_id)
            self.add_members()
        self.phase = "closing"
        self.close_resolved()
        self.phase = "done"
        return self.tally

    def _pool(self, items: Iterable, work: Callable, on_tick: Callable[[], None],
              key: Callable | None = None) -> None:
        """Feed ``items`` to the workers (a bounded queue: constant memory)."""
        queues = [queue.Queue(maxsize=4) for _ in range(self.workers)]
        threads = [threading.Thread(target=self._worker, args=(q, work), daemon=True,
                                    name=f"import-{i}") for i, q in enumerate(queues)]
        for t in threads:
            t.start()
        last = 0.0
        try:
            for n, item in enumerate(items):
                q = queues[(hash(key(item)) if key else n) % self.workers]
                while not self.stop.is_set():
                    try:
                        q.put(item, timeout=0.2)
                        break
                    except queue.Full:
                        pass
                    if time.monotonic() - last > 1.0:
                        on_tick()
                        last = time.monotonic()
                if self.stop.is_set():
                    break
                if time.monotonic() - last > 1.0:
                    on_tick()
                    last = time.monotonic()
        except BaseException:           # Ctrl-C: the workers finish the call in hand and stop
            self.cancel()
            raise
        finally:
            for q in queues:
                _put_forever(q, None, self.stop)
            for t in threads:
                while t.is_alive():
                    t.join(timeout=0.5)
                    on_tick()
        if self.fatal is not None:
            raise self.fatal

    def cancel(self) -> None:
        """Stop: no new item, no call still waiting for its slot (the call in flight ends)."""
        self.stop.set()
        self.client.pacer.cancel()

    def _noting_newest(self, tickets: Iterable[FdTicket]) -> Iterable[FdTicket]:
        for ticket in tickets:
            if ticket.updated_at and (self.newest_updated or "") < ticket.updated_at:
                self.newest_updated = ticket.updated_at
            yield ticket

    def _worker(self, q: queue.Queue, work: Callable) -> None:
        while True:
            item = q.get()
            if item is None or self.stop.is_set():
                return
            try:
                work(item)
            except Cancelled:
                return
            except BaseException as exc:   # one item's bug must not stop the others silently
                if isinstance(exc, (ImportAborted, TransientError)):
                    self.fatal = exc if isinstance(exc, ImportAborted) else ImportAborted(
                        f"{exc}. Progress is saved: run the same command again to resume.")
                    self.stop.set()
                    return
                log.exception("import_item_crashed", item=repr(item)[:200])
                self.fatal = exc
                self.stop.set()
                return

    def _conn(self):
        return self.store.db().conn

    def _problem(self, conn, file: str, record: str, message: str, severity: str = "warning") -> None:
        imports.add_problem(conn, file, record, message, severity)

    # --- the end -------------------------------------------------------------------------

    def close_resolved(self) -> None:
        """Close the topics of resolved and closed tickets, ``CLOSE_BATCH`` a call
        (``PUT /topics/bulk.json``: closing a closed topic again changes nothing)."""
        db = self.store.db()
        while not self.stop.is_set():
            batch = imports.pending(db.conn, "close", CLOSE_BATCH)
            if not batch:
                return
            ids = [int(r["discourse_id"]) for r in batch]
            self.client.call("PUT", "/topics/bulk.json",
                             json={"topic_ids": ids, "operation": {"type": "close"}})
            with transaction(db) as conn:
                for r in batch:
                    imports.done(conn, "close", r["source_id"], r["discourse_id"])
            with self.tally.lock:
                self.tally.created["close"] += len(batch)

    def _refused(self, kind: str, source_id: Any, file: str, record: str, exc: Exception,
                 ref: Any = None) -> None:
        """A create Discourse refused: the item failed with the reason, a problem, a tally."""
        with transaction(self.store.db()) as conn:
            imports.finish(conn, kind, source_id, "failed", str(exc), ref=ref)
            self._problem(conn, file, record, str(exc), "error")
        self.tally.add("failed", kind, str(exc))

    def _network_retry(self, tries: int, exc: Exception) -> int:
        """One more try after a network failure, with a backoff; past ``NETWORK_TRIES`` the
        failure is raised. Returns the new count of tries."""
        tries += 1
        if tries >= shared.NETWORK_TRIES:
            raise exc
        self._backoff(tries)
        return tries

    def _backoff(self, tries: int) -> None:
        wait = min(shared.BACKOFF_MAX, 2.0 ** tries)
        log.warning("import_network_retry", wait=wait, tries=tries)
        self.stop.wait(wait)
        if self.stop.is_set():
            raise Cancelled("the import is stopping")


def _now() -> str:
    from syncd.clock import iso
    return iso()


def _put_forever(q: queue.Queue, item: Any, stop: threading.Event) -> None:
    while True:
        try:
            q.put(item, timeout=0.2)
            return
        except queue.Full:
            if stop.is_set():
                try:
                    q.get_nowait()
                except queue.Empty:
                    pass


__all__ = ["FreshdeskImport", "ImportAborted", "Plan", "Tally", "save_ticket_quietly"]
