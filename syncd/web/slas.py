"""The SLA side of the staff pages: each ticket's SLA snapshot (``core.sla``), its state in
one word (``core.sla_state``) and its due times, in the site's zone."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from syncd.core import sla
from syncd.core.sla_state import STATES, next_due, state_of
from syncd.store import timers
from syncd.web.pages import local_time


def book(settings: Any) -> sla.Book | None:
    return sla.Book(tuple(settings.slas), dict(settings.calendars)) if settings.slas else None


def annotate(conn, settings: Any, found: list[dict[str, Any]], now: datetime) -> list[dict]:
    """Give each ticket row ``sla`` (snapshot or None), ``sla_state`` and ``sla_due`` (text)."""
    b = book(settings)
    states = timers.load_slas(conn, [t["id"] for t in found]) if b is not None else {}
    warn = {p.name: p.warn_at for p in settings.slas}
    for t in found:
        snap = (sla.snapshot(sla.SlaState.from_dict(states[t["id"]]), b, now)
                if t["id"] in states else None)
        t["sla"] = snap
        t["sla_state"] = state_of(snap, warn.get((snap or {}).get("policy")))
        t["sla_label"] = STATES[t["sla_state"]]
        due = next_due(snap)
        t["sla_due"] = (f"{due[0].replace('_', ' ')} due {local_time(due[1], settings.tz)}"
                        if due else "")
    return found


def rows_for_page(snap: dict[str, Any] | None, settings: Any, now: datetime) -> list[dict]:
    """The ticket page's SLA table: one row a target with its state and due time."""
    out = []
    for name, t in ((snap or {}).get("targets") or {}).items():
        out.append({"target": name.replace("_", " "), "status": t["status"].replace("_", " "),
                    "due": local_time(t.get("due_at"), settings.tz) if t.get("due_at") else "–"})
    return out


def summary(snap: dict[str, Any] | None, settings: Any, now: datetime) -> list[str]:
    return sla.lines(snap, settings.tz, now)
