"""Slack: a Block Kit message a notification, through an incoming webhook (``url``) or a
bot token (``token`` + ``channel``, ``chat.postMessage``) that keeps one thread a ticket.

- Limits (Slack's docs and python-slack-sdk's validators): 50 blocks, section text 3000,
  field 2000, button text 75; about one message a second per webhook or channel, so the
  default ``messages_per_minute`` is 60, paced at 98 %.
- Bot mode stores the ticket's ``thread_ts`` and, before each post, "this action is being
  sent"; a retry of that action first looks for its marker (the context block's
  ``block_id``, ``syncd-<action key>``) in the thread (``conversations.replies``) or the
  channel (``conversations.history``) and does not post again if it is there.
- Webhook mode cannot look: a crash between Slack's ``ok`` and the outbox's commit can
  repeat one message (docs/channels.md says so).
- Student text is escaped for mrkdwn (``channels/markup.py``: ``&``, ``<``, ``>``, and the
  formatting characters), so nobody can ``<!channel>``; a rule's own text keeps its mrkdwn.
"""
from __future__ import annotations

import json
import time
from typing import Any
from zoneinfo import ZoneInfo

from syncd.channels import checks, markup, register
from syncd.channels.notice import PRIORITY_MARK, facts, many
from syncd.channels.transport import HttpNotifier, body_text
from syncd.errors import TransientError

API_URL = "https://slack.com/api"
SECTION_CHARS, FIELD_CHARS, BUTTON_CHARS, MAX_BLOCKS = 3000, 2000, 75, 50
TEXT_CHARS = 3000
LIST_ROWS = 20
LOOKBACK_SECONDS = 3600          # how far back a retry looks for its first message
TRANSIENT_ERRORS = {"ratelimited", "internal_error", "fatal_error", "service_unavailable",
                    "request_timeout", "rollup_error"}
REASONS = {
    "invalid_payload": "Slack could not read the message (invalid_payload): please report it as a syncd bug",
    "invalid_blocks": "Slack refused the blocks (invalid_blocks): please report it as a syncd bug",
    "no_text": "Slack refused a message without text: please report it as a syncd bug",
    "channel_not_found": "the channel does not exist or the app cannot see it: check `channel` "
                         "(an id such as C0123ABCD) or create a new webhook and update `url`",
    "channel_is_archived": "the channel is archived: unarchive it, or point the channel elsewhere",
    "is_archived": "the channel is archived: unarchive it, or point the channel elsewhere",
    "no_service": "the webhook was disabled or removed: create a new one and update `url`",
    "no_service_id": "the webhook URL is not valid: copy it again from the app's settings",
    "no_team": "the workspace of this webhook is gone: create a new webhook and update `url`",
    "team_disabled": "the workspace of this webhook is disabled: create a new webhook",
    "invalid_token": "the webhook's token is not valid any more: create a new one and update `url`",
    "action_prohibited": "a workspace admin has blocked posting here: ask them, or use another channel",
    "posting_to_general_channel_denied": "only admins may post in #general: use another channel",
    "not_authed": "no bot token was sent: set `token` (xoxb-…)",
    "invalid_auth": "the bot token is not valid: update `token`",
    "token_revoked": "the bot token was revoked: reinstall the app and update `token`",
    "account_inactive": "the bot's account is deactivated: reinstall the app and update `token`",
    "not_in_channel": "the bot is not in the channel: /invite it there",
    "missing_scope": "the token lacks a scope: give the app chat:write and channels:history "
                     "(groups:history for private channels), then reinstall it",
    "msg_too_long": "the message is too long for Slack: please report it as a syncd bug",
}


mrkdwn = markup.slack     # student text, shown as typed (``&``, ``<``, ``>`` escaped)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def marker(action: Any) -> str:
    return f"syncd-{action.key}"


def blocks(params: dict[str, Any], tz: ZoneInfo, block_id: str) -> list[dict[str, Any]]:
    """The Block Kit blocks of a notification (pure)."""
    f = facts(params, tz)
    title = mrkdwn(f.title).replace("|", "¦")
    head = f"*<{f.url}|{title}>*" if f.url else f"*{title}*"
    fields = [("Priority", f"{PRIORITY_MARK.get(f.priority, '')} {f.priority}".strip()),
              ("Category", f.category), ("Tags", ", ".join(f.tags) or "none"), ("Status", f.status)]
    out: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(f"{head}  ·  #{f.id}", SECTION_CHARS)}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": _cut(f"*{k}*\n{mrkdwn(v)}", FIELD_CHARS)}
                                       for k, v in fields]},
    ]
    if f.text:
        out.append({"type": "section", "text": {"type": "mrkdwn",
                                                "text": _cut(markup.slack_marked(f.text), SECTION_CHARS)}})
    if f.private:
        out.append({"type": "section", "text": {"type": "mrkdwn",
                                                "text": "_Private ticket: the text is not shown here._"}})
    elif f.body:
        quoted = "\n".join("> " + line for line in mrkdwn(f.body).splitlines())
        out.append({"type": "section", "text": {"type": "mrkdwn", "text": _cut(quoted, SECTION_CHARS)}})
    items = many(params)
    if items is not None:
        said = markup.slack_marked(f.text) if f.text else ""
        text = [{"type": "section", "text": {"type": "mrkdwn", "text": _cut(said, SECTION_CHARS)}}]
        out = out[:1] + (text if said else []) + [_list_block(items)]
    out.append({"type": "context", "block_id": block_id[:255], "elements": [
        {"type": "mrkdwn", "text": _cut(f"@{mrkdwn(f.author)} · {mrkdwn(f.event or 'notification')} · "
                                        f"{mrkdwn(f.at)}", SECTION_CHARS)}]})
    if f.url:
        out.append({"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Open in Discourse"[:BUTTON_CHARS]},
             "url": f.url[:3000], "action_id": "open"}]})
    return out[:MAX_BLOCKS]


def _list_block(items: list[dict[str, Any]]) -> dict[str, Any]:
    """A digest's or a summary's tickets, one line each (at most 20)."""
    lines = []
    for i in items[:LIST_ROWS]:
        title = mrkdwn(i.get("title") or f"Ticket {i.get('id')}").replace("|", "¦")
        link = f"<{i['url']}|{title}>" if i.get("url") else title
        lines.append(f"• *{mrkdwn(str(i.get('priority') or 'normal').upper())}* #{i.get('id')} {link}")
    if len(items) > LIST_ROWS:
        lines.append(f"… and {len(items) - LIST_ROWS} more")
    return {"type": "section", "text": {"type": "mrkdwn",
                                        "text": _cut("\n".join(lines) or "nothing was held", SECTION_CHARS)}}


def message(params: dict[str, Any], tz: ZoneInfo, block_id: str) -> dict[str, Any]:
    f = facts(params, tz)
    text = markup.slack_marked(f.text) if f.text else mrkdwn(f.headline)
    return {"text": _cut(text, TEXT_CHARS), "blocks": blocks(params, tz, block_id)}


@register("slack")
class SlackNotifier(HttpNotifier):
    """Posts Block Kit messages; in bot mode one thread a ticket, never twice after a crash."""

    SERVICE = "Slack"
    CONFIG = {
        "token": (checks.text, "",
                  "a bot token (xoxb-…) for bot mode (chat.postMessage, one thread a ticket)"),
        "channel": (checks.text, "", "bot mode: the channel's id (C0123ABCD) or name"),
        "api_url": (checks.url, API_URL, "Slack's Web API (change only for a proxy or a test stand-in)"),
    }

    @classmethod
    def is_configured(cls, channel: Any) -> bool:
        o = channel.options
        return bool(channel.url or (o.get("token") and o.get("channel")))

    @classmethod
    def check_config(cls, channel: Any) -> list[tuple[str, str]]:
        o = channel.options
        if bool(o.get("token")) != bool(o.get("channel")):
            return [("token" if not o.get("token") else "channel",
                     "bot mode needs both `token` and `channel` (or leave both out and set `url`)")]
        return []

    @property
    def bot(self) -> bool:
        return bool(self.options.get("token") and self.options.get("channel"))

    def render(self, action: Any) -> dict[str, Any]:
        return message(action.params, getattr(self.settings, "tz", ZoneInfo("UTC")), marker(action))

    def send(self, action: Any) -> dict[str, Any]:
        return self._bot(action) if self.bot else self._webhook(action)

    # --- incoming webhook ----------------------------------------------------------------

    def _webhook(self, action: Any) -> dict[str, Any]:
        response = self.post(self.channel.url, json=self.render(action))
        said = body_text(response, 100)
        if response.status_code == 200:
            return {"mode": "webhook", "answer": said or "ok"}
        raise self.transient_or_none(response, said) or self._refusal(response.status_code, said)

    def _refusal(self, status: int | None, error: str) -> Exception:
        reason = REASONS.get(error, f"Slack refused the message: {error or 'no reason given'}")
        return self.refused(status, f"{error}: {reason}" if error in REASONS else reason)

    # --- bot token -----------------------------------------------------------------------

    def _call(self, method: str, payload: dict[str, Any], as_json: bool = False) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.options['token']}"}
        url = f"{self.options.get('api_url') or API_URL}/{method}"
        if as_json:
            headers["Content-Type"] = "application/json; charset=utf-8"
            response = self.post(url, data=json.dumps(payload).encode(), headers=headers)
        else:
            response = self.post(url, data=payload, headers=headers)
        transient = self.transient_or_none(response, body_text(response, 100))
        if transient:
            raise transient
        try:
            data = response.json()
        except ValueError:
            raise self.refused(response.status_code, f"{method}: Slack answered something that "
                               "is not JSON: check `api_url`") from None
        if not data.get("ok"):
            error = str(data.get("error") or "unknown_error")
            if error in TRANSIENT_ERRORS:
                raise TransientError(f"channel {self.name}: {method}: Slack said {error}")
            raise self._refusal(response.status_code if response.status_code != 200 else None, error)
        return data

    def _already_sent(self, action: Any, thread: str | None, since: float) -> str | None:
        """The ts of this action's message if an earlier attempt posted it."""
        channel, mark = self.options["channel"], marker(action)
        if thread:
            data = self._call("conversations.replies", {"channel": channel, "ts": thread, "limit": 200})
        else:
            data = self._call("conversations.history", {"channel": channel, "limit": 100,
                                                        "oldest": f"{since - 60:.6f}"})
        for msg in data.get("messages") or []:
            if any(b.get("block_id") == mark for b in msg.get("blocks") or []):
                return str(msg.get("ts"))
        return None

    def _bot(self, action: Any) -> dict[str, Any]:
        ticket, mem = action.ticket_id, self.memory
        single = many(action.params) is None        # a digest is not a ticket's thread
        thread = mem.get(ticket, "thread_ts") if mem and single else None
        pending = json.loads(mem.get(ticket, "sending") or "{}") if mem else {}
        ts = None
        if pending.get("action") == action.key:   # an attempt of this action may have posted
            since = float(pending.get("at") or time.time() - LOOKBACK_SECONDS)
            ts = self._already_sent(action, thread, since)
        if ts is None:
            if mem:
                mem.put(ticket, "sending", json.dumps({"action": action.key, "at": time.time()}))
            payload = {**self.render(action), "channel": self.options["channel"],
                       "unfurl_links": False}
            if thread:
                payload["thread_ts"] = thread
            ts = str(self._call("chat.postMessage", payload, as_json=True).get("ts"))
        if mem:
            if not thread and single:
                mem.put(ticket, "thread_ts", ts)
            mem.put(ticket, "sending", None)
        return {"mode": "bot", "ts": ts, "thread_ts": thread or ts}
