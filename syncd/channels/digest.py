"""Google Chat cards for notifications about many tickets: a channel's digest and a
scheduled rule's summary (counts by priority, tickets past an SLA due time). Pure."""
from __future__ import annotations

import html
from typing import Any

ROWS = 20


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _row(item: dict[str, Any]) -> dict[str, Any]:
    title = _esc(item.get("title") or f"Ticket {item.get('id')}")
    link = f'<a href="{_esc(item["url"])}">{title}</a>' if item.get("url") else title
    bits = [str(item.get("priority") or "normal").upper(), f"#{item.get('id')}"]
    if item.get("event"):
        bits.append(str(item["event"]).replace("_", " "))
    text = link + (f"<br>{_esc(str(item['text'])[:300])}" if item.get("text") else "")
    return {"decoratedText": {"topLabel": " · ".join(bits), "text": text, "wrapText": True}}


def sections(params: dict[str, Any]) -> list[dict[str, Any]]:
    """The card sections of a digest (``params['digest']``) or a summary (``['summary']``)."""
    out: list[dict[str, Any]] = []
    if params.get("text"):
        out.append({"widgets": [{"textParagraph": {"text": _esc(params["text"][:4000])}}]})
    if params.get("digest") is not None:
        items = params["digest"]
        out.append({"header": f"{len(items)} held notification{'s' if len(items) != 1 else ''}",
                    "widgets": [_row(i) for i in items[:ROWS]] or
                    [{"textParagraph": {"text": "nothing was held"}}]})
        if len(items) > ROWS:
            out.append({"widgets": [{"textParagraph": {"text": f"… and {len(items) - ROWS} more"}}]})
        return out
    summary = params.get("summary") or {}
    counts = summary.get("counts") or {}
    out.append({"header": f"Open tickets: {summary.get('total', 0)}", "widgets": [
        {"decoratedText": {"topLabel": str(p).upper(), "text": str(n)}} for p, n in counts.items()]})
    breaching = summary.get("breaching") or []
    if breaching:
        out.append({"header": f"Past an SLA due time: {summary.get('breaching_total', len(breaching))}",
                    "widgets": [_row(i) for i in breaching[:ROWS]]})
    return out


def header(params: dict[str, Any], at: str) -> dict[str, str]:
    title = (params.get("ticket") or {}).get("title") or "Open tickets"
    kind = "Digest" if params.get("digest") is not None else "Scheduled report"
    return {"title": str(title)[:200], "subtitle": f"{kind} · {at}"}


def is_many(params: dict[str, Any]) -> bool:
    return params.get("digest") is not None or params.get("summary") is not None
