"""Set times: ``"mon-fri 09:00"``, ``"daily 09:00,17:00"``. Pure, standard library only.

``Schedule.next_after(t)`` is the first listed time after ``t`` on a listed day, in the
schedule's zone; with a calendar, only on its business days (holidays skipped).
Used by scheduled rules (``on: {schedule: …}``) and channel digests (``digest: {at: …}``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from syncd.core.calendar import DAYS_FORM, Calendar, parse_days

FORM = "days and times, e.g. \"mon-fri 09:00\" or \"daily 09:00,17:00\""
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")


@dataclass(frozen=True)
class Schedule:
    days: frozenset[int] = frozenset(range(7))
    times: tuple[int, ...] = (540,)             # minutes of the day, sorted
    timezone: str = "UTC"
    calendar: Calendar | None = None
    text: str = ""

    def next_after(self, moment: datetime) -> datetime:
        tz = ZoneInfo(self.calendar.timezone if self.calendar else self.timezone)
        local = moment.astimezone(tz)
        for n in range(800):
            day = local.date() + timedelta(days=n)
            if day.weekday() not in self.days:
                continue
            if self.calendar is not None and not self.calendar.open_on(day):
                continue
            for minute in self.times:
                at = datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=tz)
                if at > moment:
                    return at
        raise ValueError(f"schedule '{self.text}' never comes")


def parse_time(text: object) -> int:
    """``"09:00"`` → 540. Raises ValueError naming the form."""
    m = _TIME.match(str(text).strip())
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise ValueError(f"'{text}' is not a time of day: write HH:MM, e.g. 09:00")
    return int(m.group(1)) * 60 + int(m.group(2))


def parse_schedule(text: object, timezone: str = "UTC",
                   calendar: Calendar | None = None) -> Schedule:
    """``"mon-fri 09:00"`` → Schedule. Raises ValueError naming the valid form."""
    if not isinstance(text, str) or len(text.split()) != 2:
        raise ValueError(f"{text!r} is not a schedule: write {FORM}")
    days_text, times_text = text.split()
    try:
        days = parse_days(days_text)
    except ValueError:
        raise ValueError(f"'{days_text}' in '{text}' is not {DAYS_FORM}") from None
    times = tuple(sorted({parse_time(t) for t in times_text.split(",")}))
    return Schedule(frozenset(days), times, timezone, calendar, text)
