"""Rules that listen to time: ``on: {ticket_idle: {hours: 4, calendar: office}}`` and
``on: {schedule: "mon-fri 09:00", calendar: office}``. Pure: compiling the ``on`` mapping.

The timer events ``sla_warning`` and ``sla_breached`` are plain names (``on: sla_breached``);
the scheduler raises them from a ticket's SLA clocks (``core.sla``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from syncd.core.calendar import ALWAYS
from syncd.core.durations import FORM as DURATION_FORM, parse_duration
from syncd.core.schedule import parse_schedule
from syncd.rules.conditions import Invalid

TIMER_EVENTS = ("sla_warning", "sla_breached", "ticket_idle", "schedule")
PLAIN_TIMER_EVENTS = ("sla_warning", "sla_breached")
IDLE_FORM = "{ticket_idle: {hours: 4, calendar: office}} (or {ticket_idle: {after: 30m}})"
SCHEDULE_ON_FORM = "{schedule: \"mon-fri 09:00\", calendar: office}"


@dataclass(frozen=True)
class Timing:
    """What a time rule waits for. ``event`` is ``ticket_idle`` or ``schedule``."""

    event: str
    seconds: float = 0.0              # ticket_idle: business seconds without activity
    schedule: str = ""                # schedule: "mon-fri 09:00"
    calendar: str = ALWAYS


def compile_on(value: dict) -> Timing:
    """The mapping form of ``on``; raises ``Invalid`` naming the valid forms."""
    if "ticket_idle" in value:
        extra = set(value) - {"ticket_idle"}
        if extra:
            raise Invalid(f"unknown key '{sorted(extra)[0]}' beside ticket_idle: write {IDLE_FORM}")
        return _idle(value["ticket_idle"])
    if "schedule" in value:
        extra = set(value) - {"schedule", "calendar"}
        if extra:
            raise Invalid(f"unknown key '{sorted(extra)[0]}' beside schedule: write "
                          f"{SCHEDULE_ON_FORM}")
        try:
            parse_schedule(value["schedule"])
        except ValueError as exc:
            raise Invalid(str(exc)) from None
        return Timing("schedule", schedule=value["schedule"],
                      calendar=str(value.get("calendar") or ALWAYS))
    raise Invalid(f"'on' as a mapping is a time event: {IDLE_FORM} or {SCHEDULE_ON_FORM}")


def _idle(spec: Any) -> Timing:
    if not isinstance(spec, dict):
        raise Invalid(f"ticket_idle needs how long: write {IDLE_FORM}")
    bad = set(spec) - {"hours", "after", "calendar"}
    if bad:
        raise Invalid(f"unknown key '{sorted(bad)[0]}' in ticket_idle: write {IDLE_FORM}")
    if ("hours" in spec) == ("after" in spec):
        raise Invalid(f"ticket_idle takes 'hours' or 'after' (one of them): write {IDLE_FORM}")
    if "hours" in spec:
        hours = spec["hours"]
        if isinstance(hours, bool) or not isinstance(hours, (int, float)) or hours <= 0:
            raise Invalid(f"'hours' must be a number above 0, not {hours!r}: write {IDLE_FORM}")
        seconds = float(hours) * 3600
    else:
        try:
            seconds = parse_duration(spec["after"])
        except ValueError:
            raise Invalid(f"'after' must be {DURATION_FORM}, not {spec['after']!r}") from None
    return Timing("ticket_idle", seconds=seconds, calendar=str(spec.get("calendar") or ALWAYS))
