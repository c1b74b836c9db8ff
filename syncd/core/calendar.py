"""Business calendars: opening hours a week, holidays, a time zone. Pure, standard library only.

``Calendar.add(t, seconds)`` is the moment ``seconds`` of business time after ``t``;
``Calendar.between(a, b)`` the business seconds from ``a`` to ``b``. A moment is business time
when its local wall-clock time (in the calendar's zone) falls inside one of the ranges of
its weekday and its local date is not a holiday. Both work on the real UTC timeline, so a DST
change makes an "09:00-17:00" day 7 or 9 hours long, as the office experiences it.

``Calendar.always()`` (the built-in ``24x7``) is every moment of every day.
Holidays arrive as a set of dates: the adapter that reads the ``holidays`` package (country,
subdivision) lives outside the core (``syncd/calendars.py``).
"""
from __future__ import annotations

import heapq
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Iterator
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY = 86400
ALWAYS = "24x7"
_SLACK = 3 * 3600                # no zone moves its clock by more than this in one change
_MAX_DAYS = 366 * 20             # add() gives up after this many days without enough hours
_EPOCH = date(1970, 1, 1)
_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
RANGE_FORM = "HH:MM-HH:MM, e.g. 09:00-13:00 (24:00 may end a day)"
DAYS_FORM = "a day (mon … sun), a span such as mon-fri, a list such as sat,sun, or daily"

Hours = tuple[tuple[tuple[int, int], ...], ...]   # per weekday (mon first): (start, end) minutes


def _ts(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() // 1)


def _dt(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)


@dataclass(frozen=True)
class Calendar:
    """Weekly opening hours in a zone, minus holidays. ``hours[0]`` is Monday's ranges."""

    name: str = ALWAYS
    timezone: str = "UTC"
    hours: Hours = (((0, 1440),),) * 7
    holidays: frozenset[date] = field(default=frozenset(), repr=False)
    _tz: ZoneInfo = field(default=None, compare=False, repr=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_tz", ZoneInfo(self.timezone))
        if not any(self.hours):
            raise ValueError("a calendar needs opening hours on at least one day")
        object.__setattr__(self, "_always", all(day == ((0, 1440),) for day in self.hours)
                           and not self.holidays)

    @classmethod
    def always(cls) -> "Calendar":
        return _ALWAYS

    @property
    def is_always(self) -> bool:
        return self._always  # type: ignore[attr-defined]

    @property
    def tz(self) -> ZoneInfo:
        return self._tz

    # --- the two questions -----------------------------------------------------------------
    def add(self, start: datetime, seconds: float) -> datetime:
        """The moment ``seconds`` of business time after ``start`` (``start`` itself for 0)."""
        if seconds <= 0:
            return start
        if self.is_always:
            return start + timedelta(seconds=seconds)
        t, left = start.timestamp(), seconds
        for s, e in self.intervals(int(t // 1)):
            s = max(s, t)
            if e - s >= left:
                return _dt(s + left)
            left -= e - s
        raise ValueError(f"calendar {self.name}: fewer than {seconds:.0f} business seconds in "
                         f"{_MAX_DAYS} days")

    def between(self, a: datetime, b: datetime) -> float:
        """Business seconds from ``a`` to ``b`` (0 when ``b`` is not after ``a``)."""
        if b <= a:
            return 0.0
        if self.is_always:
            return (b - a).total_seconds()
        ta, tb = a.timestamp(), b.timestamp()
        total = 0.0
        for s, e in self.intervals(int(ta // 1)):
            if s >= tb:
                break
            total += max(0.0, min(e, tb) - max(s, ta))
        return total

    def is_open(self, moment: datetime) -> bool:
        t = moment.timestamp()
        for s, e in self.intervals(int(t // 1)):
            return s <= t < e
        return False

    def next_open(self, moment: datetime) -> datetime:
        """``moment`` when open, else the next moment the calendar opens."""
        t = moment.timestamp()
        for s, _ in self.intervals(int(t // 1)):
            return moment if s <= t else _dt(s)
        raise ValueError(f"calendar {self.name} never opens")

    def open_on(self, day: date) -> bool:
        """A business day: not a holiday, and its weekday has hours."""
        return day not in self.holidays and bool(self.hours[day.weekday()])

    # --- the timeline ----------------------------------------------------------------------
    def intervals(self, start: int, days: int = _MAX_DAYS) -> Iterator[tuple[int, int]]:
        """Business intervals ``(start, end)`` in UTC epoch seconds, in time order, each
        ending after ``start``."""
        first = self._local_date(start - _SLACK)
        heap: list[tuple[int, int]] = []
        for n in range(days + 2):
            day = first + timedelta(days=n)
            for piece in self._day_pieces(day):
                if piece[1] > start:
                    heapq.heappush(heap, piece)
            # a later day's pieces start no earlier than its midnight less the slack
            safe = self._midnight(day + timedelta(days=1)) - _SLACK
            while heap and heap[0][0] < safe:
                yield heapq.heappop(heap)
        while heap:
            yield heapq.heappop(heap)

    def _local_date(self, t: int) -> date:
        return datetime.fromtimestamp(t, self._tz).date()

    def _midnight(self, day: date) -> int:
        return _ts(datetime(day.year, day.month, day.day, tzinfo=self._tz))

    def _offset(self, t: int) -> int:
        off = datetime.fromtimestamp(t, self._tz).utcoffset()
        return int(off.total_seconds()) if off else 0

    def _regions(self, lo: int, hi: int) -> list[tuple[int, int, int]]:
        """``[lo, hi)`` cut where the zone's offset changes: ``(from, to, offset)``."""
        a, b = self._offset(lo), self._offset(hi)
        if a == b:
            return [(lo, hi, a)]
        left, right = lo, hi          # offset(left) == a, offset(right) != a
        while right - left > 1:
            mid = (left + right) // 2
            if self._offset(mid) == a:
                left = mid
            else:
                right = mid
        return [(lo, right, a)] + self._regions(right, hi)

    def _day_pieces(self, day: date) -> list[tuple[int, int]]:
        if day in self.holidays:
            return []
        ranges = self.hours[day.weekday()]
        if not ranges:
            return []
        wall0 = (day - _EPOCH).days * DAY
        lo = self._midnight(day) - _SLACK
        hi = self._midnight(day + timedelta(days=1)) + _SLACK
        out = []
        for r0, r1, off in self._regions(lo, hi):
            for m0, m1 in ranges:
                s = max(wall0 + m0 * 60 - off, r0)
                e = min(wall0 + m1 * 60 - off, r1)
                if e > s:
                    out.append((s, e))
        return out


_ALWAYS = Calendar(ALWAYS)


# --- parsing the config's forms (the adapter adds file:line) ----------------------------------

def parse_days(spec: str) -> list[int]:
    """``mon-fri`` → [0..4]; ``sat,sun``; ``daily``. Raises ValueError naming the valid form."""
    text = str(spec).strip().lower()
    if text in ("daily", "every day", "mon-sun"):
        return list(range(7))
    if text in ("weekdays",):
        return list(range(5))
    days: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            a, _, b = part.partition("-")
            if a.strip() not in WEEKDAYS or b.strip() not in WEEKDAYS:
                raise ValueError(f"'{spec}' is not {DAYS_FORM}")
            i, j = WEEKDAYS.index(a.strip()), WEEKDAYS.index(b.strip())
            if j < i:
                raise ValueError(f"'{spec}': the span runs backwards (write mon-fri, not fri-mon)")
            days.extend(range(i, j + 1))
        elif part in WEEKDAYS:
            days.append(WEEKDAYS.index(part))
        else:
            raise ValueError(f"'{spec}' is not {DAYS_FORM}")
    return days


def parse_range(text: str) -> tuple[int, int]:
    """``"09:00-13:00"`` → (540, 780). Raises ValueError for inverted or malformed ranges."""
    m = _RANGE.match(str(text))
    if not m:
        raise ValueError(f"'{text}' is not a range of hours: write {RANGE_FORM}")
    h0, m0, h1, m1 = (int(g) for g in m.groups())
    if h0 > 23 or m0 > 59 or m1 > 59 or h1 > 24 or (h1 == 24 and m1):
        raise ValueError(f"'{text}' is not a time of day: write {RANGE_FORM}")
    start, end = h0 * 60 + m0, h1 * 60 + m1
    if end <= start:
        raise ValueError(f"'{text}' ends before it starts: write {RANGE_FORM}; a night shift "
                         "is two ranges, e.g. mon: [\"22:00-24:00\"], tue: [\"00:00-06:00\"]")
    return start, end


def parse_hours(spec: dict) -> tuple[Hours, list[tuple[str, str]]]:
    """The ``hours:`` mapping → ``Hours`` and problems as ``(key, message)``."""
    week: list[list[tuple[int, int]]] = [[] for _ in WEEKDAYS]
    problems: list[tuple[str, str]] = []
    closed: set[int] = set()
    for key, value in spec.items():
        try:
            days = parse_days(key)
        except ValueError as exc:
            problems.append((key, str(exc)))
            continue
        items = value if isinstance(value, list) else ([] if value in (None, "closed") else [value])
        if not items:                     # `wed: []` or `wed: closed` closes those days
            closed.update(days)
        for item in items:
            try:
                rng = parse_range(item)
            except ValueError as exc:
                problems.append((key, str(exc)))
                continue
            for d in days:
                clash = next((r for r in week[d] if r[0] < rng[1] and rng[0] < r[1]), None)
                if clash:
                    problems.append((key, f"'{item}' overlaps {_fmt(clash)} on {WEEKDAYS[d]}: "
                                          "ranges of one day must not overlap"))
                    break
                week[d].append(rng)
    for d in closed:
        week[d] = []
    if not problems and not any(week):
        problems.append(("", "no opening hours on any day (give at least one range, e.g. "
                             "mon-fri: [\"09:00-17:00\"]), or use the built-in 24x7"))
    return tuple(tuple(sorted(d)) for d in week), problems


def _fmt(rng: tuple[int, int]) -> str:
    return f"{rng[0] // 60:02d}:{rng[0] % 60:02d}-{rng[1] // 60:02d}:{rng[1] % 60:02d}"
