"""What a scheduled rule and a digest send: one notification about many tickets.

``plan_summary`` builds a scheduled rule's notify params over the open tickets its ``if``
matches: counts by priority, the tickets breaching an SLA, the oldest ones. Its text
template sees ``event.counts``, ``event.total``, ``event.breaching`` and ``event.tickets``.
``digest_params`` gathers held notifications of one channel into one digest. Private
tickets appear by number only.
"""
from __future__ import annotations

from typing import Any

from syncd.core import sla
from syncd.core.tickets import PRIORITIES, Change, Ticket
from syncd.rules.conditions import Facts, holds
from syncd.rules.templates import TemplateFailed
from syncd.store import categories, timers
from syncd.store import tickets as ticketstore

ITEMS = 20
OPEN = ("open", "answered")


def _title(ticket: dict[str, Any]) -> str:
    if ticket.get("visibility") == "private" or ticket.get("private"):
        return f"Private ticket #{ticket.get('id')}"
    return str(ticket.get("title") or f"Ticket {ticket.get('id')}")


def _item(t: Ticket, snap: dict | None) -> dict[str, Any]:
    d = {"id": t.id, "url": t.url, "priority": t.priority, "status": t.status,
         "created_at": t.created_at, "visibility": t.visibility, "sla": snap}
    d["title"] = _title({**d, "title": t.title})
    return d


def open_tickets(conn, scheduler: Any, rule: Any, now) -> list[tuple[Ticket, dict | None]]:
    cats = categories.load(conn, scheduler.settings.discourse.category_map).by_id
    found = [t for status in OPEN for t in ticketstore.query(conn, status)]
    probe = Change("schedule", source="timer")
    found = [t for t in found if holds(rule.conditions, Facts(t, probe, cats.get(t.category_id)))]
    states = timers.load_slas(conn, [t.id for t in found])
    book = scheduler.keeper.book
    return [(t, sla.snapshot(sla.SlaState.from_dict(states.get(t.id)), book, now)) for t in found]


def plan_summary(conn, scheduler: Any, rule: Any, now, late: bool) -> list[dict[str, Any]]:
    """One notify params dict per ``notify`` action of the scheduled rule."""
    from syncd.clock import iso
    pairs = open_tickets(conn, scheduler, rule, now)
    pairs.sort(key=lambda p: (-PRIORITIES.index(p[0].priority), p[0].created_at or ""))
    counts = {p: 0 for p in reversed(PRIORITIES)}
    for t, _ in pairs:
        counts[t.priority] = counts.get(t.priority, 0) + 1
    breaching = [_item(t, s) for t, s in pairs if sla.breaching(s)]
    items = [_item(t, s) for t, s in pairs]
    at = iso(now)
    event = {"name": "schedule", "at": at, "late": late, "schedule": rule.timing.schedule,
             "counts": counts, "total": len(pairs), "breaching": breaching[:ITEMS],
             "breaching_total": len(breaching), "tickets": items[:ITEMS], "target": None}
    ticket = {"id": 0, "title": rule.description or rule.name, "priority": "normal",
              "status": "open", "tags": []}
    out = []
    for action in rule.actions:
        params = action.params
        text = None
        if params.get("text") is not None:
            try:
                text = params["text"].render({"ticket": ticket, "event": event,
                                              "rule": {"name": rule.name,
                                                       "description": rule.description},
                                              "similar": []}, scheduler.settings.tz)
            except TemplateFailed as exc:
                text = f"{rule.name}: template failed ({exc})"
        out.append({"channel": params["channel"], "text": text or default_text(event),
                    "ticket": ticket, "event": {"name": "schedule", "at": at},
                    "summary": {"counts": counts, "total": len(pairs),
                                "breaching": breaching[:ITEMS],
                                "breaching_total": len(breaching)},
                    "private": False})
    return out


def default_text(event: dict[str, Any]) -> str:
    counts = ", ".join(f"{n} {p}" for p, n in event["counts"].items() if n)
    text = f"{event['total']} open tickets" + (f" ({counts})" if counts else "")
    if event["breaching_total"]:
        text += f"; {event['breaching_total']} past an SLA due time"
    return text


def digest_params(channel: str, held: list[dict[str, Any]], at: str) -> dict[str, Any]:
    items = []
    for h in held:
        p = h["params"]
        t = p.get("ticket") or {}
        private = bool(p.get("private")) or t.get("visibility") == "private"
        items.append({"id": t.get("id"), "title": _title({**t, "private": private}),
                      "url": t.get("url"), "priority": t.get("priority") or "normal",
                      "status": t.get("status"), "event": (p.get("event") or {}).get("name"),
                      "at": (p.get("event") or {}).get("at"),
                      "text": None if private else p.get("text")})
    n = len(items)
    return {"channel": channel, "text": f"Digest: {n} notification{'s' if n != 1 else ''}",
            "ticket": {"id": 0, "title": f"Digest of {n} notification{'s' if n != 1 else ''}",
                       "priority": "normal"},
            "event": {"name": "digest", "at": at}, "digest": items, "private": False}
