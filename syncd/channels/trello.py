"""Trello: one card a ticket, in the list for its priority (or its status), labelled by
priority, the topic linked; moved when the priority or status changes, archived on close.

- The ticket's card id is kept in the channel's memory before the action is marked sent.
  Before creating a card, ``creating:<action key>`` is written; a retry that finds it
  (a crash or timeout after Trello's answer) first searches the configured lists for the
  ticket's marker (``syncd-ticket-<id>``) in the cards' ``desc``, so it never makes a
  second card. Trello has no idempotency key of its own.
- Limits: 300 requests per 10 s per key, 100 per 10 s per token; ``messages_per_minute``
  here counts requests (default 600, paced at 98 %); a 429 (no Retry-After: Trello
  sends none) pauses the channel for 10 s.
- The key and token travel in the query string, as Trello's docs show: no URL is logged.
"""
from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from syncd.channels import checks, register
from syncd.channels.notice import facts, many
from syncd.channels.transport import HttpNotifier, body_text
from syncd.errors import PermanentError, TransientError

API_URL = "https://api.trello.com/1"
RATE_WAIT = 10.0
DESC_CHARS = 16000
CLOSED = ("closed", "deleted")


def marker(ticket_id: Any) -> str:
    return f"syncd-ticket-{ticket_id}"


def card_fields(params: dict[str, Any], options: dict[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    """The card's fields for a ticket as it is now (pure)."""
    f = facts(params, tz)
    lists, labels = options.get("lists") or {}, options.get("labels") or {}
    list_id = lists.get(f.status) or lists.get(f.priority) or lists.get("normal")
    lines = [f"**{f.priority.upper()}** · {f.category} · {', '.join(f.tags) or 'no tags'} · @{f.author}"]
    if f.url:
        lines.append(f"Topic: {f.url}")
    if f.private:
        lines.append("_Private ticket: the text is not shown here._")
    elif f.body:
        lines.append(f.body)
    lines.append(f"---\nsyncd ticket #{f.id} · {marker(f.id)}")
    out = {"idList": list_id, "name": f"#{f.id} {f.title}"[:16384],
           "desc": "\n\n".join(lines)[:DESC_CHARS], "closed": f.status in CLOSED,
           "idLabels": labels.get(f.priority, "")}
    return out


@register("trello")
class TrelloNotifier(HttpNotifier):
    """Keeps a card a ticket on a board, paced under Trello's per-token limit."""

    SERVICE = "Trello"
    CONFIG = {
        "key": (checks.text, "", "the API key (from the environment)"),
        "token": (checks.text, "", "the API token (from the environment)"),
        "lists": (checks.priority_map("list id"), {}, "list id for each priority (urgent, high, "
                  "normal, low), and optionally for a status (resolved, closed)"),
        "labels": (checks.priority_map("label id"), {}, "label id for each priority (optional)"),
        "api_url": (checks.url, API_URL, "Trello's API (change only for a proxy or a test stand-in)"),
        "messages_per_minute": (lambda v: (isinstance(v, int) and v > 0) or "a whole number above 0",
                                600, "requests a minute (Trello: 100 per 10 s per token)"),
    }

    @classmethod
    def is_configured(cls, channel: Any) -> bool:
        o = channel.options
        return bool(o.get("key") and o.get("token") and o.get("lists"))

    @classmethod
    def check_config(cls, channel: Any) -> list[tuple[str, str]]:
        o = channel.options
        if o.get("key") and o.get("token") and "normal" not in (o.get("lists") or {}) and \
                not all(p in (o.get("lists") or {}) for p in checks.PRIORITIES):
            return [("lists", "give a list for every priority, or at least for normal "
                     "(the one used when a priority has none)")]
        return []

    def render(self, action: Any) -> dict[str, Any]:
        return card_fields(action.params, self.options, getattr(self.settings, "tz", ZoneInfo("UTC")))

    def _api(self, method: str, path: str, **params: Any) -> Any:
        auth = {"key": self.options["key"], "token": self.options["token"]}
        url = f"{self.options.get('api_url') or API_URL}{path}"
        if method == "GET":
            response = self.request(method, url, params={**auth, **params})
        else:
            response = self.request(method, url, params=auth, json=params)
        if response.status_code == 429:
            self.bucket.pause(RATE_WAIT)
        if response.ok:
            return response.json()
        said = body_text(response, 200)
        transient = self.transient_or_none(response, said, default_wait=RATE_WAIT)
        if transient:
            transient.refused = response.status_code == 429   # a 429 did nothing: sure
            raise transient
        raise self._refusal(response.status_code, said, path)

    def _refusal(self, status: int, said: str, path: str) -> PermanentError:
        if status == 401:
            why = "Trello refused the key or token (expired or revoked?): update key and token"
        elif status == 404 and path.startswith("/cards/"):
            why = "card not found"
        elif status in (400, 404):
            why = f"Trello refused it ({said or status}): check the list and label ids in lists / labels"
        else:
            why = f"Trello refused it: {said or status}"
        return self.refused(status, why)

    def _find(self, ticket_id: Any) -> str | None:
        """The ticket's card, found by the marker in its description (after a crash)."""
        mark = marker(ticket_id)
        for list_id in dict.fromkeys((self.options.get("lists") or {}).values()):
            for c in self._api("GET", f"/lists/{list_id}/cards", fields="id,desc") or []:
                if mark in str(c.get("desc") or "").split():
                    return str(c["id"])
        return None

    def send(self, action: Any) -> dict[str, Any]:
        if many(action.params) is not None:
            return {"skipped": "a digest or summary is not a ticket: Trello keeps one card a ticket"}
        fields = self.render(action)
        if not fields["idList"]:
            f = facts(action.params)
            raise self.refused(None, f"no list for priority {f.priority}: add lists.{f.priority} "
                               "(or lists.normal)")
        ticket, mem = action.ticket_id, self.memory
        card = mem.get(ticket, "card") if mem else None
        if card and card.startswith("creating:"):
            card = self._find(ticket)
        if card:
            try:
                self._api("PUT", f"/cards/{card}", **fields)
                if mem:
                    mem.put(ticket, "card", card)
                return {"card": card, "list": fields["idList"], "archived": fields["closed"]}
            except PermanentError as exc:
                if exc.status != 404:
                    raise    # a card someone deleted in Trello is made again below
        if mem:
            mem.put(ticket, "card", f"creating:{action.key}")
        url = (action.params.get("ticket") or {}).get("url")
        try:
            made = self._api("POST", "/cards", pos="top", **{**fields, "closed": False},
                             **({"urlSource": url} if url else {}))
        except (PermanentError, TransientError) as exc:
            if mem and (isinstance(exc, PermanentError) or getattr(exc, "refused", False)):
                mem.put(ticket, "card", None)   # Trello said no: no card was made
            raise
        card = str(made["id"])
        if mem:
            mem.put(ticket, "card", card)
        if fields["closed"]:
            self._api("PUT", f"/cards/{card}", closed=True)
        return {"card": card, "list": fields["idList"], "created": True, "url": made.get("shortUrl")}
