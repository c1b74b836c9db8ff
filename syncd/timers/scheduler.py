"""The scheduler inside ``serve``: fires due timers, releases held notifications, sends
digests. ``Scheduler.run_once(now=None) -> bool`` is one step (tests drive ``now``).

A timer fires through the processor's own path (rules via ``decide``, history, outbox) in
one transaction with the update that marks it fired, so it fires once: a crash before the
commit leaves it pending, a commit leaves it fired. A timer that came due while syncd was
down (or the machine slept, or the clock jumped) fires once when the scheduler next runs,
marked late when it is more than ``LATE_SECONDS`` overdue.
"""
from __future__ import annotations

import sqlite3
import time
from dataclasses import replace
from datetime import datetime
from typing import Any

from prometheus_client import Counter

from syncd import logs, metrics
from syncd.clock import iso, parse, utcnow
from syncd.core import sla
from syncd.core.events import Event
from syncd.core.schedule import parse_schedule
from syncd.core.tickets import Change
from syncd.errors import RuleError
from syncd.store import categories, timers
from syncd.store import tickets as ticketstore
from syncd.processor import Outcome
from syncd.store.db import transaction

log = logs.get("syncd.scheduler")
POLL_SECONDS = 0.2
BATCH = 50
LATE_SECONDS = 60.0
GAUGE_SECONDS = 300.0
TIMERS_FIRED = Counter("syncd_timers_fired_total", "Timers fired, by kind and lateness",
                       ["kind", "late"], registry=metrics.REGISTRY)


def check_rules(ruleset: Any, settings: Any) -> list[str]:
    """Time rules that name a calendar the config does not have: ``file:line`` problems."""
    known = {"24x7", *settings.calendars}
    out = []
    for rule in ruleset or ():
        timing = getattr(rule, "timing", None)
        if timing is not None and timing.calendar not in known:
            out.append(f"{rule.where}: rule '{rule.name}': unknown calendar '{timing.calendar}' "
                       f"(calendars: {', '.join(sorted(known))})")
    return out


class Scheduler:
    name = "scheduler"

    def __init__(self, settings: Any, store: Any, processor: Any):
        self.settings, self.store, self.processor = settings, store, processor
        self.keeper = processor.time
        self._rules_seen: Any = object()
        problems = check_rules(self.ruleset(), settings)
        if problems:
            raise RuleError(problems)

    def ruleset(self) -> Any:
        holder = self.processor.rules
        return holder.current if holder is not None else None

    # --- the loop step -----------------------------------------------------------------
    def run_once(self, now: datetime | None = None) -> bool:
        now = now or utcnow()
        db = self.store.db()
        try:
            self.plan_schedules(db, now)
            fired = self.fire_due(db, now)
            released = self.release(db, now)
        except sqlite3.OperationalError as exc:   # locked: the timers stay pending
            log.warning("scheduler_deferred", error=str(exc))
            return False
        if (fired or released) and self.processor.outbox_wake is not None:
            self.processor.outbox_wake.set()
        return fired > 0

    def fire_due(self, db, now: datetime) -> int:
        due = timers.due(db.conn, iso(now), BATCH)
        if not due:
            return 0
        try:
            with transaction(db) as conn:
                fired = sum(self.fire(conn, row, now) for row in due)
        except sqlite3.OperationalError:
            raise
        except Exception as exc:  # one bad timer must not block the others: one at a time
            log.warning("timer_batch_failed", error=str(exc), timers=len(due))
            fired = sum(self.fire_alone(db, row, now) for row in due)
        return fired

    def fire_alone(self, db, row: dict, now: datetime) -> int:
        try:
            with transaction(db) as conn:
                return self.fire(conn, row, now)
        except sqlite3.OperationalError:
            raise
        except Exception as exc:
            log.exception("timer_failed", timer=row["id"], kind=row["kind"], error=str(exc))
            with transaction(db) as conn:
                timers.fail(conn, row["id"], f"{type(exc).__name__}: {exc}", iso(now))
            return 0

    def fire(self, conn, row: dict, now: datetime) -> int:
        late = (now - parse(row["due_at"])).total_seconds() > LATE_SECONDS
        if not timers.fire(conn, row["id"], iso(now), late):
            return 0
        if row["kind"] == "schedule":
            self.fire_schedule(conn, row, now, late)
        else:
            self.fire_ticket_timer(conn, row, now, late)
        TIMERS_FIRED.labels(row["kind"], "true" if late else "false").inc()
        return 1

    # --- a ticket's timer: the processor's path ---------------------------------------------
    def fire_ticket_timer(self, conn, row: dict, now: datetime, late: bool) -> None:
        p, kind, target = self.processor, row["kind"], row["target"]
        ticket = ticketstore.load(conn, row["ticket_id"])
        if ticket is None or ticket.deleted:
            return
        cats = categories.load(conn, self.settings.discourse.category_map)
        slug = cats.by_id.get(ticket.category_id)
        state = self.keeper.state(conn, ticket.id)
        if kind in sla.TIMER_KINDS:
            state = sla.mark(state, kind, target)
        ticket = replace(ticket, sla=sla.snapshot(state, self.keeper.book, now))
        change = Change(kind, source="timer", at=row["due_at"], target=target, late=late)
        decision = p.decide(conn, ticket, (change,), now, cats)
        at = iso(now)
        ticketstore.save(conn, decision.ticket, at)
        event = Event(name=kind, kind="timer", topic_id=ticket.id,
                      category_id=ticket.category_id, occurred_at=row["due_at"], source="timer",
                      event_id=f"timer-{row['id']}")
        out = Outcome(ticket.id, note=f"{kind} {target}: due {row['due_at']}"
                                       + (", fired late (syncd was not running)" if late else ""))
        p._record(conn, event, decision, None, at, out)   # the processor's own bookkeeping
        self.keeper.after(conn, ticket, decision.ticket, decision.changes, out.actions, now,
                          slug, activity=False, state=state)
        log.info("timer_fired", ticket=ticket.id, kind=kind, target=target, late=late,
                 due_at=row["due_at"], rules=out.firings, actions=out.actions)

    # --- scheduled rules ------------------------------------------------------------------
    def plan_schedules(self, db, now: datetime) -> None:
        """Give every scheduled rule its next timer (again after the rules change)."""
        ruleset = self.ruleset()
        if ruleset is self._rules_seen:
            return
        for problem in check_rules(ruleset, self.settings):   # a reload: counted on 24x7
            log.error("rules_calendar_unknown", problem=problem)
        wanted = {r.name: r for r in ruleset or () if r.timing and r.timing.event == "schedule"}
        with transaction(db) as conn:
            have = timers.schedules(conn)
            for name, row in have.items():       # overdue ones stay: they fire once, late
                if name not in wanted or row["due_at"] > iso(now):
                    timers.cancel_schedule(conn, name, iso(now))    # planned again below
            have = timers.schedules(conn)
            for name, rule in wanted.items():
                if name not in have:
                    due = self.schedule_of(rule).next_after(now)
                    timers.add(conn, None, "schedule", name, iso(due), iso(now))
        self._rules_seen = ruleset

    def schedule_of(self, rule: Any):
        cal = rule.timing.calendar
        return parse_schedule(rule.timing.schedule, self.settings.timezone,
                              None if cal == "24x7" else self.keeper.calendar(cal))

    def fire_schedule(self, conn, row: dict, now: datetime, late: bool) -> None:
        ruleset = self.ruleset()
        rule = ruleset.named(row["target"]) if ruleset is not None else None
        if rule is None or rule.timing is None or rule.timing.event != "schedule":
            return
        from syncd.timers.summaries import plan_summary
        at = iso(now)
        for action in plan_summary(conn, self, rule, now, late):
            ticketstore.enqueue(conn, 0, "notify", action, rule.name, None, at)
        metrics.RULE_FIRINGS.labels(rule.name).inc()
        timers.add(conn, None, "schedule", rule.name, iso(self.schedule_of(rule).next_after(now)), at)
        log.info("schedule_fired", rule=rule.name, late=late, due_at=row["due_at"])

    # --- held notifications ------------------------------------------------------------------
    def release(self, db, now: datetime) -> int:
        at = iso(now)
        nxt = timers.next_hold(db.conn)
        if nxt is None or nxt > at:
            return 0
        from syncd.timers.summaries import digest_params
        with transaction(db) as conn:
            released = timers.release_quiet(conn, at)
            for channel, held in timers.digest_due(conn, at).items():
                params = digest_params(channel, held, at)
                digest_id = ticketstore.enqueue(conn, 0, "notify", params, "digest", None, at)
                timers.mark_digested(conn, [h["id"] for h in held], digest_id, at)
                released += 1
                log.info("digest_planned", channel=channel, notifications=len(held),
                         action_id=digest_id)
        return released


class GaugeWorker:
    """Keeps the report's figures as Prometheus gauges, every ``GAUGE_SECONDS``, in its own
    thread: a read over every open ticket never delays a timer."""

    name = "sla-gauges"

    def __init__(self, settings: Any, store: Any):
        self.settings, self.store = settings, store
        self._at = time.monotonic() - GAUGE_SECONDS + 5.0     # the first figures 5 s in

    def run_once(self, now: datetime | None = None) -> bool:
        if time.monotonic() - self._at < GAUGE_SECONDS:
            return False
        self._at = time.monotonic()
        try:
            from syncd.timers import report
            report.refresh_gauges(self.store.db().conn, self.settings, now or utcnow())
        except Exception as exc:  # metrics must never stop syncd
            log.warning("sla_gauges_failed", error=str(exc))
        return False
