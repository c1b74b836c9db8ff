"""The processor: applies stored deliveries to tickets, one transaction each.

``run_once(now=None) -> bool`` takes the oldest pending delivery (arrival order, so per
ticket too), parses it, applies it to the ticket, marks the changes syncd caused itself,
runs the rules, and writes the ticket, its history, the rule firings, the outbox actions
and the delivery's "processed" mark in one ``BEGIN IMMEDIATE`` transaction. A crash re-runs
at most the uncommitted step. ``process_event`` is the same path for synthetic events
(reconcile, the first-post timer).
"""
from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Callable

import structlog

from syncd import logs, metrics
from syncd.store import categories
from syncd.store import deliveries
from syncd.store import echoes
from syncd.store import intakes
from syncd.store import site
from syncd.store import tickets as ticketstore
from syncd.clock import iso, parse, utcnow
from syncd.config import Settings
from syncd.errors import PayloadError
from syncd.core.events import Event
from syncd.store.db import Store, transaction
from syncd.core.tickets import StaffPolicy, Ticket, apply
from syncd.timers.keeper import TimeKeeper

log = logs.get("syncd.processor")
STAFF_REFRESH_SECONDS = 60.0
IMPORT_NOTE = ("imported quietly: the topic is older than processor.announce_within_hours "
               "(or its age is unknown), so no rules ran for it")


@dataclass
class Outcome:
    """What processing one event did, for the log line and the tests."""

    ticket_id: int | None = None
    created: bool = False
    changes: list[str] = field(default_factory=list)
    firings: list[str] = field(default_factory=list)
    actions: list[int] = field(default_factory=list)
    note: str = ""


class Processor:
    """Turns stored deliveries into ticket state and outbox actions."""

    def __init__(self, settings: Settings, store: Store, rules: Any = None,
                 similar: Any = None, pressure: Any = None):
        self.settings, self.store = settings, store
        self.pressure = pressure      # an IngestPressure: yield to a burst of deliveries
        self.outbox_wake: Any = None  # a threading.Event the delivery workers wait on
        self.rules = rules            # a RulesHolder (``.current``) or None
        self.similar = similar        # the ``syncd.store.similar`` module or None
        # enrich(conn, event) -> event, called before the write transaction (reads only:
        # e.g. ``discourse.editor.EditorLookup`` asks Discourse who edited a topic)
        self.enrich: Callable[[Any, Event], Event] | None = None
        self._version_seen: dict[str, str] = {}
        self.name = "processor"
        self._staff: StaffPolicy | None = None
        self._staff_read = 0.0
        self.time = TimeKeeper(settings, lambda: self.rules.current if self.rules else None)

    # --- the loop step -----------------------------------------------------------------
    def run_once(self, now: datetime | None = None) -> bool:
        """Process one pending delivery, or announce one overdue ticket. False: idle."""
        db = self.store.db()
        if self.pressure is not None:
            self.pressure.wait_for_quiet(lambda: deliveries.pending_count(db.conn))
        now = now or utcnow()
        row = deliveries.next_pending(db.conn)
        if row is None:
            return self.announce_overdue(now)
        started = time.perf_counter()
        structlog.contextvars.bind_contextvars(delivery_id=row["id"],
                                               discourse_event=row["event_name"])
        try:
            return self._process_delivery(row, now)
        except sqlite3.OperationalError as exc:  # locked, disk full: not the delivery's fault
            log.warning("delivery_deferred", error=str(exc),
                        hint="the delivery stays pending and is tried again")
            return False
        finally:
            took = time.perf_counter() - started
            metrics.PROCESS_SECONDS.observe(took)
            if self.pressure is not None:
                self.pressure.step_took(took)
            structlog.contextvars.unbind_contextvars("delivery_id", "discourse_event", "ticket")

    def _process_delivery(self, row: dict[str, Any], now: datetime) -> bool:
        db = self.store.db()
        headers = json.loads(row["headers"])
        try:
            event = Event.from_delivery(headers, row["body"], source=row["source"])
        except PayloadError as exc:
            with transaction(db) as conn:
                deliveries.finish(conn, row["id"], "failed", _storable(str(exc)), iso(now))
            metrics.PROCESSED.labels("failed").inc()
            log.warning("delivery_unreadable", error=str(exc))
            return True
        if self.enrich is not None:   # network reads happen here, never inside the transaction
            event = self.enrich(db.conn, event)
        try:
            with transaction(db) as conn:
                if conn.execute("SELECT status FROM deliveries WHERE id = ?",
                                (row["id"],)).fetchone()[0] != "pending":
                    return True
                if row["source"] == "webhook":   # what Discourse itself sent
                    site.note_user_agent(conn, headers, self._version_seen)
                outcome = self.process_event(conn, event, row["id"], now)
                deliveries.finish(conn, row["id"], "processed", None, iso(now))
        except sqlite3.OperationalError:
            raise
        except Exception as exc:  # a bug or a broken rule must not block the queue
            log.exception("delivery_failed", error=str(exc))
            with transaction(db) as conn:
                deliveries.finish(conn, row["id"], "failed",
                                  _storable(f"{type(exc).__name__}: {exc}"), iso(now))
            metrics.PROCESSED.labels("failed").inc()
            return True
        metrics.PROCESSED.labels("processed").inc()
        self._wake_delivery(outcome)
        log.info("delivery_processed", ticket=outcome.ticket_id, created=outcome.created,
                 changes=outcome.changes, rules=outcome.firings, actions=outcome.actions,
                 note=outcome.note or None)
        return True

    def announce_overdue(self, now: datetime) -> bool:
        """Announce a ticket whose first post did not arrive within the grace period.

        Each ticket alone: one that cannot be announced (a bad creation time, an id no
        topic has) is marked with the reason (``tickets.announce_error``) and skipped, so
        it never blocks the others nor comes back every second."""
        grace = timedelta(seconds=self.settings.processor.first_post_grace_seconds)
        db = self.store.db()
        row = db.conn.execute("SELECT id FROM tickets WHERE announced = 0 AND deleted = 0 "
                              "AND announce_error IS NULL AND first_seen_at <= ? "
                              "ORDER BY first_seen_at LIMIT 1", (iso(now - grace),)).fetchone()
        if row is None:
            return False
        try:
            outcome = self._announce(row[0], now)
        except sqlite3.OperationalError:
            raise                    # locked, disk full: not the ticket's fault, try again
        except Exception as exc:
            self._announce_failed(row[0], f"{type(exc).__name__}: {exc}", now)
            return True
        self._wake_delivery(outcome)
        log.info("ticket_announced_without_first_post", ticket=row[0], rules=outcome.firings)
        return True

    def _announce(self, ticket_id: int, now: datetime) -> "Outcome":
        db = self.store.db()
        ticket = ticketstore.load(db.conn, ticket_id)
        event = Event(name="announce_due", kind="timer", topic_id=ticket_id, category_id=None,
                      occurred_at=None, source="timer",
                      extra={"import": True} if self.historic(ticket, now) else {})
        with transaction(db) as conn:
            outcome = self.process_event(conn, event, None, now)
            done = conn.execute("SELECT announced FROM tickets WHERE id = ?",
                                (ticket_id,)).fetchone()
            if not done or not done[0]:
                raise ValueError(outcome.note or "the timer did not announce it")
        return outcome

    def _announce_failed(self, ticket_id: int, reason: str, now: datetime) -> None:
        reason = _storable(reason)
        with transaction(self.store.db()) as conn:
            conn.execute("UPDATE tickets SET announce_error = ? WHERE id = ?", (reason, ticket_id))
            ticketstore.add_history(conn, ticket_id, "note", "announce_failed",
                                    {"note": reason}, "timer", None, iso(now))
        metrics.PROCESSED.labels("announce_failed").inc()
        log.warning("ticket_announce_failed", ticket=ticket_id, error=reason,
                    hint="the ticket is skipped; 'syncd ticket ID' shows it")

    def _wake_delivery(self, outcome: "Outcome") -> None:
        """Committed actions are waiting: wake the delivery workers now, not at their poll."""
        if outcome.actions and self.outbox_wake is not None:
            self.outbox_wake.set()

    # --- one event, inside the caller's transaction -----------------------------------------
    def process_event(self, conn, event: Event, delivery_id: int | None,
                      now: datetime | None = None) -> Outcome:
        now = now or utcnow()
        at = iso(now)
        before = ticketstore.load(conn, event.topic_id) if event.topic_id else None
        self.learn_category(conn, event)
        cats = categories.load(conn, self.settings.discourse.category_map)  # once an event
        if before is None and not self.is_ticket_category(event, cats):
            return Outcome(note=f"category {event.category_id} is not a ticket category")
        staff = self.staff_policy(conn)
        transition = apply(before, event, at, staff)
        ticket = transition.ticket
        if ticket is None:
            return Outcome(note=transition.note)
        structlog.contextvars.bind_contextvars(ticket=ticket.id)
        ticket = replace(ticket, url=self.url_of(ticket, event))
        ticket = intakes.adopt(conn, before, ticket, event.topic.external_id if event.topic else None, at)
        changes = echoes.mark(conn, ticket.id, _with_staff(transition.changes, staff),
                              self.settings.discourse.api_username, at)
        slug, fresh = cats.by_id.get(ticket.category_id), not event.extra.get("import")
        ticket = self.time.annotate(conn, before, ticket, changes, now, slug, fresh)
        if event.extra.get("import"):
            decision = NoRules(ticket, changes, notes=(IMPORT_NOTE,))
        else:
            decision = self.decide(conn, ticket, changes, now, cats)
        ticketstore.save(conn, decision.ticket, at)
        if self.similar is not None:
            self.similar.index(conn, decision.ticket)
        out = Outcome(ticket.id, before is None, [c.name for c in decision.changes],
                      note=transition.note)
        self._record(conn, event, decision, delivery_id, at, out)
        self.time.after(conn, before, decision.ticket, decision.changes, out.actions, now, slug,
                        fresh)
        return out

    def _record(self, conn, event: Event, decision, delivery_id: int | None, at: str,
                out: Outcome) -> None:
        tid = decision.ticket.id
        actor = event.actor.username if event.actor else None
        ticketstore.add_history(conn, tid, "event", event.name,
                                {"actor": actor, "event_id": event.event_id, "note": out.note},
                                event.source, delivery_id, at)
        for change in decision.changes:
            ticketstore.add_history(conn, tid, "change", change.name, _change_detail(change),
                                    change.source, delivery_id, at)
        for firing in decision.firings:
            ticketstore.add_firing(conn, tid, firing.rule_name, firing.event_name, delivery_id, at)
            ticketstore.add_history(conn, tid, "rule", firing.rule_name,
                                    {"event": firing.event_name}, event.source, delivery_id, at)
            metrics.RULE_FIRINGS.labels(firing.rule_name).inc()
            out.firings.append(firing.rule_name)
        for action in decision.actions:
            action_id = ticketstore.enqueue(conn, tid, action.kind, action.params, action.rule,
                                            delivery_id, at)
            if getattr(action, "failed", None):   # a template over its limits: dead at once
                conn.execute("UPDATE outbox SET status = 'dead', last_error = ? WHERE id = ?",
                             (_storable(action.failed), action_id))
            ticketstore.add_history(conn, tid, "action", action.kind,
                                    {"action_id": action_id, "rule": action.rule},
                                    event.source, delivery_id, at)
            out.actions.append(action_id)
        for note in decision.notes:
            ticketstore.add_history(conn, tid, "note", "rules", {"note": note}, event.source,
                                    delivery_id, at)
            if note is not IMPORT_NOTE:
                log.warning("rules_note", note=note)

    # --- collaborators ---------------------------------------------------------------------
    def decide(self, conn, ticket: Ticket, changes, now: datetime,
               cats: categories.CategoryMap):
        ruleset = self.rules.current if self.rules is not None else None
        if ruleset is None:
            return NoRules(ticket, tuple(changes))
        from syncd.rules import DecideContext, decide
        since = iso(now - timedelta(hours=1))
        used = ticketstore.actions_since(conn, ticket.id, since)
        similar: Callable = (lambda t, limit: self.similar.find(conn, t, limit)) \
            if self.similar is not None else (lambda t, limit: [])
        ctx = DecideContext(
            tz=self.settings.tz, categories=cats.by_id, category_ids=dict(cats.by_slug),
            similar=similar,
            budget_left=max(0, self.settings.processor.actions_per_ticket_per_hour - used),
            staff_groups=self.settings.discourse.staff_groups)
        return decide(ruleset, ticket, tuple(changes), now, ctx)

    def is_ticket_category(self, event: Event, cats: categories.CategoryMap) -> bool:
        if event.topic is not None and event.topic.is_private_message:
            return False
        ids, missing = cats.ticket_ids(self.settings.discourse.categories)
        if ids is None:
            return True
        if event.category_id is None:
            return event.name in ("announce_due",)
        return event.category_id in ids or (bool(missing) and event.post is not None
                                             and _post_slug(event) in missing)

    def historic(self, ticket: Ticket | None, now: datetime) -> bool:
        """Created before the announce window, or of unknown age (only replies or likes of
        it were seen): announcing it as new would ping staff about an old question."""
        created = ticket.created_at if ticket is not None else None
        if not created:
            return True
        window = timedelta(hours=self.settings.processor.announce_within_hours)
        return now - parse(created) > window

    def learn_category(self, conn, event: Event) -> None:
        """Post payloads name their category's slug: remember it for offline use."""
        post = event.post
        if post is None or not post.category_slug or post.category_id is None:
            return
        row = conn.execute("SELECT id FROM categories WHERE slug = ?",
                           (post.category_slug,)).fetchone()
        if row is None or row[0] != post.category_id:
            categories.remember(conn, {post.category_slug: post.category_id}, "webhook")

    def staff_policy(self, conn) -> StaffPolicy:
        if self._staff is None or time.monotonic() - self._staff_read > STAFF_REFRESH_SECONDS:
            names = frozenset(r[0] for r in conn.execute("SELECT username FROM staff_members"))
            self._staff = StaffPolicy(frozenset(self.settings.discourse.staff_groups), names,
                                      self.settings.discourse.api_username or None)
            self._staff_read = time.monotonic()
        return self._staff

    def url_of(self, ticket: Ticket, event: Event) -> str | None:
        base = self.settings.discourse.url or event.instance
        if not base:
            return ticket.url
        return f"{base.rstrip('/')}/t/{ticket.slug or 'topic'}/{ticket.id}"


@dataclass(frozen=True)
class NoRules:
    """The decision when no rules are loaded: the changes, and nothing to do."""

    ticket: Ticket
    changes: tuple
    firings: tuple = ()
    actions: tuple = ()
    notes: tuple = ()


def _with_staff(changes, staff: StaffPolicy) -> tuple:
    """Members of the staff groups (read from Discourse) count as staff for the rules'
    ``actor_is_staff`` too, not only for the ticket's status."""
    return tuple(replace(c, actor=replace(c.actor, staff=True))
                 if c.actor is not None and not c.actor.staff and staff.is_staff(c.actor) else c
                 for c in changes)


def _storable(text: str) -> str:
    """An error message SQLite can store (a lone surrogate in it would fail the write)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")[:2000]


def _post_slug(event: Event) -> str | None:
    return event.post.category_slug if event.post is not None else None


def _change_detail(change) -> dict[str, Any]:
    detail = {"actor": change.actor.username if change.actor else None, "at": change.at}
    for key in ("tag", "old", "new"):
        value = getattr(change, key)
        if value is not None:
            detail[key] = value
    if change.post is not None:
        detail["post_id"] = change.post.id
    if change.by_syncd:
        detail["by_syncd"] = True
    return detail
