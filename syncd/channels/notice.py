"""What every channel type says about a ticket, read once from a notify action's params.

``facts(params, tz)`` gives the plain values (title, link, priority, category, tags, time,
the question unless the ticket is private) that each type then lays out and escapes for its
own markup; ``document(action, channel)`` is the JSON that machine destinations (SQS,
webhooks) receive, the same for both.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from syncd.channels.gchat import _tags, when
from syncd.channels.log import summary
from syncd.core.marks import unmark

BODY_CHARS = 600
PRIORITY_MARK = {"urgent": "🔴", "high": "🟠", "normal": "🔵", "low": "⚪"}


@dataclass(frozen=True)
class Facts:
    id: Any
    title: str
    url: str | None
    priority: str
    category: str
    tags: list[str]
    author: str
    status: str
    event: str
    at: str
    headline: str          # one line, no markup: the fallback text everywhere
    text: str | None       # the rule's rendered text, if any, its values marked (core/marks.py)
    body: str | None       # the question, cut; None for a private ticket
    private: bool


UTC = ZoneInfo("UTC")


def facts(params: dict[str, Any], tz: ZoneInfo = UTC) -> Facts:
    ticket, event = params.get("ticket") or {}, params.get("event") or {}
    private = bool(params.get("private") or ticket.get("visibility") == "private")
    raw = "" if private else str(ticket.get("body") or "").strip()
    body = raw[:BODY_CHARS] + ("…" if len(raw) > BODY_CHARS else "") if raw else None
    return Facts(
        id=ticket.get("id"), title=str(ticket.get("title") or f"Ticket {ticket.get('id')}"),
        url=ticket.get("url") or None, priority=str(ticket.get("priority") or "normal"),
        category=str(ticket.get("category") or ticket.get("category_id") or "-"),
        tags=[t for t in _tags(ticket.get("tags")) if t], author=str(ticket.get("author") or "-"),
        status=str(ticket.get("status") or "open"),
        event=str(event.get("name") or "").replace("_", " "), at=when(event.get("at"), tz),
        headline=summary(params), text=params.get("text") or None, body=body, private=private)


def many(params: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The tickets of a digest or a scheduled summary (``timers/summaries.py``), None for one ticket."""
    if params.get("digest") is not None:
        return list(params["digest"])
    if params.get("summary") is not None:
        return list((params["summary"] or {}).get("breaching") or [])
    return None


def document(action: Any, channel: str) -> dict[str, Any]:
    """The notification as JSON (``type``, ``timestamp``, ``data``: Standard Webhooks'
    recommended envelope), with the whole ticket as syncd knows it."""
    params = action.params
    event = params.get("event") or {}
    return {
        "type": f"ticket.{event.get('name') or 'notification'}",
        "timestamp": event.get("at") or action.created_at,
        "data": {"action_id": action.key, "channel": channel, "rule": action.rule,
                 "text": unmark(params.get("text")), "private": bool(params.get("private")),
                 "event": event, "ticket": params.get("ticket") or {},
                 **{k: params[k] for k in ("digest", "summary") if params.get(k) is not None}},
    }
