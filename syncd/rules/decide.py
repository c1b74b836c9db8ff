"""``decide``: the glue the processor calls inside its transaction.

For each change (in order) it evaluates the rules, applies state actions (``set_priority``,
``set_status``) to the ticket, turns their effect into derived ``priority_changed`` /
``status_changed`` changes that are evaluated in turn (at most ``MAX_CASCADE`` levels
deep), and plans outgoing actions as JSON-serialisable params for the outbox, within the
ticket's hourly action budget. Pure except for calling ``ctx.similar``.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Callable, Mapping, Sequence
from zoneinfo import ZoneInfo

from syncd.clock import iso
from syncd.rules.actions import ACTIONS, ActionFailed, Planning
from syncd.rules.engine import Firing, RuleSet, evaluate
from syncd.core.tickets import Change, Ticket

MAX_CASCADE = 4   # derived changes of derived changes ... this deep, then a note


@dataclass(frozen=True)
class DecideContext:
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    categories: Mapping[int, str] = field(default_factory=dict)        # id -> slug
    category_ids: Mapping[str, int] = field(default_factory=dict)      # slug -> id
    similar: Callable[[Ticket, int], list[dict]] = lambda ticket, limit: []
    budget_left: int = 30
    staff_groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlannedAction:
    """An outgoing action for the outbox: ``params`` is everything the sender needs."""

    kind: str
    params: dict
    rule: str
    event: str
    failed: str | None = None      # planning broke a limit: stored dead with this reason


@dataclass(frozen=True)
class Decision:
    ticket: Ticket
    changes: tuple[Change, ...] = ()
    firings: tuple[Firing, ...] = ()
    actions: tuple[PlannedAction, ...] = ()
    notes: tuple[str, ...] = ()


class _Decider:
    def __init__(self, ruleset: RuleSet, ticket: Ticket, now: datetime, ctx: DecideContext):
        self.ruleset, self.ticket, self.now, self.ctx = ruleset, ticket, now, ctx
        self.changes: list[Change] = []
        self.firings: list[Firing] = []
        self.actions: list[PlannedAction] = []
        self.notes: list[str] = []
        self.budget = ctx.budget_left
        self.dropped = 0

    def run(self, changes: Sequence[Change]) -> Decision:
        queue = deque((c, 0) for c in changes)
        while queue:
            change, depth = queue.popleft()
            self.changes.append(change)
            for derived in self.on_change(change):
                if depth + 1 > MAX_CASCADE:
                    self.notes.append(f"rules cascade stopped at {derived.name} "
                                      f"({MAX_CASCADE} levels of derived changes)")
                    continue
                queue.append((derived, depth + 1))
        if self.dropped:
            self.notes.append(f"action budget for ticket {self.ticket.id} exhausted: "
                              f"{self.dropped} action(s) dropped (limit per ticket per hour)")
        self.keep_private()
        return Decision(self.ticket, tuple(self.changes), tuple(self.firings),
                        tuple(self.actions), tuple(self.notes))

    def keep_private(self) -> None:
        """A ticket this decision makes private is private for every action it plans, in
        whatever order the rules planned them: no card carries its body, and it is not
        promoted to the FAQ."""
        visibility = self.ticket.visibility
        for action in self.actions:
            if action.kind == "set_visibility":
                visibility = action.params["visibility"]
        if visibility != "private":
            return
        kept = []
        for action in self.actions:
            if action.kind == "promote_faq":
                self.notes.append(f"rule {action.rule}: ticket {self.ticket.id} is being made "
                                  "private; not promoted to the FAQ")
                continue
            if action.kind == "notify":
                action = replace(action, params={**action.params, "private": True})
            kept.append(action)
        self.actions = kept

    def on_change(self, change: Change) -> list[Change]:
        derived: list[Change] = []
        firings = evaluate(self.ruleset, change, self.ticket, self.now,
                           categories=self.ctx.categories, staff_groups=self.ctx.staff_groups)
        for firing in firings:
            self.firings.append(firing)
            self.ticket = replace(self.ticket,
                                  fired_rules=self.ticket.fired_rules | {firing.rule_name})
            for action in firing.actions:
                spec = ACTIONS[action.kind]
                if spec.plan is None:
                    derived.extend(self.apply_state(action.kind, action.params, firing))
                else:
                    self.plan(action.kind, action.params, firing, change)
        return derived

    def apply_state(self, kind: str, params: dict, firing: Firing) -> list[Change]:
        before = self.ticket
        if kind == "set_priority":
            self.ticket = replace(before, priority=params["priority"])
        elif params["status"] == "closed":
            self.ticket = replace(before, closed=True)
        else:
            status = params["status"]
            resolved_at = (before.resolved_at or iso(self.now)) if status == "resolved" else None
            self.ticket = replace(before, stage=status, closed=False, resolved_at=resolved_at)
        out = []
        at = iso(self.now)
        if before.priority != self.ticket.priority:
            out.append(Change("priority_changed", old=before.priority, new=self.ticket.priority,
                              source="rules", at=at))
        if before.status != self.ticket.status:
            out.append(Change("status_changed", old=before.status, new=self.ticket.status,
                              source="rules", at=at))
        return out

    def plan(self, kind: str, params: dict, firing: Firing, change: Change) -> None:
        if self.budget <= 0:
            self.dropped += 1
            return
        p = Planning(self.ticket, change, firing.rule, self.now, self.ctx)
        try:
            planned = ACTIONS[kind].plan(params, p)
        except ActionFailed as exc:
            self.notes.extend(p.notes)
            self.notes.append(f"{exc}; the action is recorded as failed")
            self.budget -= 1
            kept = {k: v for k, v in params.items() if isinstance(v, (str, int, float, bool))}
            self.actions.append(PlannedAction(kind, {**kept, "error": str(exc)},
                                              firing.rule_name, change.name, failed=str(exc)))
            return
        self.notes.extend(p.notes)
        if planned is None:
            return
        self.budget -= 1
        self.actions.append(PlannedAction(kind, planned, firing.rule_name, change.name))


def decide(ruleset: RuleSet, ticket: Ticket, changes: Sequence[Change], now: datetime,
           ctx: DecideContext | None = None) -> Decision:
    """Rules -> the ticket after state actions, every change, firings and planned actions."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    return _Decider(ruleset, ticket, now, ctx or DecideContext()).run(changes)
