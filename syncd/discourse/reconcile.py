"""Reconcile: Discourse's API is the source of truth; what webhooks missed, syncd finds.

A walk pages through the topic lists of the ticket categories
(``/c/{slug}/{id}/l/latest.json``, newest activity first: never the bare
``/c/{slug}/{id}.json``, which serves the category's *default view*, by score for a "Top"
category), compares each topic with its ticket (``reconcile_diff.plan``) and feeds every
difference as a synthetic event (source ``reconcile``) through ``Processor.process_event``:
the same state machine, the same once-per-ticket rules. Incremental walks stop at the first
topic older than the cursor (the newest ``bumped_at`` of the last walk; a list that was
empty keeps a cursor too, so one empty ticket category does not make every walk a full one);
``full`` walks everything. Each page is committed with the walk's checkpoint in one
transaction, so an interrupted walk resumes where it stopped.

``Reconciler.step`` does one page, so ``serve``'s worker stays responsive; ``sync`` loops.
"""
from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Callable

from syncd import logs
from syncd.store import categories
from syncd.core import drift as diff
from syncd.store import tickets as ticketstore
from syncd.clock import iso, parse, utcnow
from syncd.errors import PermanentError, SyncdError, TransientError
from syncd.discourse import categorylist
from syncd.discourse.reader import ApiReader
from syncd.store.db import get_setting, put_setting, transaction
from syncd.core.tickets import Ticket

log = logs.get("syncd.reconcile")
CHECKPOINT = "reconcile.checkpoint"
LAST_FULL = "reconcile.last_full_at"
LEASE = "reconcile.lease"
LEASE_SECONDS = 600           # a page takes seconds; a holder silent this long is gone
HOLDER = f"{socket.gethostname()}:{os.getpid()}"
CURSOR = "reconcile.cursor.{}"
MAX_PAGES = 100_000        # bounds every walk: 3 million topics a list
EMPTY_CURSOR = "1970-01-01T00:00:00.000Z"   # the list had no topics: everything is newer
LIKERS_PAGE = 200          # PostActionUsersController's page size (its default limit)
MAX_LIKER_PAGES = 50


@dataclass
class Walk:
    """A walk in progress; saved as JSON in the ``settings`` table after every page."""

    mode: str                                   # full | incremental
    lists: list[dict[str, Any]]                 # {key, path, category_id}
    index: int = 0
    page: int = 0
    newest: dict[str, str] = field(default_factory=dict)
    started_at: str = ""
    pages: int = 0
    topics: int = 0
    created: int = 0
    corrected: int = 0
    total_pages: int | None = None
    resumed: bool = False

    @property
    def done(self) -> bool:
        return self.index >= len(self.lists)


class Reconciler:
    """Compares Discourse's topic lists with the tickets, one page a step."""

    def __init__(self, settings, store, processor, reader: ApiReader | None = None,
                 clock: Callable[[], datetime] = utcnow):
        self.settings, self.store, self.processor = settings, store, processor
        self.reader = reader or ApiReader.from_settings(settings)
        self.clock = clock

    # --- starting and finishing ----------------------------------------------------------
    def begin(self, full: bool = False, restart: bool = False) -> Walk:
        """Resume an interrupted walk (unless ``restart``), or start one."""
        db = self.store.db()
        self._take_lease()
        saved = get_setting(db, CHECKPOINT)
        if saved and not restart:
            walk = Walk(**json.loads(saved))
            if not (full and walk.mode != "full"):
                walk.resumed = True
                log.info("reconcile_resumed", mode=walk.mode, list=walk.index, page=walk.page)
                return walk
        lists, counts = self._lists(full)
        cursors = [get_setting(db, CURSOR.format(lst["key"])) for lst in lists]
        mode = "full" if full or not all(cursors) else "incremental"
        walk = Walk(mode, lists, started_at=iso(self.clock()))
        if mode == "full" and counts:
            size = self.settings.reconcile.page_size
            walk.total_pages = sum(max(1, -(-counts.get(lst["category_id"], 0) // size))
                                   for lst in lists)
        with transaction(db) as conn:
            put_setting(conn, CHECKPOINT, _dump(walk))
        return walk

    def _lists(self, full: bool) -> tuple[list[dict[str, Any]], dict[int, int]]:
        """The topic lists to walk, and topic counts (read from ``/categories.json`` on full
        walks, and when a configured slug is not known yet)."""
        wanted = list(self.settings.discourse.categories)
        if not wanted:
            return [{"key": "latest", "path": "/latest.json", "category_id": None}], {}
        conn = self.store.db().conn
        cmap = self.settings.discourse.category_map
        ids, missing = categories.load(conn, cmap).ticket_ids(wanted)
        counts: dict[int, int] = {}
        if full or missing:
            # every page of /categories.json: /site.json lists only the sidebar's categories
            # on lazy-loading sites, and one /categories.json call only the first 20
            found = categorylist.walk(self.reader.get)
            with transaction(self.store.db()) as wconn:
                categories.remember(wconn, {c["slug"]: c["id"] for c in found if c.get("slug")},
                                    "discourse")
            counts = {int(c["id"]): int(c.get("topic_count") or 0) for c in found}
            ids, missing = categories.load(conn, cmap).ticket_ids(wanted)
        if missing:
            log.warning("reconcile_unknown_categories", slugs=missing)
        by_id = categories.load(conn, cmap).by_id
        return [{"key": f"c{i}", "path": f"/c/{by_id.get(i, 'c')}/{i}/l/latest.json",
                 "category_id": i} for i in sorted(ids or ())], counts

    # --- one page ----------------------------------------------------------------------------
    def step(self, walk: Walk) -> bool:
        """Reconcile one page of the walk; False when the walk is complete."""
        if walk.done:
            return False
        lst = walk.lists[walk.index]
        params = {"page": walk.page} if walk.page else {}
        page = diff.read_page(self.reader.get(lst["path"], **params))
        cursor = get_setting(self.store.db(), CURSOR.format(lst["key"])) \
            if walk.mode == "incremental" else None
        items, older = _fresh(page.topics, cursor)
        _note_newest(walk, lst["key"], page.topics)
        items = [i for i in items if self._wanted(i, lst)]
        events, prints = self._compare(items)
        walk.pages, walk.topics = walk.pages + 1, walk.topics + len(items)
        if older or not page.more or walk.page + 1 >= MAX_PAGES:
            walk.index, walk.page = walk.index + 1, 0
        else:
            walk.page += 1
        self._commit(walk, events, prints)
        return not walk.done

    def _wanted(self, item: diff.Listed, lst: dict[str, Any]) -> bool:
        """Lists include subcategories' topics: only the ticket categories' count."""
        return lst["category_id"] is None or item.topic.category_id == lst["category_id"]

    def _compare(self, items: list[diff.Listed]) -> tuple[list, list]:
        """Synthetic events for what differs, and fingerprints that changed."""
        conn = self.store.db().conn
        ids = [i.topic.id for i in items]
        tickets, seen = ticketstore.load_many(conn, ids), _fingerprints(conn, ids)
        events, prints = [], []
        for item in items:
            tid = item.topic.id
            plan = diff.plan(item, tickets.get(tid), seen.get(tid))
            if not plan.quiet:
                ticket = tickets.get(tid)
                try:
                    events.append((plan, self._events(item, ticket, plan), tid,
                                   ticket.updated_at if ticket else None))
                except PermanentError as exc:  # e.g. deleted between the list and the fetch
                    log.warning("reconcile_topic_skipped", ticket=tid, error=str(exc))
                    continue
            if seen.get(tid) != item.fingerprint:
                prints.append((tid, *item.fingerprint))
        return events, prints

    def _events(self, item: diff.Listed, ticket: Ticket | None, plan: diff.Plan) -> list:
        """Fetch what the plan needs (paced) and build the events to feed."""
        tid = item.topic.id
        view = self.reader.get(f"/t/{tid}.json", include_raw=1) if (
            plan.need_view or plan.count_likes) else {}
        accepted = self._accepted_id(tid, view) if item.has_accepted_answer else None
        out = []
        if plan.snapshot or (accepted and (ticket is None or ticket.accepted_post_id is None)):
            out.append(diff.snapshot_event(item, ticket, accepted))
        if plan.new:
            first = diff.first_post_event(view)
            out += [first] if first is not None else []
        count, likers = plan.likes, None
        if plan.count_likes:
            post_id, count = diff.first_post_of(view)
            if post_id is not None and count:
                likers, count = self._likers(post_id)
            elif post_id is not None:
                likers = ()
        if count is not None and (ticket is None or count != ticket.likes):
            if count or ticket is not None:
                out.append(diff.likes_event(tid, item.topic.category_id, count, likers))
        if plan.new and self._historic(item):
            out = [replace(ev, extra={**ev.extra, "import": True}) for ev in out]
        return out

    def _likers(self, post_id: int) -> tuple[tuple[int, ...], int]:
        """Every liker of a post: ``/post_action_users.json`` pages 200 (0-based ``page``) and
        says ``total_rows_post_action_users`` only when there are more than a page."""
        ids: list[int] = []
        total = 0
        for page in range(MAX_LIKER_PAGES):
            found, total = diff.liker_ids(self.reader.get(
                "/post_action_users.json", id=post_id, post_action_type_id=2, page=page,
                limit=LIKERS_PAGE))
            ids += [i for i in found if i not in ids]
            if len(found) < LIKERS_PAGE or len(ids) >= total:
                break
        return tuple(ids), max(total, len(ids))

    def _historic(self, item: diff.Listed) -> bool:
        """A topic syncd never saw, created before ``processor.announce_within_hours``: it
        becomes a ticket without running rules (no pings or replies on old questions)."""
        created = item.topic.created_at
        window = timedelta(hours=self.settings.processor.announce_within_hours)
        return bool(created) and self.clock() - parse(created) > window

    def _accepted_id(self, tid: int, view: dict[str, Any]) -> int | None:
        post_id, number = diff.accepted_in_view(view)
        if post_id is None and number:
            post_id = self.reader.get(f"/posts/by_number/{tid}/{number}.json").get("id")
        return post_id

    def _commit(self, walk: Walk, events: list, prints: list) -> None:
        now = self.clock()
        skipped: set[int] = set()
        with transaction(self.store.db()) as conn:
            for plan, evs, tid, seen_version in events:
                if _changed_since(conn, tid, seen_version):
                    log.info("reconcile_topic_skipped", ticket=tid,
                             reason="a webhook changed the ticket after the list was read; "
                                    "the next walk compares again")
                    skipped.add(tid)
                    continue
                for ev in evs:
                    self.processor.process_event(conn, ev, None, now)
                walk.created += int(plan.new and bool(evs))
                walk.corrected += int(not plan.new and bool(evs))
            conn.executemany(
                "INSERT INTO reconcile_topics (topic_id, bumped_at, like_count, posts_count, "
                "seen_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(topic_id) DO UPDATE SET "
                "bumped_at = excluded.bumped_at, like_count = excluded.like_count, "
                "posts_count = excluded.posts_count, seen_at = excluded.seen_at",
                [(*p, iso(now)) for p in prints if p[0] not in skipped])
            if walk.done:
                for key, newest in walk.newest.items():
                    put_setting(conn, CURSOR.format(key), newest)
                for lst in walk.lists:   # an empty list keeps a cursor too
                    key = CURSOR.format(lst["key"])
                    if lst["key"] not in walk.newest and get_setting(self.store.db(), key) is None:
                        put_setting(conn, key, EMPTY_CURSOR)
                conn.execute("DELETE FROM settings WHERE key IN (?, ?)", (CHECKPOINT, LEASE))
            else:
                put_setting(conn, CHECKPOINT, _dump(walk))
                put_setting(conn, LEASE, self._lease_value(now))

    # --- one walk at a time --------------------------------------------------------------
    def _lease_value(self, now: datetime) -> str:
        return json.dumps({"holder": HOLDER, "until": iso(now + timedelta(seconds=LEASE_SECONDS))})

    def release(self) -> None:
        """Give the lease up if this process holds it (the checkpoint is kept)."""
        with transaction(self.store.db()) as conn:
            row = conn.execute("SELECT value FROM settings WHERE key = ?", (LEASE,)).fetchone()
            if row and json.loads(row[0])["holder"] == HOLDER:
                conn.execute("DELETE FROM settings WHERE key = ?", (LEASE,))

    def _take_lease(self) -> None:
        """``syncd sync`` and serve's reconcile share one checkpoint: one walk at a time.
        The lease is renewed with every page and lapses if its holder dies."""
        now = self.clock()
        with transaction(self.store.db()) as conn:
            row = conn.execute("SELECT value FROM settings WHERE key = ?", (LEASE,)).fetchone()
            held = json.loads(row[0]) if row else None
            if held and held["holder"] != HOLDER and parse(held["until"]) > now:
                raise SyncdError(f"another reconcile is walking the forum ({held['holder']}, "
                                 f"lease until {held['until']}): wait for it to finish, or "
                                 "stop the other syncd")
            put_setting(conn, LEASE, self._lease_value(now))

    # --- a whole walk --------------------------------------------------------------------
    def sync(self, full: bool = False, restart: bool = False,
             on_page: Callable[[Walk], None] | None = None) -> Walk:
        """Run a walk to its end (``TransientError`` leaves the checkpoint to resume from)."""
        walk = self.begin(full, restart)
        try:
            for _ in range(MAX_PAGES * max(1, len(walk.lists))):
                more = self.step(walk)
                if on_page is not None:
                    on_page(walk)
                if not more:
                    break
        finally:  # interrupted (Ctrl-C, an error): the checkpoint stays, the lease goes
            self.release()
        log.info("reconcile_done", mode=walk.mode, pages=walk.pages, topics=walk.topics,
                 created=walk.created, corrected=walk.corrected, calls=self.reader.calls,
                 rate_limited=self.reader.rate_limited)
        return walk


class ReconcileWorker:
    """``serve``'s periodic reconcile: due on start (``on_start``), then every interval."""

    name = "reconcile"

    def __init__(self, settings, store, processor, reader: ApiReader | None = None):
        self.settings, self.store, self.processor = settings, store, processor
        self._reader = reader
        self.reconciler: Reconciler | None = None
        self.walk: Walk | None = None
        self.next_at: datetime | None = None
        self._said_dry_run = False

    def run_once(self, now: datetime | None = None) -> bool:
        """One page of a due walk; False when idle (not due, or dry-run)."""
        if self.settings.discourse.dry_run:
            if not self._said_dry_run:
                log.info("reconcile_off", reason="dry-run: discourse.url is not set")
                self._said_dry_run = True
            return False
        now = now or utcnow()
        if self.walk is None:
            if not self._due(now):
                return False
            self.reconciler = self.reconciler or Reconciler(
                self.settings, self.store, self.processor, self._reader)
        try:
            if self.walk is None:
                self.walk = self.reconciler.begin(full=self._full_due(now))
            if self.reconciler.step(self.walk):
                return True
        except (TransientError, SyncdError) as exc:  # the checkpoint keeps the progress
            log.warning("reconcile_paused", error=str(exc), hint="tried again next interval")
            self.reconciler.release()
            self.walk = None
        self._schedule(now)
        return False

    def close(self) -> None:
        """serve is stopping: keep the checkpoint, give up the lease."""
        if self.reconciler is not None:
            self.reconciler.release()

    def _due(self, now: datetime) -> bool:
        if self.next_at is None:
            if self.settings.reconcile.on_start:
                return True
            self._schedule(now)
        return now >= self.next_at

    def _full_due(self, now: datetime) -> bool:
        """A full walk now and then: changes that do not bump a topic (a like, a close, an
        accepted answer, a move) are invisible to the incremental walk."""
        hours = self.settings.reconcile.full_every_hours
        if not hours:
            return False
        last = get_setting(self.store.db(), LAST_FULL)
        return last is None or now - parse(last) >= timedelta(hours=hours)

    def _schedule(self, now: datetime) -> None:
        if self.walk is not None and self.walk.done:
            log.info("reconcile_done", mode=self.walk.mode, pages=self.walk.pages,
                     created=self.walk.created, corrected=self.walk.corrected)
            if self.walk.mode == "full":
                with transaction(self.store.db()) as conn:
                    put_setting(conn, LAST_FULL, iso(now))
        self.walk = None
        self.next_at = now + timedelta(minutes=self.settings.reconcile.interval_minutes)


def make_worker(settings, store, processor) -> ReconcileWorker:
    """What ``serve`` runs: ``run_once(now=None) -> bool`` about once a second when idle."""
    return ReconcileWorker(settings, store, processor)


# --- helpers ---------------------------------------------------------------------------------

def _fresh(items: tuple[diff.Listed, ...], cursor: str | None) -> tuple[list, bool]:
    """Topics at or after the cursor, and whether an older one (end of the walk) was met."""
    if not cursor:
        return list(items), False
    limit = parse(cursor)
    fresh, older = [], False
    for item in items:
        if item.pinned or (item.bumped_at and parse(item.bumped_at) >= limit):
            fresh.append(item)
        else:
            older = True
    return fresh, older


def _note_newest(walk: Walk, key: str, items: tuple[diff.Listed, ...]) -> None:
    stamps = [i.bumped_at for i in items if i.bumped_at]
    if stamps:
        newest = max(stamps, key=parse)
        known = walk.newest.get(key)
        if known is None or parse(newest) > parse(known):
            walk.newest[key] = newest


def _changed_since(conn, ticket_id: int, version: str | None) -> bool:
    """The list and topics were read before this transaction: a webhook may have moved the
    ticket on meanwhile, and the older snapshot must not undo it."""
    row = conn.execute("SELECT updated_at FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
    return (row[0] if row else None) != version


def _fingerprints(conn, ids: list[int]) -> dict[int, tuple]:
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    return {r[0]: tuple(r[1:]) for r in conn.execute(
        f"SELECT topic_id, bumped_at, like_count, posts_count FROM reconcile_topics "
        f"WHERE topic_id IN ({marks})", ids)}


def _dump(walk: Walk) -> str:
    data = asdict(walk)
    data.pop("resumed")
    return json.dumps(data)
