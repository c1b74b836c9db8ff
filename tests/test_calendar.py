"""Business calendars: add and between against a brute-force count of business minutes."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from syncd.core.calendar import Calendar, parse_days, parse_hours, parse_range

UTC = timezone.utc
OFFICE, _ = parse_hours({"mon-fri": ["09:00-13:00", "14:00-18:00"], "sat": ["10:00-14:00"]})
NIGHT, _ = parse_hours({"mon-fri": ["00:00-02:30", "22:00-24:00"], "sun": ["01:30-03:00"]})
ZONES = ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe",
         "America/Santiago", "UTC"]   # Santiago changes its clocks at midnight
HOLIDAYS = frozenset({date(2026, 3, 30), date(2026, 10, 26), date(2026, 12, 25)})


def brute_minutes(cal: Calendar, a: datetime, b: datetime) -> int:
    """Count minutes from a to b whose local wall time is inside the calendar's hours."""
    count, t = 0, a
    while t < b:
        local = t.astimezone(cal.tz)
        minute = local.hour * 60 + local.minute
        if local.date() not in cal.holidays and any(
                s <= minute < e for s, e in cal.hours[local.weekday()]):
            count += 1
        t += timedelta(minutes=1)
    return count


calendars = st.builds(lambda zone, hours, hol: Calendar("c", zone, hours, hol),
                      st.sampled_from(ZONES), st.sampled_from([OFFICE, NIGHT]),
                      st.sampled_from([frozenset(), HOLIDAYS]))
# minutes around the 2026 DST changes (Europe: 29 Mar, 25 Oct; US: 8 Mar, 1 Nov; Lord Howe: 5 Apr, 4 Oct)
starts = st.sampled_from([datetime(2026, 3, 6), datetime(2026, 3, 27), datetime(2026, 4, 3),
                          datetime(2026, 10, 2), datetime(2026, 10, 23), datetime(2026, 10, 30),
                          datetime(2026, 12, 24)]).flatmap(
    lambda d: st.integers(0, 6 * 1440).map(
        lambda m: d.replace(tzinfo=UTC) + timedelta(minutes=m)))


@hsettings(max_examples=60, deadline=None)
@given(calendars, starts, st.integers(0, 3 * 1440))
def test_between_counts_business_minutes_like_brute_force(cal, a, span):
    """between(a, b) is the number of business minutes from a to b, across DST and holidays."""
    b = a + timedelta(minutes=span)
    assert cal.between(a, b) == brute_minutes(cal, a, b) * 60


@hsettings(max_examples=60, deadline=None)
@given(calendars, starts, st.integers(1, 20 * 60))
def test_add_lands_where_the_brute_force_count_reaches_n(cal, a, n):
    """add(a, n min) is the first moment by which n business minutes have passed."""
    end = cal.add(a, n * 60)
    assert brute_minutes(cal, a, end) == n
    assert brute_minutes(cal, a, end - timedelta(minutes=1)) == n - 1


def test_dst_day_is_as_long_as_the_office_experiences_it():
    """A 00:00-24:00 day in Berlin is 23 h on the spring change and 25 h in autumn."""
    hours, _ = parse_hours({"daily": ["00:00-24:00"]})
    cal = Calendar("berlin", "Europe/Berlin", hours)
    for day, length in ((date(2026, 3, 29), 23), (date(2026, 10, 25), 25)):
        a = datetime(day.year, day.month, day.day, tzinfo=cal.tz)
        b = datetime(day.year, day.month, day.day + 1, tzinfo=cal.tz)
        assert cal.between(a.astimezone(UTC), b.astimezone(UTC)) == length * 3600


def test_add_skips_night_weekend_and_holiday():
    """Friday 17:30 + 1 h on an office calendar with Monday a holiday is Tuesday 09:30."""
    hours, _ = parse_hours({"mon-fri": ["09:00-18:00"]})
    cal = Calendar("office", "Asia/Kolkata", hours, frozenset({date(2026, 12, 28)}))
    friday = datetime(2026, 12, 25, 17, 30, tzinfo=cal.tz)
    assert cal.add(friday, 3600) == datetime(2026, 12, 29, 9, 30, tzinfo=cal.tz)
    assert cal.between(friday, datetime(2026, 12, 29, 9, 30, tzinfo=cal.tz)) == 3600


def test_zero_is_now_and_end_of_day_is_not_the_next_morning():
    """add(t, 0) is t; landing on closing time stays at closing time."""
    hours, _ = parse_hours({"mon-fri": ["09:00-17:00"]})
    cal = Calendar("office", "UTC", hours)
    monday = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)
    assert cal.add(monday, 0) == monday
    assert cal.add(monday, 3600) == datetime(2026, 3, 2, 17, 0, tzinfo=UTC)


def test_always_is_plain_elapsed_time():
    """The built-in 24x7 calendar adds and counts plain seconds, fractions kept."""
    cal = Calendar.always()
    t = datetime(2026, 3, 29, 0, 59, 30, 500000, tzinfo=UTC)
    assert cal.add(t, 10.5) == t + timedelta(seconds=10.5)
    assert cal.between(t, t + timedelta(days=2)) == 2 * 86400


def test_is_open_and_next_open():
    """Before opening, next_open is the opening; while open it is the moment itself."""
    hours, _ = parse_hours({"mon-fri": ["09:00-17:00"]})
    cal = Calendar("office", "UTC", hours)
    sat = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)
    assert not cal.is_open(sat)
    assert cal.next_open(sat) == datetime(2026, 3, 9, 9, 0, tzinfo=UTC)
    mon = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)
    assert cal.is_open(mon) and cal.next_open(mon) == mon


def test_bad_hours_name_the_valid_form():
    """Inverted, malformed and overlapping ranges and unknown days are refused with the form."""
    with pytest.raises(ValueError, match="ends before it starts"):
        parse_range("18:00-09:00")
    with pytest.raises(ValueError, match="HH:MM-HH:MM"):
        parse_range("9am-5pm")
    with pytest.raises(ValueError, match="mon-fri"):
        parse_days("monday-friday")
    _, problems = parse_hours({"mon-fri": ["09:00-13:00"], "mon": ["12:00-14:00"]})
    assert problems and "overlaps 09:00-13:00 on mon" in problems[0][1]
    _, problems = parse_hours({"sat": []})
    assert "no opening hours" in problems[0][1]


def test_a_day_with_no_hours_is_closed():
    """A weekday listed with no ranges is closed all day."""
    hours, problems = parse_hours({"mon-fri": ["09:00-17:00"], "wed": []})
    assert not problems
    cal = Calendar("office", "UTC", hours)
    tue_end = datetime(2026, 3, 3, 16, 0, tzinfo=UTC)
    assert cal.add(tue_end, 2 * 3600) == datetime(2026, 3, 5, 10, 0, tzinfo=UTC)
