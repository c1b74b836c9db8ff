"""Microsoft Teams through a Workflows (Power Automate) webhook: one Adaptive Card 1.4 a
notification, in the message envelope that the "Post to a channel when a webhook request is
received" template reads (``type: message``, ``attachments[0].content``).

- MessageCard is not sent at all: it works only on the retiring Office 365 connectors.
- Student text goes into ``TextRun``s of a ``RichTextBlock``, which Teams shows as typed
  (a ``TextBlock`` would render its markdown, links included).
- Teams offers no idempotency key: a crash between the flow's 202 and the outbox's commit
  can post one card twice (docs/channels.md says so).
- The flow URL carries a signature (``sig=``): it is never logged.
- The connector era allowed 4 requests a second and 28 KB a message; flows have no published
  per-URL limit, so the default is a cautious 60 a minute.
"""
from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from syncd.channels import markup, register
from syncd.channels.notice import PRIORITY_MARK, facts, many
from syncd.channels.transport import HttpNotifier, body_text
from syncd.errors import TransientError

CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
MAX_BYTES = 28 * 1024
COLOURS = {"urgent": "Attention", "high": "Warning", "normal": "Accent", "low": "Default"}


def _run(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextRun", "text": text, **style}


def card(params: dict[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    """The Adaptive Card of a notification (pure)."""
    f = facts(params, tz)
    title = [_run(f.title, weight="Bolder", size="Large", **({"selectAction": {
        "type": "Action.OpenUrl", "url": f.url}} if f.url else {}))]
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": f"{PRIORITY_MARK.get(f.priority, '')} {f.priority.upper()} "
                                      f"priority · #{f.id} · {f.event or 'notification'}".strip(),
         "color": COLOURS.get(f.priority, "Default"), "weight": "Bolder", "wrap": True,
         "spacing": "None"},
        {"type": "RichTextBlock", "inlines": title},
        {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in (
            ("Category", f.category), ("Tags", ", ".join(f.tags) or "none"), ("Status", f.status),
            ("Author", f"@{f.author}"), ("When", f.at))]},
    ]
    if f.text:
        body.append({"type": "RichTextBlock", "inlines": [_run(markup.plain(f.text)[:2000])]})
    items = many(params)
    if items is not None:
        body = body[:2] + body[3:] + [{"type": "FactSet", "facts": [
            {"title": f"{str(i.get('priority') or 'normal').upper()} #{i.get('id')}",
             "value": str(i.get("title") or "")} for i in items[:20]] or [
            {"title": "Tickets", "value": "none"}]}]
    elif f.private:
        body.append({"type": "RichTextBlock", "inlines": [
            _run("Private ticket: the text is not shown here.", italic=True, isSubtle=True)]})
    elif f.body:
        body.append({"type": "Container", "style": "emphasis", "items": [
            {"type": "RichTextBlock", "inlines": [_run(f.body)]}]})
    out: dict[str, Any] = {"$schema": CARD_SCHEMA, "type": "AdaptiveCard", "version": "1.4",
                           "fallbackText": f.headline, "body": body}
    if f.url:
        out["actions"] = [{"type": "Action.OpenUrl", "title": "Open in Discourse", "url": f.url}]
    return out


def envelope(content: dict[str, Any]) -> dict[str, Any]:
    return {"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
        "content": content}]}


@register("teams")
class TeamsNotifier(HttpNotifier):
    """Posts Adaptive Cards to a Workflows webhook."""

    SERVICE = "Teams"
    CONFIG: dict[str, Any] = {}

    def render(self, action: Any) -> dict[str, Any]:
        return envelope(card(action.params, getattr(self.settings, "tz", ZoneInfo("UTC"))))

    def send(self, action: Any) -> dict[str, Any]:
        response = self.post(self.channel.url, json=self.render(action))
        if response.status_code in (200, 201, 202):
            return {"status": response.status_code}
        said = body_text(response, 200)
        if "HTTP error 429" in said:   # connectors answer 200/4xx with this text instead of 429
            raise TransientError(f"channel {self.name}: Teams rate limit", 15.0)
        transient = self.transient_or_none(response, said, default_wait=15.0)
        if transient:
            raise transient
        status = response.status_code
        reasons = {
            400: f"the flow refused the card ({said or 'no reason given'}): check that the flow "
                 "posts attachments[0].content as an Adaptive Card, or report a syncd bug",
            401: "the flow's URL is not valid any more (its signature changed?): update `url`",
            403: "the flow does not accept calls from outside: set its trigger's 'Who can "
                 "trigger the flow' to Anyone, or update `url`",
            404: "the flow or its trigger no longer exists: create it again and update `url`",
            410: "the flow or its trigger no longer exists: create it again and update `url`",
            413: "the card is larger than Teams takes (28 KB): please report it as a syncd bug",
        }
        raise self.refused(status, reasons.get(status, f"Teams refused the card: {said or status}"))
