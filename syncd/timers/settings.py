"""The config's time sections → pure objects: ``calendars``, ``slas``, and each channel's
``quiet_hours`` and ``digest``. Every problem is ``file:line: message`` with the valid form.

This is the adapter that reads the ``holidays`` package: a calendar's ``country`` and
``subdiv`` become a set of dates handed to the pure ``core.calendar.Calendar``.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from syncd import yamlsrc
from syncd.core.calendar import ALWAYS, Calendar, parse_hours
from syncd.core.durations import FORM as DURATION_FORM, parse_duration
from syncd.core.holds import Hold
from syncd.core.schedule import Schedule, parse_time
from syncd.core.sla import TARGETS, Policy
from syncd.core.tickets import PRIORITIES

CALENDAR_KEYS = ("timezone", "hours", "holidays")
HOLIDAY_KEYS = ("country", "subdiv", "dates")
SLA_KEYS = ("name", "description", "if", "calendar") + TARGETS + (
    "warn_at", "pause_tags", "pause_statuses")
PAUSE_STATUSES = ("answered",)
HOLIDAY_YEARS_BACK, HOLIDAY_YEARS_AHEAD = 2, 8


class _Problems:
    def __init__(self, src: yamlsrc.Source, problems: list[str]):
        self.src, self.list = src, problems

    def add(self, path: tuple, message: str) -> None:
        self.list.append(f"{self.src.where(path)}: {message}")


def _unknown_keys(p: _Problems, data: Mapping, valid: tuple, path: tuple, what: str) -> None:
    for key in data:
        if key not in valid:
            p.add(path + (key,), f"unknown key '{key}' in {what} (valid: {', '.join(valid)})")


def parse(src: yamlsrc.Source, timezone: str, channels: Mapping[str, Any],
          problems: list[str]) -> tuple[dict[str, Calendar], tuple[Policy, ...], dict[str, Hold]]:
    data = src.data if isinstance(src.data, dict) else {}
    p = _Problems(src, problems)
    cals = calendars(p, data.get("calendars") or {})
    policies = slas(p, data.get("slas") or [], cals)
    holds = {}
    for name, ch in channels.items():
        hold = channel_hold(p, ch, ("channels", name), cals, timezone)
        if hold is not None:
            holds[name] = hold
    return cals, policies, holds


# --- calendars ---------------------------------------------------------------------------

def calendars(p: _Problems, data: Any) -> dict[str, Calendar]:
    if not isinstance(data, dict):
        p.add(("calendars",), "'calendars' must be a mapping of name: {timezone, hours, holidays}")
        return {}
    out = {}
    for name, spec in data.items():
        path = ("calendars", name)
        if name == ALWAYS:
            p.add(path, f"'{ALWAYS}' is built in (every hour of every day): choose another name")
            continue
        cal = _calendar(p, str(name), spec, path)
        if cal is not None:
            out[str(name)] = cal
    return out


def _calendar(p: _Problems, name: str, spec: Any, path: tuple) -> Calendar | None:
    if not isinstance(spec, dict):
        p.add(path, f"calendar '{name}' must be a mapping: {{timezone: Asia/Kolkata, hours: "
                    "{mon-fri: [\"09:00-17:00\"]}, holidays: {country: IN}}")
        return None
    _unknown_keys(p, spec, CALENDAR_KEYS, path, f"calendar '{name}'")
    before = len(p.list)
    tz = spec.get("timezone", "UTC")
    try:
        ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError):
        p.add(path + ("timezone",), f"unknown time zone '{tz}' (an IANA name such as "
                                    "Asia/Kolkata, Europe/Berlin or UTC)")
    hours = spec.get("hours")
    week = None
    if not isinstance(hours, dict) or not hours:
        p.add(path + ("hours",), "'hours' must be a mapping of days: ranges, e.g. "
                                 "{mon-fri: [\"09:00-13:00\", \"14:00-18:00\"], sat: [\"10:00-14:00\"]}")
    else:
        week, bad = parse_hours(hours)
        for key, message in bad:
            p.add(path + ("hours",) + ((key,) if key else ()), f"calendar '{name}': {message}")
    dates = _holidays(p, spec.get("holidays"), path + ("holidays",))
    if len(p.list) != before or week is None:
        return None
    return Calendar(name, str(tz), week, frozenset(dates))


def _holidays(p: _Problems, spec: Any, path: tuple) -> set[date]:
    if spec is None:
        return set()
    if not isinstance(spec, dict):
        p.add(path, "'holidays' must be a mapping: {country: IN, subdiv: TN, dates: [2026-12-25]}")
        return set()
    _unknown_keys(p, spec, HOLIDAY_KEYS, path, "holidays")
    out: set[date] = set()
    for i, item in enumerate(spec.get("dates") or []):
        if isinstance(item, datetime):
            item = item.date()
        if isinstance(item, str):
            try:
                item = date.fromisoformat(item)
            except ValueError:
                pass
        if not isinstance(item, date):
            p.add(path + ("dates", i), f"'{item}' is not a date: write YYYY-MM-DD, e.g. 2026-12-25")
            continue
        out.add(item)
    country = spec.get("country")
    if country is not None:
        out |= _country_days(p, str(country), spec.get("subdiv"), path)
    return out


def _country_days(p: _Problems, country: str, subdiv: Any, path: tuple) -> set[date]:
    try:
        import holidays
    except ImportError:
        p.add(path + ("country",), "public holidays need the 'holidays' package: "
                                   "pip install 'syncd[time]' (or list the dates)")
        return set()
    supported = holidays.list_supported_countries()
    if country.upper() not in supported:
        p.add(path + ("country",), f"unknown country code '{country}' (an ISO 3166 code such "
                                   f"as IN, DE, US; valid: {', '.join(sorted(supported))})")
        return set()
    if subdiv is not None and str(subdiv) not in supported[country.upper()]:
        valid = ", ".join(supported[country.upper()]) or "none: leave subdiv out"
        p.add(path + ("subdiv",), f"unknown subdivision '{subdiv}' of {country.upper()} "
                                  f"(valid: {valid})")
        return set()
    year = date.today().year
    years = range(year - HOLIDAY_YEARS_BACK, year + HOLIDAY_YEARS_AHEAD + 1)
    found = holidays.country_holidays(country.upper(), subdiv=subdiv, years=years)
    return set(found.keys())


# --- SLA policies ------------------------------------------------------------------------

def slas(p: _Problems, data: Any, cals: Mapping[str, Calendar]) -> tuple[Policy, ...]:
    if not isinstance(data, list):
        p.add(("slas",), "'slas' must be a list of policies (the first whose 'if' matches applies)")
        return ()
    out, seen = [], set()
    for i, spec in enumerate(data):
        policy = _policy(p, spec, ("slas", i), cals)
        if policy is None:
            continue
        if policy.name in seen:
            p.add(("slas", i, "name"), f"duplicate SLA policy name '{policy.name}'")
        seen.add(policy.name)
        out.append(policy)
    return tuple(out)


def _policy(p: _Problems, spec: Any, path: tuple, cals: Mapping[str, Calendar]) -> Policy | None:
    if not isinstance(spec, dict):
        p.add(path, "an SLA policy is a mapping: {name, if, calendar, first_response, ...}")
        return None
    _unknown_keys(p, spec, SLA_KEYS, path, "an SLA policy")
    before = len(p.list)
    name = spec.get("name")
    if not isinstance(name, str) or not name.strip():
        p.add(path, "an SLA policy needs a 'name'")
    calendar = spec.get("calendar", ALWAYS)
    if calendar != ALWAYS and calendar not in cals:
        known = ", ".join([ALWAYS] + sorted(cals))
        p.add(path + ("calendar",), f"unknown calendar '{calendar}' (calendars: {known})")
    targets = {}
    for target in TARGETS:
        if spec.get(target) is None:
            continue
        try:
            targets[target] = parse_duration(spec[target])
        except ValueError as exc:
            p.add(path + (target,), f"{target}: {exc}")
    if not targets and len(p.list) == before:
        p.add(path, f"SLA policy '{name}' sets no target (give first_response, next_response "
                    f"or resolution as {DURATION_FORM})")
    warn = _percent(p, spec.get("warn_at"), path + ("warn_at",))
    tags = spec.get("pause_tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
        p.add(path + ("pause_tags",), "'pause_tags' must be a list of tags, e.g. [waiting-on-author]")
        tags = []
    statuses = spec.get("pause_statuses") or []
    if not isinstance(statuses, list) or any(s not in PAUSE_STATUSES for s in statuses):
        p.add(path + ("pause_statuses",), f"'pause_statuses' must be a list of: "
                                          f"{', '.join(PAUSE_STATUSES)}")
        statuses = []
    matches = _matcher(p, spec.get("if"), path + ("if",))
    if len(p.list) != before:
        return None
    return Policy(name, calendar, targets, warn, frozenset(t.lower() for t in tags),
                  frozenset(statuses), matches)


def _percent(p: _Problems, value: Any, path: tuple) -> float | None:
    if value is None:
        return None
    text = str(value).strip()
    try:
        number = float(text[:-1] if text.endswith("%") else text)
    except ValueError:
        number = -1
    if not 0 < number < 100:
        p.add(path, f"'warn_at' must be a percentage of the target, e.g. 80%, not {value!r}")
        return None
    return number / 100


def _matcher(p: _Problems, value: Any, path: tuple):
    """The rules engine's own conditions, compiled as a rule's ``if`` is."""
    if value is None:
        return lambda ticket, category: True
    from syncd.rules.conditions import Facts, holds
    from syncd.rules.loader import compile_conditions
    from syncd.core.tickets import Change
    conds = compile_conditions(p.src, value, path, p.list)
    probe = Change("sla_policy")
    return lambda ticket, category: holds(conds, Facts(ticket, probe, category))


# --- channels: quiet hours and digests -------------------------------------------------------

def channel_hold(p: _Problems, ch: Any, path: tuple, cals: Mapping[str, Calendar],
                 timezone: str) -> Hold | None:
    quiet, digest = getattr(ch, "quiet_hours", None), getattr(ch, "digest", None)
    if quiet is None and digest is None:
        return None
    quiet_cal = None
    if quiet is not None:
        quiet_cal = _calendar_ref(p, quiet, path + ("quiet_hours",), cals,
                                  "quiet_hours: {calendar: office}")
    below, at = None, None
    if digest is not None:
        below, at = _digest(p, digest, path + ("digest",), cals, timezone)
    return Hold(quiet_cal, below, at)


def _calendar_ref(p: _Problems, spec: Any, path: tuple, cals: Mapping[str, Calendar],
                  form: str) -> Calendar | None:
    name = spec.get("calendar") if isinstance(spec, dict) else None
    if name is None:
        p.add(path, f"name a calendar: {form}")
        return None
    if name not in cals:
        p.add(path + ("calendar",), f"unknown calendar '{name}' (calendars: "
                                    f"{', '.join(sorted(cals)) or 'none are configured'})")
        return None
    return cals[name]


def _digest(p: _Problems, spec: Any, path: tuple, cals: Mapping[str, Calendar],
            timezone: str) -> tuple[str | None, Schedule | None]:
    form = "digest: {below: high, at: [\"09:00\"], calendar: office}"
    if not isinstance(spec, dict):
        p.add(path, f"'digest' must be a mapping: {form}")
        return None, None
    _unknown_keys(p, spec, ("below", "at", "calendar"), path, "digest")
    below = spec.get("below", "high")
    if below not in PRIORITIES:
        p.add(path + ("below",), f"'below' must be a priority ({', '.join(PRIORITIES)}): "
                                 "notifications below it wait for the digest")
    times = spec.get("at")
    times = [times] if isinstance(times, str) else times
    minutes = []
    if not isinstance(times, list) or not times:
        p.add(path + ("at",), f"'at' must list the digest's times: {form}")
        times = []
    for i, t in enumerate(times):
        try:
            minutes.append(parse_time(t))
        except ValueError as exc:
            p.add(path + ("at", i), str(exc))
    cal = None
    if spec.get("calendar") is not None:
        cal = _calendar_ref(p, spec, path, cals, form)
    return below, Schedule(frozenset(range(7)), tuple(sorted(set(minutes))) or (540,),
                           timezone, cal, ",".join(map(str, times)))
