"""Google Chat through a space's incoming webhook: one cardsV2 card a notification.

- Every notification about a ticket goes into one thread: ``thread.threadKey`` is
  ``syncd-ticket-<id>`` and ``messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD``.
- ``requestId`` is derived from the action, so a resend after a crash returns the first
  message instead of posting a second one.
- A token bucket per channel (``messages_per_minute``, Google allows 60 writes a minute per
  space) paces sends, so a backlog drains without bursts of 429.
- The webhook URL carries the space's key and token: it is never logged, and no error
  message that leaves this module contains it.
"""
from __future__ import annotations

import threading
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import requests

from syncd.clock import parse, utcnow
from syncd.errors import PermanentError, TransientError
from syncd.channels import markup, register
from syncd.core.marks import unmark
from syncd.channels import digest
from syncd.channels.log import summary
from syncd.core.sla import lines as sla_lines
from syncd.outbox.pacing import TokenBucket

REPLY_OPTION = "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"
TIMEOUT_SECONDS = 10.0
MAX_INLINE_WAIT = 5.0      # longer waits for a token go back to the outbox
PACE = 0.98                # stay just under the space's limit: other apps share it
BODY_CHARS = 600
TEXT_CHARS = 4000
DEFAULT_RETRY_AFTER = 30.0


def thread_key(ticket_id: Any) -> str:
    return f"syncd-ticket-{ticket_id}"


def _esc(value: Any) -> str:
    """Student text inside a card widget (Chat's HTML subset)."""
    return markup.html(value)


def _tags(tags: Any) -> list[str]:
    return [t.get("name") or t.get("slug") if isinstance(t, dict) else str(t) for t in tags or []]


def when(at: str | None, tz: ZoneInfo) -> str:
    """An event time in the configured zone: ``2 Mar 2026, 14:44 IST``."""
    try:
        moment = parse(at) if at else utcnow()
    except (TypeError, ValueError):   # not a time: show it as it came, never fail the send
        return str(at)[:40]
    local = moment.astimezone(tz)
    return f"{local.day} {local:%b %Y, %H:%M} {local.tzname()}"


def _field(label: str, text: str) -> dict[str, Any]:
    return {"decoratedText": {"topLabel": label, "text": text or "-", "wrapText": True}}


def _fields(ticket: dict[str, Any], event: dict[str, Any], tz: ZoneInfo) -> list[dict[str, Any]]:
    title = _esc(ticket.get("title") or f"Ticket {ticket.get('id')}")
    link = f'<a href="{_esc(ticket["url"])}">{title}</a>' if ticket.get("url") else title
    event_name = str(event.get("name") or "").replace("_", " ")
    return [
        _field("Ticket", link),
        _field("Priority", _esc(ticket.get("priority") or "normal")),
        _field("Category", _esc(ticket.get("category") or ticket.get("category_id") or "-")),
        _field("Tags", _esc(", ".join(_tags(ticket.get("tags"))) or "none")),
        _field("Author", _esc(_asked_by(ticket) or ticket.get("author") or "-")),
        _field("Likes", str(int(ticket.get("likes") or 0))),
        _field("Status", _esc(ticket.get("status") or "open")),
        _field("Event", f"{_esc(event_name)} · {_esc(when(event.get('at'), tz))}"),
    ] + _sla(ticket, tz)


def _sla(ticket: dict[str, Any], tz: ZoneInfo) -> list[dict[str, Any]]:
    """``first response due 14:00, in 2 h`` when the ticket has an SLA policy."""
    said = sla_lines(ticket.get("sla"), tz, utcnow())
    return [_field("SLA", _esc("; ".join(said)))] if said else []


def _asked_by(ticket: dict[str, Any]) -> str | None:
    """Intake tickets (Teams, a form): who asked, rather than the API user who posted."""
    requester = ticket.get("requester") or {}
    if not requester.get("name") or ticket.get("source") in (None, "discourse"):
        return None
    via = {"teams": "Teams", "form": "form"}.get(ticket["source"], ticket["source"])
    return f"{requester['name']} (via {via})"


def _sections(params: dict[str, Any], tz: ZoneInfo) -> list[dict[str, Any]]:
    ticket, event = params.get("ticket") or {}, params.get("event") or {}
    sections: list[dict[str, Any]] = [{"widgets": _fields(ticket, event, tz)}]
    if params.get("text"):
        sections.append({"widgets": [{"textParagraph": {
            "text": _esc(unmark(params["text"])[:TEXT_CHARS])}}]})
    private = params.get("private") or ticket.get("visibility") == "private"
    body = "" if private else (ticket.get("body") or "").strip()
    if private:
        sections.append({"widgets": [{"textParagraph": {"text": "<i>Private ticket: the text "
                                                        "is not shown here.</i>"}}]})
    elif body:
        cut = body[:BODY_CHARS] + ("…" if len(body) > BODY_CHARS else "")
        sections.append({"header": "Question", "widgets": [{"textParagraph": {"text": _esc(cut)}}]})
    if ticket.get("url"):
        button = {"text": "Open in Discourse", "onClick": {"openLink": {"url": ticket["url"]}}}
        sections.append({"widgets": [{"buttonList": {"buttons": [button]}}]})
    return sections


def _text(rule_text: str | None, headline: str) -> str:
    """A rule's notify text keeps the admin's Chat formatting; the values it interpolated
    (student text, marked in ``text_marked``) are escaped. Without one, the headline,
    escaped whole."""
    if rule_text:
        return markup.chat_marked(rule_text)[:TEXT_CHARS]
    return markup.chat(headline)[:TEXT_CHARS]


def message(params: dict[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    """The Chat ``Message`` for a notify action's params (pure)."""
    ticket, event = params.get("ticket") or {}, params.get("event") or {}
    headline = summary(params)
    event_name = str(event.get("name") or "").replace("_", " ")
    header = {"title": markup.chat(str(ticket.get("title") or f"Ticket {ticket.get('id')}")[:200]),
              "subtitle": markup.chat(f"{str(ticket.get('priority') or 'normal').upper()} "
                                      f"priority · #{ticket.get('id')} · {event_name}")}
    if digest.is_many(params):
        header = digest.header(params, when(event.get("at"), tz))
    card = {"header": header, "sections": digest.sections(params) if digest.is_many(params)
            else _sections(params, tz)}
    return {  # text and fallbackText are Chat markup: student text in them is escaped
        "text": _text(params.get("text_marked") or params.get("text"), headline),
        "fallbackText": markup.chat(headline),
        "cardsV2": [{"cardId": f"ticket-{ticket.get('id')}", "card": card}],
        "thread": {"threadKey": thread_key(ticket.get("id")) if ticket.get("id")
                   else f"syncd-{event_name.replace(' ', '-') or 'summary'}"},
    }


def request_url(webhook_url: str, request_id: str) -> str:
    """The webhook URL with the thread option and the request id added to its query."""
    parts = urlsplit(webhook_url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k not in ("messageReplyOption", "requestId", "threadKey")]
    query += [("messageReplyOption", REPLY_OPTION), ("requestId", request_id)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def retry_after(response: requests.Response, default: float | None = None) -> float | None:
    """``Retry-After`` in seconds (a number or an HTTP date)."""
    value = response.headers.get("Retry-After")
    if not value:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, (parsedate_to_datetime(value) - datetime.now(tz=ZoneInfo("UTC")))
                       .total_seconds())
        except (TypeError, ValueError):
            return default


def _google_error(response: requests.Response) -> str:
    try:
        return str((response.json().get("error") or {}).get("message") or "")[:300]
    except ValueError:
        return ""


def refusal(name: str, response: requests.Response) -> Exception:
    """Turn a non-2xx answer into TransientError or PermanentError (no URL inside)."""
    status, detail = response.status_code, _google_error(response)
    said = f": {detail}" if detail else ""
    if status == 429:
        return TransientError(f"channel {name}: Google Chat rate limit (429){said}",
                              retry_after(response, DEFAULT_RETRY_AFTER))
    if status >= 500 or status == 408:
        return TransientError(f"channel {name}: Google Chat answered {status}{said}",
                              retry_after(response))
    reasons = {401: "the webhook's key or token is not valid any more (rotated?): update its url",
               403: "the webhook may not post to this space any more: update its url",
               404: "the space or its webhook no longer exists: update its url",
               410: "the space or its webhook no longer exists: update its url"}
    reason = reasons.get(status, f"Google Chat refused the message{said}")
    return PermanentError(f"channel {name}: {status}: {reason}", status)


@register("gchat")
class GoogleChatNotifier:
    """Posts cards to one space's incoming webhook, paced by a token bucket."""

    def __init__(self, channel: Any, settings: Any, bucket: TokenBucket | None = None,
                 timeout: float = TIMEOUT_SECONDS):
        self.channel, self.name = channel, channel.name
        self.tz = getattr(settings, "tz", ZoneInfo("UTC"))
        self.bucket = bucket or TokenBucket(channel.messages_per_minute * PACE, capacity=1)
        self.timeout = timeout
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def render(self, action: Any) -> dict[str, Any]:
        return message(action.params, self.tz)

    def send(self, action: Any) -> dict[str, Any]:
        waited = self.bucket.acquire(max_wait=MAX_INLINE_WAIT)
        if waited is None:
            raise TransientError(f"channel {self.name}: paced (rate limit)",
                                 self.bucket.wait_needed())
        url = request_url(self.channel.url, f"syncd-{action.key}")
        try:
            response = self._session().post(url, json=self.render(action), timeout=self.timeout,
                                            headers={"Content-Type": "application/json; charset=UTF-8"})
        except requests.RequestException as exc:  # its text holds the URL: never pass it on
            raise TransientError(f"channel {self.name}: cannot reach Google Chat "
                                 f"({type(exc).__name__})") from None
        if response.status_code == 429:
            self.bucket.pause(retry_after(response, DEFAULT_RETRY_AFTER) or 0)
        if not response.ok:
            raise refusal(self.name, response)
        try:
            data = response.json()
        except ValueError:
            data = {}
        return {"name": data.get("name"), "thread": (data.get("thread") or {}).get("name")}
