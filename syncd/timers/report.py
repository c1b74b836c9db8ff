"""Reports: tickets opened and resolved, first-response and resolution times in business
hours (median, p90), SLA attainment per policy. ``syncd report`` prints them; the scheduler
keeps the same figures as Prometheus gauges on ``/metrics``.

Times are business time on the ticket's SLA policy's calendar (24x7 for tickets without a
policy, or the calendar named with ``--calendar``). Attainment counts each target that was
met or breached: met means met within its target.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Gauge

from syncd import metrics
from syncd.clock import iso, parse
from syncd.core import sla
from syncd.core.calendar import Calendar
from syncd.store import categories

GROUPINGS = ("category", "priority")
HOUR = 3600.0

TICKETS = Gauge("syncd_report_tickets", "Tickets opened or resolved in the last 30 days",
                ["kind"], registry=metrics.REGISTRY)
TIMES = Gauge("syncd_report_business_hours", "First-response and resolution times of the last "
              "30 days in business hours", ["measure", "quantile"], registry=metrics.REGISTRY)
ATTAINMENT = Gauge("syncd_sla_attainment_ratio", "SLA targets met within target over those met "
                   "or breached, last 30 days", ["policy", "target"], registry=metrics.REGISTRY)
BREACHING = Gauge("syncd_sla_breaching_tickets", "Open tickets past an SLA due time now",
                  ["policy", "target"], registry=metrics.REGISTRY)


def quantile(values: list[float], q: float) -> float | None:
    """Linear interpolation between the closest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def _stats(seconds: list[float]) -> dict[str, Any]:
    hours = [s / HOUR for s in seconds]
    med, p90 = quantile(hours, 0.5), quantile(hours, 0.9)
    return {"count": len(hours), "median_hours": None if med is None else round(med, 2),
            "p90_hours": None if p90 is None else round(p90, 2)}


def build(conn, settings: Any, since: datetime, now: datetime, by: str | None = None,
          calendar: Calendar | None = None,
          breaching: dict[tuple[str, str], int] | None = None) -> dict[str, Any]:
    """The report; ``breaching`` (when given) also counts open tickets past a due time."""
    book = sla.Book(tuple(settings.slas), dict(settings.calendars))
    slugs = categories.load(conn, settings.discourse.category_map).by_id
    start = iso(since)
    found = conn.execute(
        "SELECT t.id, t.priority, t.category_id, t.created_at, t.first_response_at, "
        "t.resolved_at, t.status, s.state FROM tickets t LEFT JOIN ticket_slas s "
        "ON s.ticket_id = t.id WHERE t.deleted = 0 AND (t.created_at >= ? OR t.resolved_at >= ?)",
        (start, start)).fetchall()
    groups: dict[str, dict[str, Any]] = {}
    attain: dict[tuple[str, str], list[int]] = {}
    for _, priority, cat, created, first, resolved, status, state_json in found:
        key = "all" if by is None else (str(slugs.get(cat, cat)) if by == "category" else priority)
        g = groups.setdefault(key, {"opened": 0, "resolved": 0, "first": [], "resolution": []})
        state = sla.SlaState.from_dict(json.loads(state_json)) if state_json else sla.SlaState()
        cal = calendar or book.calendar_of(book.named(state.policy))
        if created and created >= start:
            g["opened"] += 1
            if first:
                g["first"].append(cal.between(parse(created), parse(first)))
        if resolved and resolved >= start and created:
            g["resolved"] += 1
            g["resolution"].append(cal.between(parse(created), parse(resolved)))
        if created and created >= start:
            snap = _attainment(state, book, now, attain)
            if breaching is not None and status in ("open", "answered"):
                _count_breaching(snap, breaching)
    return {
        "since": start, "until": iso(now), "by": by,
        "groups": {k: {"opened": g["opened"], "resolved": g["resolved"],
                       "first_response": _stats(g["first"]),
                       "resolution": _stats(g["resolution"])}
                   for k, g in sorted(groups.items())},
        "sla": [{"policy": p, "target": t, "met": v[0], "breached": v[1],
                 "attainment": round(v[0] / (v[0] + v[1]), 4) if v[0] + v[1] else None}
                for (p, t), v in sorted(attain.items())],
    }


def _count_breaching(snap: dict | None, out: dict[tuple[str, str], int]) -> None:
    for target, t in (snap or {}).get("targets", {}).items():
        if t["status"] == "breached":
            out[(snap["policy"], target)] = out.get((snap["policy"], target), 0) + 1


def _attainment(state: sla.SlaState, book: sla.Book, now: datetime,
                out: dict[tuple[str, str], list[int]]) -> dict | None:
    snap = sla.snapshot(state, book, now)
    if not snap:
        return None
    for target, t in snap["targets"].items():
        cell = out.setdefault((snap["policy"], target), [0, 0])
        if t["status"] == "met":
            cell[0] += 1
        elif t["status"] in ("met_late", "breached"):
            cell[1] += 1
    return snap


def refresh_gauges(conn, settings: Any, now: datetime) -> None:
    """The last 30 days' figures and the open tickets breaching now, as gauges."""
    book = sla.Book(tuple(settings.slas), dict(settings.calendars))
    counts: dict[tuple[str, str], int] = {(p.name, t): 0 for p in book.policies for t in p.targets}
    since = now - timedelta(days=30)
    data = build(conn, settings, since, now, breaching=counts)
    g = data["groups"].get("all") or {"opened": 0, "resolved": 0, "first_response": {},
                                      "resolution": {}}
    TICKETS.labels("opened").set(g["opened"])
    TICKETS.labels("resolved").set(g["resolved"])
    for measure in ("first_response", "resolution"):
        for q, key in (("0.5", "median_hours"), ("0.9", "p90_hours")):
            value = (g.get(measure) or {}).get(key)
            TIMES.labels(measure, q).set(float("nan") if value is None else value)
    for row in data["sla"]:
        if row["attainment"] is not None:
            ATTAINMENT.labels(row["policy"], row["target"]).set(row["attainment"])
    for (state_json,) in conn.execute(     # open tickets older than the window
            "SELECT s.state FROM ticket_slas s JOIN tickets t ON t.id = s.ticket_id "
            "WHERE t.status IN ('open', 'answered') AND t.created_at < ?", (iso(since),)):
        _count_breaching(sla.snapshot(sla.SlaState.from_dict(json.loads(state_json)), book, now),
                         counts)
    for (policy, target), n in counts.items():
        BREACHING.labels(policy, target).set(n)
