"""The rules engine: ``evaluate(rules, event, ticket, now) -> [Firing]``. Pure, stdlib only.

Rules are tried in order (file-name order, then file order). A rule fires when the change's
name is one of its ``on`` events and every ``if`` key holds for the ticket as the change left
it. A rule fires at most once per ticket (``ticket.fired_rules``) unless ``once: false``;
``stop: true`` ends evaluation for this change. A change syncd caused itself in Discourse
(``by_syncd``, its webhook echo) fires nothing, so rules never loop through Discourse.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Collection, Iterable, Mapping

from syncd.rules.conditions import Conds, Facts, holds
from syncd.core.tickets import Change, Ticket


@dataclass(frozen=True)
class Action:
    """One ``then`` item: its name and its compiled parameters."""

    kind: str
    params: Any = None


@dataclass(frozen=True)
class Rule:
    name: str
    on: frozenset[str]
    conditions: Conds = ()
    actions: tuple[Action, ...] = ()
    description: str = ""
    once: bool = True
    stop: bool = False
    file: str = ""
    line: int = 0
    timing: Any = None        # rules.timing.Timing for ``on: {ticket_idle: …}`` / ``{schedule: …}``

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Firing:
    """A rule that matched a change, and the actions it asks for."""

    rule_name: str
    event_name: str
    actions: tuple[Action, ...]
    stop: bool = False
    rule: Rule | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class RuleSet:
    """Loaded rules in evaluation order, indexed by event name."""

    rules: tuple[Rule, ...] = ()
    files: tuple[str, ...] = ()
    by_event: Mapping[str, tuple[Rule, ...]] = field(default_factory=dict, compare=False)

    @classmethod
    def of(cls, rules: Iterable[Rule], files: Iterable[str] = ()) -> "RuleSet":
        rules = tuple(rules)
        index: dict[str, list[Rule]] = {}
        for rule in rules:
            for name in rule.on:
                index.setdefault(name, []).append(rule)
        return cls(rules, tuple(files), {k: tuple(v) for k, v in index.items()})

    def __len__(self) -> int:
        return len(self.rules)

    def __iter__(self):
        return iter(self.rules)

    def named(self, name: str) -> Rule | None:
        return next((r for r in self.rules if r.name == name), None)

    def for_event(self, name: str) -> tuple[Rule, ...]:
        return self.by_event.get(name, ())


def candidates(rules: RuleSet | Iterable[Rule], event_name: str) -> Iterable[Rule]:
    if isinstance(rules, RuleSet):
        return rules.for_event(event_name)
    return (r for r in rules if event_name in r.on)


def evaluate(rules: RuleSet | Iterable[Rule], event: Change, ticket: Ticket, now: datetime,
             *, categories: Mapping[int, str] | None = None,
             staff_groups: Collection[str] = ()) -> list[Firing]:
    """The rules that fire for one change, in order, with their actions.

    ``categories`` maps category ids to slugs (the ``category`` condition compares slugs);
    ``staff_groups`` are the groups whose members count as staff for ``actor_is_staff``.
    ``now`` is the moment of evaluation (the engine never reads the clock).
    """
    if event.by_syncd:
        return []
    slug = (categories or {}).get(ticket.category_id) if ticket.category_id is not None else None
    facts = Facts(ticket, event, slug, staff_groups)
    fired = ticket.fired_rules
    out: list[Firing] = []
    for rule in candidates(rules, event.name):
        if rule.once and rule.name in fired:
            continue
        if event.name == "ticket_idle" and event.target != rule.name:
            continue          # each idle rule has its own timer; its name is the target
        if not holds(rule.conditions, facts):
            continue
        out.append(Firing(rule.name, event.name, rule.actions, rule.stop, rule))
        if rule.stop:
            break
    return out
