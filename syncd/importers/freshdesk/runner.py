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
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable

from syncd import logs
from syncd.core.tickets import Ticket
from syncd.errors import SyncdError, TransientError
from syncd.importers.freshdesk import mapping
from syncd.importers.freshdesk.client import ImportClient, Refused
from syncd.importers.freshdesk.reader import ExportReader, Problem, Ticket as FdTicket, User
from syncd.store import imports
from syncd.store import tickets as ticketstore
from syncd.store.db import Store, transaction

log = logs.get("syncd.importers")
MEMBER_BATCH = 50
CLOSE_BATCH = 100
NETWORK_TRIES = 8          # a create failing on the network: looked up and tried again
BACKOFF_MAX = 60.0


class ImportAborted(SyncdError):
    """The run cannot go on (Discourse unreachable for minutes, the key refused)."""


@dataclass
class Tally:
    """What a run did, by kind (``user``, ``topic``, ``post``, ``close``, ``member``)."""

    created: Counter = field(default_factory=Counter)
    found: Counter = field(default_factory=Counter)      # in flight before: looked up, existed
    skipped: Counter = field(default_factory=Counter)    # done before, or not importable
    failed: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, what: str, kind: str, reason: str | None = None) -> None:
        with self.lock:
            getattr(self, what)[kind] += 1
            if reason and what == "failed":
                self.reasons[f"{kind}: {reason[:160]}"] += 1

    @property
    def processed(self) -> int:
        return sum(self.created.values()) + sum(self.found.values()) + sum(
            self.skipped.values()) + sum(self.failed.values())


@dataclass
class Plan:
    """Where things go, read in preflight."""

    limits: mapping.SiteLimits = field(default_factory=mapping.SiteLimits)
    category_id: int | None = None
    group_categories: dict[str, int] = field(default_factory=dict)   # Freshdesk group id → category
    staff_group_id: int | None = None
    staff_group: str | None = None
    base_url: str = ""
    agents_whisper: bool = True     # the staff group is in whispers_allowed_groups


TicketSink = Callable[[Any, Ticket, FdTicket, "mapping.TopicCall"], None]


class FreshdeskImport:
    """One import of one export folder into one forum."""

    def __init__(self, store: Store, client: ImportClient, reader: ExportReader, plan: Plan,
                 workers: int = 4, sink: TicketSink | None = None,
                 catch_up: Callable[[str | None], Iterable[FdTicket]] | None = None,
                 uploader: Any = None):
        self.store, self.client, self.reader, self.plan = store, client, reader, plan
        self.workers = max(1, workers)
        self.sink = sink or save_ticket_quietly
        self.catch_up = catch_up       # the API catch-up, after the export: (newest) → tickets
        self.uploader = uploader       # attachments into the forum (None: named only)
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
        self._pool(self._noting_newest(self.reader.tickets()), self.import_ticket, on_tick)
        if self.catch_up is not None and not self.stop.is_set():
            self.phase = "catch-up"
            self._pool(self.catch_up(self.newest_updated), self.import_ticket, on_tick)
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
        finally:
            for q in queues:
                _put_forever(q, None, self.stop)
            for t in threads:
                while t.is_alive():
                    t.join(timeout=0.5)
                    on_tick()
        if self.fatal is not None:
            raise self.fatal

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

    # --- users ---------------------------------------------------------------------------

    def _planned_users(self) -> Iterable[User]:
        """Choose each user's username and email here, in one thread, so that duplicates
        are seen; the workers only send."""
        for user in self.reader.users():
            if self.stop.is_set():
                return
            db = self.store.db()
            row = imports.get(db.conn, "user", user.id)
            if row and row["state"] in ("done", "skipped", "alias"):
                self.tally.add("skipped", "user")
                continue
            if row is None:
                if self._merge_duplicate(db, user):
                    continue
                call = mapping.map_user(user, lambda name: imports.username_taken(db.conn, name),
                                        self.plan.limits)
                with transaction(db) as conn:
                    conn.execute(
                        "INSERT INTO import_map (source, kind, source_id, state, ref, email, agent,"
                        " updated_at) VALUES ('freshdesk', 'user', ?, 'planned', ?, ?, ?, ?)",
                        (user.id, call.username, call.email, int(user.agent), _now()))
                    for text in call.problems:
                        self._problem(conn, user.file, f"user {user.id}", text, "warning")
            yield user

    def _merge_duplicate(self, db, user: User) -> bool:
        """A second Freshdesk user with an email already seen: an alias of the first (one
        forum account; Discourse refuses a second account with the same email)."""
        email = (user.email or "").strip().lower()
        other = imports.user_by_email(db.conn, email) if email else None
        if other is None or other["source_id"] == user.id:
            return False
        target = other["ref"] if other["state"] == "alias" else other["source_id"]
        with transaction(db) as conn:
            conn.execute(
                "INSERT INTO import_map (source, kind, source_id, state, ref, agent, reason, "
                "updated_at) VALUES ('freshdesk', 'user', ?, 'alias', ?, ?, ?, ?)",
                (user.id, target, int(user.agent),
                 f"duplicate email: the forum account of Freshdesk user {target}", _now()))
            self._problem(conn, user.file, f"user {user.id}",
                          f"duplicate email {email}: merged into Freshdesk user {target} "
                          "(one forum account)", "warning")
        self.tally.add("skipped", "user")
        return True

    def import_user(self, user: User) -> None:
        db = self.store.db()
        row = imports.get(db.conn, "user", user.id)
        if row is None or row["state"] in ("done", "skipped", "alias"):
            return
        with transaction(db) as conn:
            before = imports.begin(conn, "user", user.id, agent=user.agent)
        username, email = row["ref"], row["email"]
        found = self._find_user(email) if before in ("pending",) else None
        how = "found"
        tries = 0
        while found is None:
            try:
                found = self._create_user(user, username, email)
                how = "created"
            except Refused as exc:
                with transaction(db) as conn:
                    imports.finish(conn, "user", user.id, "failed", str(exc))
                    self._problem(conn, user.file, f"user {user.id}", str(exc), "error")
                self.tally.add("failed", "user", str(exc))
                return
            except TransientError:
                tries += 1
                if tries >= NETWORK_TRIES:
                    raise
                self._backoff(tries)
                found = self._find_user(email)
        user_id, final_name = found
        with transaction(db) as conn:
            imports.done(conn, "user", user.id, user_id, final_name)
            if user.agent or row["agent"]:
                conn.execute("INSERT OR IGNORE INTO import_map (source, kind, source_id, state, "
                             "ref, updated_at) VALUES ('freshdesk', 'member', ?, 'pending', ?, ?)",
                             (user.id, final_name, _now()))
        self.tally.add(how, "user")

    def _create_user(self, user: User, username: str, email: str) -> tuple[int, str]:
        for attempt in range(2):
            data = self.client.call("POST", "/users.json", json=mapping.UserCall(
                user.id, username, email, user.name, user.agent).params(secrets.token_urlsafe(18)))
            if data.get("success") and data.get("user_id"):
                return int(data["user_id"]), username
            if data.get("success"):     # hide_email_address_taken: no id in the answer
                found = self._find_user(email)
                if found:
                    return found
            errors = data.get("errors") or {}
            text = mapping_error(data)
            if "email" in errors or "primary_email" in errors:
                found = self._find_user(email)
                if found:
                    return found
            if "username" in errors and attempt == 0:
                username = mapping.with_suffix(username.rsplit("_" + user.id, 1)[0], user.id,
                                               self.plan.limits)
                with transaction(self.store.db()) as conn:
                    conn.execute("UPDATE import_map SET ref = ? WHERE source = 'freshdesk' AND "
                                 "kind = 'user' AND source_id = ?", (username, user.id))
                continue
            raise Refused(f"Discourse did not create the user: {text}", 422)
        raise Refused("Discourse did not create the user (username refused twice)", 422)

    def _find_user(self, email: str) -> tuple[int, str] | None:
        data = self.client.call("GET", "/admin/users/list/all.json", params={"email": email})
        for entry in data if isinstance(data, list) else []:
            if entry.get("id") and entry.get("username"):
                return int(entry["id"]), entry["username"]
        return None

    def add_members(self) -> None:
        """Agents into the staff group, up to ``MEMBER_BATCH`` a call (idempotent)."""
        if self.plan.staff_group_id is None:
            return
        db = self.store.db()
        while not self.stop.is_set():
            batch = imports.pending(db.conn, "member", MEMBER_BATCH)
            if not batch:
                return
            names = ",".join(r["ref"] for r in batch)
            try:
                self.client.call("PUT", f"/groups/{self.plan.staff_group_id}/members.json",
                                 json={"usernames": names})
            except Refused as exc:
                if "already" not in str(exc).lower():
                    with transaction(db) as conn:
                        for r in batch:
                            imports.finish(conn, "member", r["source_id"], "failed", str(exc))
                    self.tally.add("failed", "member", str(exc))
                    continue
            with transaction(db) as conn:
                for r in batch:
                    imports.done(conn, "member", r["source_id"], self.plan.staff_group_id)
            with self.tally.lock:
                self.tally.created["member"] += len(batch)

    # --- tickets -------------------------------------------------------------------------

    def category_for(self, ticket: FdTicket) -> int | None:
        return self.plan.group_categories.get(ticket.group_id or "", self.plan.category_id)

    def import_ticket(self, ticket: FdTicket) -> None:
        db = self.store.db()
        record = f"ticket {ticket.id}"
        uploaded = self._uploads(ticket, record) if self.uploader is not None else {}
        mapped = mapping.map_ticket(ticket, lambda uid: imports.author(db.conn, uid) if uid else None,
                                    self.plan.limits, self.plan.agents_whisper, uploaded)
        if mapped.problems:
            with transaction(db) as conn:
                for text in mapped.problems:
                    self._problem(conn, ticket.file, record, text, "warning")
        if mapped.topic is None:
            row = imports.get(db.conn, "topic", ticket.id)
            if row is None or row["state"] != "done":
                with transaction(db) as conn:
                    imports.finish(conn, "topic", ticket.id, "skipped", mapped.skip_reason)
            self.tally.add("skipped", "topic")
            return
        topic_id = self._topic(ticket, mapped)
        if topic_id is None:
            for post in mapped.posts:
                self.tally.add("skipped", "post")
            return
        known: set[int] | None = None
        for post in mapped.posts:
            if self.stop.is_set():
                return
            known = self._post(ticket, topic_id, post, known)
        if mapped.topic.close:
            with transaction(db) as conn:
                conn.execute("INSERT OR IGNORE INTO import_map (source, kind, source_id, state, "
                             "discourse_id, updated_at) VALUES ('freshdesk', 'close', ?, 'pending', "
                             "?, ?)", (ticket.id, topic_id, _now()))

    def _uploads(self, ticket: FdTicket, record: str) -> dict[str, str]:
        conn = self._conn()

        def pending(kind: str, source_id: str) -> bool:
            row = imports.get(conn, kind, source_id)
            return row is None or row["state"] != "done"

        def problem(text: str) -> None:
            with transaction(self.store.db()) as c:
                self._problem(c, ticket.file, record, text, "warning")
        return self.uploader.uploaded_for(ticket, pending, problem,
                                          lambda: self.tally.add("created", "upload"))

    def _topic(self, ticket: FdTicket, mapped: mapping.MappedTicket) -> int | None:
        db = self.store.db()
        call = mapped.topic
        row = imports.get(db.conn, "topic", ticket.id)
        if row and row["state"] == "done":
            self.tally.add("skipped", "topic")
            return int(row["discourse_id"])
        with transaction(db) as conn:
            before = imports.begin(conn, "topic", ticket.id)
        found = self._find_topic(call.external_id) if before == "pending" else None
        how, first_post = "found", None
        tries = 0
        while found is None:
            try:
                found, first_post = self._create_topic(ticket, call)
                how = "created"
            except Refused as exc:
                if "external" in str(exc).lower():
                    found = self._find_topic(call.external_id)
                    if found:
                        break
                with transaction(db) as conn:
                    imports.finish(conn, "topic", ticket.id, "failed", str(exc))
                    self._problem(conn, ticket.file, f"ticket {ticket.id}", str(exc), "error")
                self.tally.add("failed", "topic", str(exc))
                return None
            except TransientError:
                tries += 1
                if tries >= NETWORK_TRIES:
                    raise
                self._backoff(tries)
                found = self._find_topic(call.external_id)
        with transaction(db) as conn:
            imports.done(conn, "topic", ticket.id, found)
            imports.save_ticket(conn, found, ticket.id, ticket.display_id, call.fields)
            self.sink(conn, self._syncd_ticket(found, call, mapped), ticket, call)
        self.tally.add(how, "topic")
        return found

    def _create_topic(self, ticket: FdTicket, call: mapping.TopicCall) -> tuple[int, int | None]:
        params = mapping.topic_params(call, self.category_for(ticket))
        try:
            data = self.client.call("POST", "/posts.json", json=params, as_user=call.author_id)
        except Refused as exc:
            if exc.status == 422 and "title" in str(exc).lower() and "already" in str(exc).lower():
                params["title"] = f"{call.title} (Freshdesk #{ticket.display_id or ticket.id})"
                with transaction(self.store.db()) as conn:
                    self._problem(conn, ticket.file, f"ticket {ticket.id}",
                                  "title already used in the forum (allow_duplicate_topic_titles "
                                  "is off): the display ID is appended", "warning")
                data = self.client.call("POST", "/posts.json", json=params, as_user=call.author_id)
            else:
                raise
        return int(data["topic_id"]), data.get("id")

    def _find_topic(self, external_id: str) -> int | None:
        data = self.client.call("GET", f"/t/external_id/{external_id}.json", missing_ok=True)
        return int(data["id"]) if isinstance(data, dict) and data.get("id") else None

    def _post(self, ticket: FdTicket, topic_id: int, post: mapping.PostCall,
              known: set[int] | None) -> set[int] | None:
        db = self.store.db()
        row = imports.get(db.conn, "post", post.source_id)
        if row and row["state"] == "done":
            self.tally.add("skipped", "post")
            return known
        with transaction(db) as conn:
            before = imports.begin(conn, "post", post.source_id, ref=ticket.id)
        found = self._find_post(ticket.id, topic_id, post.source_id) if before == "pending" else None
        how, tries = "found", 0
        while found is None:
            try:
                data = self.client.call("POST", "/posts.json", json=mapping.post_params(post, topic_id),
                                        as_user=post.author_id)
                found, how = int(data["id"]), "created"
            except Refused as exc:
                with transaction(db) as conn:
                    imports.finish(conn, "post", post.source_id, "failed", str(exc), ref=ticket.id)
                    self._problem(conn, ticket.file, f"ticket {ticket.id} note {post.source_id}",
                                  str(exc), "error")
                self.tally.add("failed", "post", str(exc))
                return known
            except TransientError:
                tries += 1
                if tries >= NETWORK_TRIES:
                    raise
                self._backoff(tries)
                found = self._find_post(ticket.id, topic_id, post.source_id)
        with transaction(db) as conn:
            imports.done(conn, "post", post.source_id, found, ref=ticket.id)
        self.tally.add(how, "post")
        return known

    def _find_post(self, ticket_id: str, topic_id: int, note_id: str) -> int | None:
        """The note's marker among the topic's posts that the map does not know."""
        marker = mapping.note_marker(note_id)
        conn = self._conn()
        known = {r[0] for r in conn.execute(
            "SELECT discourse_id FROM import_map WHERE source = 'freshdesk' AND kind = 'post' "
            "AND ref = ? AND state = 'done'", (ticket_id,))}
        view = self.client.call("GET", f"/t/{topic_id}.json", params={"include_raw": 1},
                                missing_ok=True) or {}
        stream = view.get("post_stream") or {}
        ids = list(stream.get("stream") or [])
        posts = {p.get("id"): p for p in stream.get("posts") or []}
        unknown = [pid for pid in ids[1:] if pid not in known]   # ids[0]: the description
        missing = [pid for pid in unknown if pid not in posts]
        for start in range(0, len(missing), 20):
            more = self.client.call("GET", f"/t/{topic_id}/posts.json",
                                    params={"post_ids[]": missing[start:start + 20],
                                            "include_raw": "true"}) or {}
            posts.update({p.get("id"): p for p in (more.get("post_stream") or {}).get("posts") or []})
        for pid in reversed(unknown):
            if marker in ((posts.get(pid) or {}).get("raw") or ""):
                return int(pid)
        return None

    def _syncd_ticket(self, topic_id: int, call: mapping.TopicCall,
                      mapped: mapping.MappedTicket) -> Ticket:
        resolved = call.stage == "resolved"
        return Ticket(
            id=topic_id, title=call.title, url=f"{self.plan.base_url}/t/{topic_id}",
            category_id=self.category_for_id(call), tags=call.tags, stage=call.stage,
            closed=call.close, priority=call.priority, author=call.author_id,
            body=_text(call.raw)[:20000], created_at=call.created_at,
            updated_at=call.fields.get("updated_at"),
            first_response_at=mapped_first_response(mapped),
            resolved_at=call.fields.get("updated_at") if resolved else None,
            has_topic=True, has_first_post=True, announced=True)

    def category_for_id(self, call: mapping.TopicCall) -> int | None:
        return self.plan.group_categories.get(str(call.fields.get("group_id") or ""),
                                              self.plan.category_id)

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

    def _backoff(self, tries: int) -> None:
        wait = min(BACKOFF_MAX, 2.0 ** tries)
        log.warning("import_network_retry", wait=wait, tries=tries)
        self.stop.wait(wait)
        if self.stop.is_set():
            raise ImportAborted("interrupted")


def mapped_first_response(mapped: mapping.MappedTicket) -> str | None:
    return mapped.topic.first_response_at if mapped.topic else None


def mapping_error(data: dict) -> str:
    errors = data.get("errors")
    if isinstance(errors, dict) and errors:
        return "; ".join(f"{k}: {', '.join(map(str, v))}" for k, v in errors.items())[:300]
    return str(data.get("message") or "no reason given")[:300]


def save_ticket_quietly(conn, ticket: Ticket, fd: FdTicket, call: mapping.TopicCall) -> None:
    """The default: a syncd ticket written as is, no rules run (nobody is pinged)."""
    ticketstore.save(conn, ticket)
    ticketstore.add_history(conn, ticket.id, "event", "imported",
                            {"from": "freshdesk", "freshdesk_id": fd.id,
                             "display_id": fd.display_id, "note": "imported: no rules ran"},
                            source="import")


def _text(raw: str) -> str:
    import re
    return re.sub(r"<[^>]+>", " ", raw)


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


__all__ = ["FreshdeskImport", "Plan", "Tally", "ImportAborted", "Problem", "replace"]
