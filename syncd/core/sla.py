"""SLA clocks: which policy applies to a ticket, how much business time each target has
used, when it is due, and which timers that asks for. Pure, standard library only.

A ticket has up to three clocks, one per target:

- ``first_response``: from the ticket's creation to the first staff reply;
- ``next_response``: from the author writing again after a staff reply (the ticket goes
  from answered back to open) to the next staff reply;
- ``resolution``: from creation to resolved or closed (reopening resumes it).

A clock counts business time on its policy's calendar. It pauses while the ticket waits on
the author: the ticket carries one of the policy's ``pause_tags`` or is in one of its
``pause_statuses`` (e.g. ``answered``). Resolving or closing stops every clock. The policy is
the first whose ``if`` matches the ticket; it is chosen again on every change, so a priority
or category change moves the ticket to another policy's targets (time used so far is kept).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping

from syncd.core.calendar import ALWAYS, Calendar

TARGETS = ("first_response", "next_response", "resolution")
STOPPED = ("resolved", "closed", "deleted")
TIMER_KINDS = ("sla_warning", "sla_breached")


def _parse(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat(
        timespec="microseconds") + "Z"


@dataclass(frozen=True)
class Policy:
    """One entry of ``slas:``. ``targets`` maps a target to business seconds."""

    name: str
    calendar: str = ALWAYS
    targets: Mapping[str, float] = field(default_factory=dict)
    warn_at: float | None = 0.8
    pause_tags: frozenset[str] = frozenset()
    pause_statuses: frozenset[str] = frozenset()
    matches: Callable[[Any, str | None], bool] = field(default=lambda t, c: True, compare=False)

    def waiting(self, ticket: Any) -> bool:
        """The ticket waits on its author: its clocks pause."""
        tags = {t.lower() for t in ticket.tags}
        return bool(tags & self.pause_tags) or ticket.status in self.pause_statuses


@dataclass(frozen=True)
class Book:
    """The configured policies (in order) and the calendars they name."""

    policies: tuple[Policy, ...] = ()
    calendars: Mapping[str, Calendar] = field(default_factory=dict)

    def choose(self, ticket: Any, category: str | None = None) -> Policy | None:
        return next((p for p in self.policies if p.matches(ticket, category)), None)

    def named(self, name: str | None) -> Policy | None:
        return next((p for p in self.policies if p.name == name), None)

    def calendar(self, name: str | None) -> Calendar:
        if name in (None, ALWAYS):
            return Calendar.always()
        return self.calendars.get(name) or Calendar.always()

    def calendar_of(self, policy: Policy | None) -> Calendar:
        return self.calendar(policy.calendar if policy else None)


@dataclass(frozen=True)
class Clock:
    """One target's clock. ``used`` counts business seconds up to ``since`` (running) or in
    all (paused or done)."""

    target: str
    started_at: str
    used: float = 0.0
    since: str | None = None
    done_at: str | None = None
    outcome: str | None = None      # met | stopped; None while it counts
    warned: bool = False
    breached: bool = False

    @property
    def running(self) -> bool:
        return self.since is not None and self.outcome is None

    def elapsed(self, cal: Calendar, now: datetime) -> float:
        if not self.running:
            return self.used
        return self.used + cal.between(_parse(self.since), now)

    def halt(self, cal: Calendar, at: datetime, **kw: Any) -> "Clock":
        """Pause (or, with ``outcome``, finish) at ``at``, counting the time used."""
        if self.since is None:
            return replace(self, **kw)
        since = _parse(self.since)
        used = self.used + cal.between(since, max(at, since))
        return replace(self, used=used, since=None, **kw)


@dataclass(frozen=True)
class SlaState:
    policy: str | None = None
    clocks: tuple[Clock, ...] = ()
    paused: bool = False

    def clock(self, target: str) -> Clock | None:
        return next((c for c in self.clocks if c.target == target), None)

    def as_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, "paused": self.paused,
                "clocks": [c.__dict__ for c in self.clocks]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "SlaState":
        if not data:
            return cls()
        return cls(data.get("policy"), tuple(Clock(**c) for c in data.get("clocks") or ()),
                   bool(data.get("paused")))


class _Step:
    """Folds one ticket transition into the clocks."""

    def __init__(self, state: SlaState, book: Book, now: datetime):
        self.book, self.now = book, now
        self.clocks = {c.target: c for c in state.clocks}
        self.old_cal = book.calendar_of(book.named(state.policy))
        self.paused = state.paused

    def put(self, clock: Clock) -> None:
        self.clocks[clock.target] = clock

    def start(self, target: str, at: datetime, paused: bool) -> None:
        self.put(Clock(target, _iso(at), since=None if paused else _iso(at)))

    def finish(self, target: str, at: datetime, outcome: str, cal: Calendar) -> None:
        c = self.clocks.get(target)
        if c is not None and c.outcome is None:
            self.put(c.halt(cal, at, done_at=_iso(at), outcome=outcome))


def advance(state: SlaState, before: Any, after: Any, changes: Iterable[Any], book: Book,
            now: datetime, category: str | None = None, start: bool = True) -> SlaState:
    """The clocks after one transition of a ticket (``before`` None: a new ticket).

    ``start`` False (a ticket imported quietly) starts no clock."""
    names = {c.name for c in changes}
    policy = book.choose(after, category)
    if policy is None and not state.clocks:
        return SlaState()
    s = _Step(state, book, now)
    if policy is None:      # no policy matches any more: the clocks wait for one that does
        return SlaState(None, tuple(c.halt(s.old_cal, now) if c.running else c
                                    for c in state.clocks), False)
    cal = book.calendar_of(policy)
    if state.policy is not None and policy.name != state.policy:  # count on the old calendar
        for c in list(s.clocks.values()):
            if c.running:
                s.put(replace(c.halt(s.old_cal, now), since=_iso(now)))
    waiting = policy.waiting(after)
    if start and not s.clocks and "topic_created" in names:
        created = _parse(after.created_at) if after.created_at else now
        at = min(created, now)
        for target in ("first_response", "resolution"):
            if target in policy.targets:
                s.start(target, at, waiting)
    _responses(s, before, after, names, policy, cal, waiting)
    _stops(s, before, after, cal)
    _pauses(s, after, cal, waiting)
    return SlaState(policy.name, tuple(
        s.clocks[t] for t in TARGETS if t in s.clocks), waiting)


def _responses(s: _Step, before: Any, after: Any, names: set[str], policy: Policy,
               cal: Calendar, waiting: bool) -> None:
    first_now = after.first_response_at and (before is None or not before.first_response_at)
    if first_now:
        s.finish("first_response", min(_parse(after.first_response_at), s.now), "met", cal)
    was = before.stage if before is not None else None
    if "post_created" not in names or before is None:
        return
    if was == "open" and after.stage == "answered":           # a staff reply
        s.finish("next_response", s.now, "met", cal)
    elif was in ("answered", "resolved") and after.stage == "open":   # the author again
        if "next_response" in policy.targets:
            s.start("next_response", s.now, waiting)


def _stops(s: _Step, before: Any, after: Any, cal: Calendar) -> None:
    if after.status in STOPPED:
        for target, c in list(s.clocks.items()):
            if c.outcome is None:
                s.finish(target, s.now, "met" if target == "resolution" else "stopped", cal)
    elif before is not None and before.status in STOPPED:   # reopened: the clocks go on
        for target, c in list(s.clocks.items()):
            if c.outcome == "stopped" or (target == "resolution" and c.outcome == "met"):
                s.put(replace(c, outcome=None, done_at=None, since=_iso(s.now)))


def _pauses(s: _Step, after: Any, cal: Calendar, waiting: bool) -> None:
    for c in list(s.clocks.values()):
        if c.outcome is not None:
            continue
        if waiting and c.since is not None:
            s.put(c.halt(cal, s.now))
        elif not waiting and c.since is None:
            s.put(replace(c, since=_iso(s.now)))


def mark(state: SlaState, kind: str, target: str) -> SlaState:
    """A timer fired: remember it so it is not planned again."""
    flag = "warned" if kind == "sla_warning" else "breached"
    return replace(state, clocks=tuple(replace(c, **{flag: True}) if c.target == target else c
                                       for c in state.clocks))


def due(clock: Clock, seconds: float, cal: Calendar) -> datetime | None:
    """When a running clock reaches ``seconds`` of business time."""
    if not clock.running:
        return None
    return cal.add(_parse(clock.since), max(0.0, seconds - clock.used))


def timers(state: SlaState, book: Book) -> list[tuple[str, str, datetime]]:
    """The timers the clocks ask for: ``(sla_warning | sla_breached, target, due)``."""
    policy = book.named(state.policy)
    if policy is None:
        return []
    cal, out = book.calendar_of(policy), []
    for c in state.clocks:
        goal = policy.targets.get(c.target)
        if goal is None or not c.running or c.breached:
            continue
        if policy.warn_at and not c.warned:
            out.append(("sla_warning", c.target, due(c, goal * policy.warn_at, cal)))
        out.append(("sla_breached", c.target, due(c, goal, cal)))
    return out


def snapshot(state: SlaState, book: Book, now: datetime) -> dict[str, Any] | None:
    """What ``syncd ticket``, ``tickets --json``, cards and conditions see."""
    policy = book.named(state.policy)
    if policy is None or not state.clocks:
        return None
    cal = book.calendar_of(policy)
    targets = {}
    for c in state.clocks:
        goal = policy.targets.get(c.target)
        if goal is None:
            continue
        elapsed = c.elapsed(cal, now)
        remaining = goal - elapsed
        if c.outcome is not None:
            status = c.outcome if c.outcome != "met" or elapsed <= goal else "met_late"
        elif remaining <= 0 or c.breached:
            status = "breached"
        else:
            status = "running" if c.running else "paused"
        when = due(c, goal, cal)
        targets[c.target] = {
            "status": status, "due_at": _iso(when) if when else None,
            "remaining_seconds": round(remaining, 3), "elapsed_seconds": round(elapsed, 3),
            "target_seconds": goal, "breached": c.breached or (c.outcome is None and remaining <= 0)}
    return {"policy": policy.name, "calendar": policy.calendar, "paused": state.paused,
            "targets": targets}


def breaching(snap: Mapping[str, Any] | None, target: str | None = None) -> bool:
    """A target (or any) has run past its due time and is not met."""
    if not snap:
        return False
    return any(v["status"] == "breached" and (target is None or k == target)
               for k, v in snap["targets"].items())


def lines(snap: Mapping[str, Any] | None, tz: Any, now: datetime) -> list[str]:
    """``["first response due 14:00, in 2 h", "resolution paused, 6 h left"]`` for people."""
    from syncd.core.durations import describe
    out = []
    for target, t in ((snap or {}).get("targets") or {}).items():
        label = target.replace("_", " ")
        due_at = _parse(t["due_at"]) if t.get("due_at") else None
        if t["status"] in ("met", "met_late", "stopped"):
            out.append(f"{label} {'met' if t['status'] == 'met' else t['status'].replace('_', ' ')}")
        elif t["status"] == "paused":
            out.append(f"{label} paused, {describe(max(0, t['remaining_seconds']))} left")
        elif due_at is not None and due_at > now:
            left = describe((due_at - now).total_seconds())
            out.append(f"{label} due {_clock(due_at, tz, now)}, in {left}")
        elif due_at is not None:
            out.append(f"{label} overdue since {_clock(due_at, tz, now)} "
                       f"({describe((now - due_at).total_seconds())})")
    return out


def _clock(moment: datetime, tz: Any, now: datetime) -> str:
    local, today = moment.astimezone(tz), now.astimezone(tz).date()
    return f"{local:%H:%M}" if local.date() == today else f"{local.day} {local:%b %H:%M}"
