"""Personal alerts: what one staff member asked to hear about, and whether an event matches.

Pure (standard library only). ``Preferences`` is what ``/me`` stores; ``kinds_of`` names
the alert kinds one rule firing stands for (a new ticket, an urgent one, an SLA warning...);
``wants`` says whether a person's preferences take it. The rule action
``notify: subscribers`` fans out through these two functions.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, time
from typing import Any, Iterable, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from syncd.core.calendar import Calendar
from syncd.core.holds import Hold
from syncd.core.schedule import Schedule

PRIORITIES = ("low", "normal", "high", "urgent")

# Alert kinds a person can choose on /me, in the order the page shows them.
EVENTS: dict[str, str] = {
    "new_ticket": "A new ticket",
    "urgent_high": "A ticket is urgent or high priority",
    "escalation": "An escalation",
    "sla": "An SLA warning or breach",
    "reply_mine": "A reply on a ticket I answered or am assigned to",
}
DESTINATIONS: dict[str, str] = {
    "none": "Nowhere (alerts off)",
    "gchat": "My own Google Chat space (its incoming webhook)",
    "email": "Email",
    "pm": "A Discourse private message",
}
HIGH = ("high", "urgent")
SLA_EVENTS = ("sla_warning", "sla_breached")


@dataclass(frozen=True)
class Preferences:
    """One person's alert settings; empty ``categories`` or ``tags`` mean "all"."""

    person_id: int
    username: str
    events: frozenset[str] = frozenset({"new_ticket", "urgent_high"})
    categories: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    min_priority: str = "low"
    destination: str = "none"
    gchat_url: str = ""
    email: str = ""
    timezone: str = "UTC"
    quiet_start: str = ""          # "22:00": quiet hours in the person's zone; "" for none
    quiet_end: str = ""
    digest_below: str = ""         # a priority: what is below it waits for the digest
    digest_at: str = "09:00"
    active: bool = True            # staff when they last signed in
    groups: tuple[str, ...] = ()   # their Discourse groups at that sign-in

    @property
    def enabled(self) -> bool:
        return self.active and self.destination != "none" and bool(self.events)


@dataclass(frozen=True)
class Occasion:
    """One rule firing of ``notify: subscribers``, as the fan-out sees it."""

    event: str
    ticket: Mapping[str, Any]
    actor: str | None = None
    old: Any = None
    new: Any = None
    marked: tuple[str, ...] = ()       # kinds the rule names itself (``as: escalation``)
    participants: frozenset[str] = field(default_factory=frozenset)  # who posted in the ticket


def kinds_of(occasion: Occasion) -> set[str]:
    """The alert kinds one firing stands for."""
    kinds = set(k for k in occasion.marked if k in EVENTS)
    priority = str(occasion.ticket.get("priority") or "normal")
    if occasion.event == "topic_created":
        kinds.add("new_ticket")
        if priority in HIGH:
            kinds.add("urgent_high")
    elif occasion.event == "priority_changed" and occasion.new in HIGH:
        kinds.add("urgent_high")
    elif occasion.event in SLA_EVENTS:
        kinds.add("sla")
    elif occasion.event == "post_created":
        kinds.add("reply_mine")
    return kinds


def _rank(priority: str) -> int:
    return PRIORITIES.index(priority) if priority in PRIORITIES else 1


def _tags(ticket: Mapping[str, Any]) -> set[str]:
    out = set()
    for tag in ticket.get("tags") or ():
        name = tag.get("name") or tag.get("slug") if isinstance(tag, dict) else tag
        if name:
            out.add(str(name).lower())
    return out


def _mine(prefs: Preferences, occasion: Occasion) -> bool:
    """A ticket I posted in, or am assigned to (myself, or a group I am in)."""
    me = prefs.username.lower()
    assignee = str(occasion.ticket.get("assignee") or "").lower()
    if occasion.ticket.get("assignee_type") == "group":
        return assignee in {g.lower() for g in prefs.groups} or \
            me in {p.lower() for p in occasion.participants}
    return me in {p.lower() for p in occasion.participants} or assignee == me


def wants(prefs: Preferences, occasion: Occasion) -> bool:
    """Whether this person gets an alert for this firing."""
    if not prefs.enabled:
        return False
    if occasion.actor and occasion.actor.lower() == prefs.username.lower():
        return False                      # never about what I did myself
    kinds = kinds_of(occasion) & prefs.events
    if "reply_mine" in kinds and not _mine(prefs, occasion):
        kinds.discard("reply_mine")
    if not kinds:
        return False
    ticket = occasion.ticket
    if prefs.categories:
        category = ticket.get("category")
        cid = ticket.get("category_id")
        if str(category) not in prefs.categories and str(cid) not in prefs.categories:
            return False
    if prefs.tags and not (_tags(ticket) & {t.lower() for t in prefs.tags}):
        return False
    return _rank(str(ticket.get("priority") or "normal")) >= _rank(prefs.min_priority)


def matching(people: Iterable[Preferences], occasion: Occasion) -> list[Preferences]:
    return [p for p in people if wants(p, occasion)]


def parse_clock(text: str) -> time | None:
    """``"22:00"`` -> ``time(22, 0)``; None when not a clock time."""
    try:
        hours, minutes = text.split(":")
        return time(int(hours), int(minutes))
    except (ValueError, AttributeError):
        return None


def valid_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
        return True
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return False


def in_quiet_hours(prefs: Preferences, now: datetime) -> bool:
    """Whether ``now`` falls in the person's quiet hours (in their zone; may span midnight)."""
    start, end = parse_clock(prefs.quiet_start), parse_clock(prefs.quiet_end)
    if start is None or end is None or start == end or not valid_zone(prefs.timezone):
        return False
    local = now.astimezone(ZoneInfo(prefs.timezone)).time()
    return start <= local < end if start < end else (local >= start or local < end)


def hold_of(prefs: Preferences) -> Hold | None:
    """A person's quiet hours and daily digest as a channel's ``core.holds.Hold``: quiet hours
    are a calendar open every day outside them (in the person's zone), the digest a schedule
    "daily <digest_at>" in that zone. None when neither is set."""
    zone = prefs.timezone if valid_zone(prefs.timezone) else "UTC"
    quiet = None
    start, end = parse_clock(prefs.quiet_start), parse_clock(prefs.quiet_end)
    if start is not None and end is not None and start != end:
        a, b = start.hour * 60 + start.minute, end.hour * 60 + end.minute
        day = ((b, a),) if b < a else tuple(r for r in ((0, a), (b, 1440)) if r[0] < r[1])
        quiet = Calendar(name=f"quiet hours of @{prefs.username}", timezone=zone,
                         hours=(day,) * 7)
    below, at = None, None
    clock = parse_clock(prefs.digest_at or "09:00")
    if prefs.digest_below in PRIORITIES and _rank(prefs.digest_below) > 0 and clock is not None:
        below = prefs.digest_below
        at = Schedule(times=(clock.hour * 60 + clock.minute,), timezone=zone,
                      text=f"daily {prefs.digest_at}")
    if quiet is None and below is None:
        return None
    return Hold(quiet=quiet, digest_below=below, digest_at=at)


def plan_hold(prefs: Preferences, priority: str | None, now: datetime,
              test: bool = False) -> tuple[str, datetime] | None:
    """Whether one alert to this person waits, as ``(kind, until)`` (``digest`` or ``quiet``),
    or goes at once (None). Urgent alerts are never held; nor is the test alert."""
    hold = hold_of(prefs)
    if test or hold is None or (priority or "normal") == "urgent":
        return None
    return hold.plan(priority, now)


def digested(prefs: Preferences, priority: str) -> bool:
    """Whether an alert of this priority would wait for the daily digest."""
    return bool(prefs.digest_below) and _rank(priority) < _rank(prefs.digest_below)


def masked(url: str) -> str:
    """A webhook URL as /me shows it back: the host and the space, never the key or token."""
    if not url:
        return ""
    head = url.split("?", 1)[0]
    scheme, _, rest = head.partition("://")
    host, _, path = rest.partition("/")
    parts = path.split("/")
    space = parts[2] if len(parts) > 2 and parts[1] == "spaces" else ""
    shown = f"{scheme}://{host}/…" + (f"/spaces/{space[:4]}…" if space else "")
    return shown + " (key and token hidden)"


def with_updates(prefs: Preferences, **changes: Any) -> Preferences:
    return replace(prefs, **changes)
