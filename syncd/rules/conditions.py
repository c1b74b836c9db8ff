"""Rule conditions (the ``if:`` keys): small functions found by name in ``CONDITIONS``.

Each condition has two halves: ``compile`` turns the YAML value into a ready parameter at
load time (regexes compiled, slugs checked, lists made tuples) or raises ``Invalid`` with
what is wrong; ``check(param, facts)`` answers at evaluation time. A list value means "any
of these". ``any: [...]`` holds when one of its mappings holds; ``not: {...}`` when its
mapping does not. Standard library only.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Collection, Mapping

from syncd.core.durations import parse_duration
from syncd.core.events import Actor
from syncd.core.sla import TARGETS as SLA_TARGETS, breaching
from syncd.core.tickets import PRIORITIES, SOURCES, STATUSES, VISIBILITIES, Change, StaffPolicy, Ticket

_RANK = {p: i for i, p in enumerate(PRIORITIES)}


class Invalid(ValueError):
    """A condition or action value that cannot be used; the message says why."""


@dataclass(frozen=True)
class Facts:
    """What conditions look at: the ticket after the event, the change, the category slug."""

    ticket: Ticket
    change: Change
    category: str | None
    staff_groups: Collection[str] = ()

    @property
    def actor(self) -> Actor | None:
        return self.change.actor


@dataclass(frozen=True)
class Condition:
    compile: Callable[[Any, "LoadContext"], Any]
    check: Callable[[Any, Facts], bool]


@dataclass(frozen=True)
class LoadContext:
    """What the loader knows when it compiles a value: channels and category slugs."""

    channels: Collection[str] | None = None
    categories: Mapping[str, int] | None = None

    def check_category(self, slug: Any) -> None:
        if isinstance(slug, int) and not isinstance(slug, bool):
            return
        if not isinstance(slug, str) or not slug:
            raise Invalid(f"a category slug (or id), not {slug!r}")
        if self.categories and slug not in self.categories:
            raise Invalid(f"unknown category '{slug}' (known: {', '.join(sorted(self.categories))})")


Conds = tuple  # ((check, param), ...): every pair must hold


def holds(conds: Conds, facts: Facts) -> bool:
    for check, param in conds:
        if not check(param, facts):
            return False
    return True


# --- compile helpers ---------------------------------------------------------------------

def as_list(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _strings(value: Any, what: str = "a string or a list of strings") -> tuple[str, ...]:
    items = as_list(value)
    if not items or not all(isinstance(v, str) and v for v in items):
        raise Invalid(f"must be {what}, not {value!r}")
    return tuple(items)


def _choices(options: tuple[str, ...]) -> Callable[[Any, LoadContext], frozenset[str]]:
    def compile_(value: Any, ctx: LoadContext) -> frozenset[str]:
        items = _strings(value)
        bad = [v for v in items if v not in options]
        if bad:
            raise Invalid(f"'{bad[0]}' is not one of {', '.join(options)}")
        return frozenset(items)
    return compile_


def _priority(value: Any, ctx: LoadContext) -> int:
    if value not in _RANK:
        raise Invalid(f"must be one of {', '.join(PRIORITIES)}, not {value!r}")
    return _RANK[value]


def _count(value: Any, ctx: LoadContext) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Invalid(f"must be a whole number (0 or more), not {value!r}")
    return value


def _flag(value: Any, ctx: LoadContext) -> bool:
    if not isinstance(value, bool):
        raise Invalid(f"must be true or false, not {value!r}")
    return value


def _regexes(value: Any, ctx: LoadContext) -> tuple[re.Pattern, ...]:
    out = []
    for pattern in _strings(value, "a regular expression or a list of them"):
        try:
            out.append(re.compile(pattern))
        except re.error as exc:
            raise Invalid(f"bad regular expression {pattern!r}: {exc}") from None
    return tuple(out)


def _categories(value: Any, ctx: LoadContext) -> frozenset:
    items = as_list(value)
    if not items:
        raise Invalid("must name at least one category")
    for item in items:
        ctx.check_category(item)
    return frozenset(items)


def _tags(value: Any, ctx: LoadContext) -> frozenset[str]:
    """Tag names compare without case: Discourse lowercases tags (force_lowercase_tags)."""
    return frozenset(t.lower() for t in _strings(value, "a tag or a list of tags"))


def _ticket_tags(f: "Facts") -> frozenset[str]:
    return frozenset(t.lower() for t in f.ticket.tags)


# --- checks ------------------------------------------------------------------------------

def _in_category(wanted: frozenset, f: Facts) -> bool:
    return f.category in wanted or f.ticket.category_id in wanted


def _matches(field: str) -> Callable[[tuple[re.Pattern, ...], Facts], bool]:
    def check(patterns: tuple[re.Pattern, ...], f: Facts) -> bool:
        text = getattr(f.ticket, field) or ""
        return any(p.search(text) for p in patterns)
    return check


def is_staff(actor: Actor | None, staff_groups: Collection[str] = ()) -> bool:
    """The state machine's rule (``StaffPolicy``), so rules and statuses agree."""
    return StaffPolicy(frozenset(staff_groups)).is_staff(actor)


def _actor_is_staff(wanted: bool, f: Facts) -> bool:
    return is_staff(f.actor, f.staff_groups) == wanted


def _trust_level(level: int, f: Facts) -> bool:
    actor = f.actor
    return actor is not None and actor.trust_level is not None and actor.trust_level >= level


def _names(value: Any, ctx: LoadContext) -> frozenset[str]:
    """Usernames and group names compare without case, as Discourse looks them up."""
    return frozenset(n.lower() for n in _strings(value, "a user or group name, or a list of them"))


def _assigned_to(wanted: frozenset[str], f: Facts) -> bool:
    return f.ticket.assignee is not None and f.ticket.assignee.lower() in wanted


def _any(alternatives: tuple[Conds, ...], f: Facts) -> bool:
    return any(holds(conds, f) for conds in alternatives)


def _not(conds: Conds, f: Facts) -> bool:
    return not holds(conds, f)


CONDITIONS: dict[str, Condition] = {
    "category": Condition(_categories, _in_category),
    "tags_any": Condition(_tags, lambda p, f: not p.isdisjoint(_ticket_tags(f))),
    "tags_all": Condition(_tags, lambda p, f: p.issubset(_ticket_tags(f))),
    "tags_none": Condition(_tags, lambda p, f: p.isdisjoint(_ticket_tags(f))),
    "title_matches": Condition(_regexes, _matches("title")),
    "body_matches": Condition(_regexes, _matches("body")),
    "status": Condition(_choices(STATUSES), lambda p, f: f.ticket.status in p),
    "priority": Condition(_choices(PRIORITIES), lambda p, f: f.ticket.priority in p),
    "priority_at_least": Condition(_priority, lambda p, f: _RANK.get(f.ticket.priority, 1) >= p),
    "likes_at_least": Condition(_count, lambda p, f: f.ticket.likes >= p),
    "visibility": Condition(_choices(VISIBILITIES), lambda p, f: f.ticket.visibility in p),
    "source": Condition(_choices(SOURCES), lambda p, f: f.ticket.source in p),   # intake
    "votes_at_least": Condition(_count, lambda p, f: f.ticket.votes >= p),
    "plus_ones_at_least": Condition(_count, lambda p, f: f.ticket.plus_ones >= p),
    "assigned": Condition(_flag, lambda p, f: (f.ticket.assignee is not None) == p),
    "assigned_to": Condition(_names, _assigned_to),
    "actor_is_staff": Condition(_flag, _actor_is_staff),
    "actor_trust_level_at_least": Condition(_count, _trust_level),
    "tag": Condition(_tags, lambda p, f: f.change.tag is not None and f.change.tag.lower() in p),
    "any": Condition(lambda v, c: v, _any),   # compiled by the loader (nested mappings)
    "not": Condition(lambda v, c: v, _not),
}
NESTED = ("any", "not")


def _sla_targets(value: Any, ctx: LoadContext) -> frozenset[str] | None:
    if value is True:
        return None                              # any target
    return _choices(SLA_TARGETS)(value, ctx)


def _sla_breached(targets: frozenset[str] | None, f: Facts) -> bool:
    snap = f.ticket.sla
    return any(breaching(snap, t) for t in (targets or (None,)))


def _duration(value: Any, ctx: LoadContext) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise Invalid(str(exc)) from None


def _remaining_below(seconds: float, f: Facts) -> bool:
    snap = f.ticket.sla or {}
    return any(t["status"] in ("running", "paused", "breached") and t["remaining_seconds"] < seconds
               for t in (snap.get("targets") or {}).values())


CONDITIONS.update({
    "sla_breached": Condition(_sla_targets, _sla_breached),
    "sla_remaining_below": Condition(_duration, _remaining_below),
})
