"""``TimeKeeper``: keeps each ticket's SLA clocks, timers and held notifications in step with
its changes. The processor calls it inside the transaction of every event (and the scheduler
inside the transaction of every timer), so a change, its timers and its actions commit
together or not at all.

- ``annotate`` attaches the SLA snapshot (policy, due times, time left) to the ticket the
  rules see (conditions ``sla_breached``, ``sla_remaining_below``; ``ticket.sla`` in
  templates and cards);
- ``after`` stores the clocks, makes the ticket's pending timers exactly the wanted ones
  (an answer before the due time cancels the breach timer), restarts the idle timers on
  activity, and holds back notifications that a channel's quiet hours or digest delay.
"""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from typing import Any, Callable

from syncd.clock import iso
from syncd.core import sla
from syncd.core.calendar import Calendar
from syncd.core.tickets import Ticket
from syncd.store import timers

IDLE_STATUSES = ("open", "answered")


class TimeKeeper:
    def __init__(self, settings: Any, rules: Callable[[], Any] = lambda: None):
        self.settings = settings
        self.book = sla.Book(tuple(settings.slas), dict(settings.calendars))
        self.rules = rules

    def calendar(self, name: str | None) -> Calendar:
        return self.book.calendar(name)

    def idle_rules(self) -> list:
        ruleset = self.rules()
        if ruleset is None:
            return []
        return [r for r in ruleset.for_event("ticket_idle") if r.timing is not None]

    # --- inside the processor's transaction ------------------------------------------------
    def state(self, conn, ticket_id: int) -> sla.SlaState:
        return sla.SlaState.from_dict(timers.load_sla(conn, ticket_id))

    def advance(self, conn, before: Ticket | None, ticket: Ticket, changes, now: datetime,
                category: str | None, start: bool = True) -> tuple[sla.SlaState, sla.SlaState]:
        old = self.state(conn, ticket.id)
        if not self.book.policies:
            return old, old
        return old, sla.advance(old, before, ticket, changes, self.book, now, category, start)

    def annotate(self, conn, before: Ticket | None, ticket: Ticket, changes, now: datetime,
                 category: str | None, start: bool = True) -> Ticket:
        """The ticket with its SLA snapshot, as the rules of this event see it."""
        if not self.book.policies:
            return ticket
        _, state = self.advance(conn, before, ticket, changes, now, category, start)
        return replace(ticket, sla=sla.snapshot(state, self.book, now))

    def after(self, conn, before: Ticket | None, ticket: Ticket, changes, action_ids, now: datetime,
              category: str | None, start: bool = True, activity: bool = True,
              state: sla.SlaState | None = None) -> None:
        """Store the clocks, sync the timers, hold notifications (caller's transaction)."""
        idle = self.idle_rules()
        if not (self.book.policies or idle or self.settings.holds or state is not None):
            return                              # nothing about time is configured
        at = iso(now)
        old, new = self.advance(conn, before, ticket, changes, now, category, start)
        if state is not None:                  # the scheduler marked a timer fired
            old, new = None, sla.advance(state, before, ticket, changes, self.book, now,
                                         category, start)
        if new != old and (new.clocks or old is not None):
            timers.save_sla(conn, ticket.id, new.as_dict(), at)
        wanted = [(k, t, iso(d)) for k, t, d in sla.timers(new, self.book) if d is not None]
        kinds = list(sla.TIMER_KINDS)
        if activity:
            kinds.append("ticket_idle")
            if ticket.status in IDLE_STATUSES:
                for rule in idle:
                    due = self.calendar(rule.timing.calendar).add(now, rule.timing.seconds)
                    wanted.append(("ticket_idle", rule.name, iso(due)))
        elif ticket.status not in IDLE_STATUSES:
            kinds.append("ticket_idle")        # resolved by a timer's rule: no idle timers
        timers.sync(conn, ticket.id, wanted, kinds, at)
        self.hold(conn, ticket, action_ids, now)

    def hold(self, conn, ticket: Ticket, action_ids, now: datetime) -> None:
        holds = self.settings.holds
        if not holds or not action_ids:
            return
        ids = list(action_ids)
        found = conn.execute(f"SELECT id, params FROM outbox WHERE kind = 'notify' AND id IN "
                             f"({','.join('?' * len(ids))})", ids).fetchall()
        for action_id, params in found:
            hold = holds.get(json.loads(params).get("channel"))
            plan = hold.plan(ticket.priority, now) if hold is not None else None
            if plan is not None:
                timers.hold(conn, action_id, plan[0], iso(plan[1]))


def with_sla(conn, settings: Any, tickets: list[Ticket], now: datetime) -> list[Ticket]:
    """The tickets with their SLA snapshots (for ``syncd tickets`` and ``syncd ticket``)."""
    if not settings.slas:
        return tickets
    book = sla.Book(tuple(settings.slas), dict(settings.calendars))
    states = timers.load_slas(conn, [t.id for t in tickets])
    return [replace(t, sla=sla.snapshot(sla.SlaState.from_dict(states.get(t.id)), book, now))
            if t.id in states else t for t in tickets]
