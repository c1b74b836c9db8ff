"""A stand-in of Slack: incoming webhooks (``/services/T/B/X``) and the Web API methods
syncd's bot mode calls (``chat.postMessage``, ``conversations.replies``,
``conversations.history``).

Built from Slack's documented answers (api.slack.com/messaging/webhooks, the 2016-05-17
changelog on webhook errors, the chat.postMessage and conversations.* references, the
rate-limits page) and the Block Kit limits that python-slack-sdk validates:

- a webhook answers ``200 ok``; ``400 invalid_payload`` (not JSON, or not
  application/json), ``400 no_text`` (neither text nor blocks), ``400 invalid_blocks``
  (a block beyond the limits: 50 blocks, section text 3000, 10 fields of 2000, header 150,
  button text 75, url 3000, block_id 255 and unique), ``404 no_service`` (unknown
  webhook), ``404 channel_not_found`` (``deleted``), ``410 channel_is_archived``
  (``archived``), ``500 rollup_error`` (``down``);
- the Web API answers HTTP 200 with ``{"ok": false, "error": …}`` (``invalid_auth``,
  ``channel_not_found``, ``not_in_channel``, ``thread_ts`` unknown: ``thread_not_found``);
- ``limit`` messages per ``window`` seconds per webhook or channel (Slack: about one a
  second), beyond which 429 with ``Retry-After``.
"""
from __future__ import annotations

import json
import threading
import time
from typing import Any
from urllib.parse import parse_qs

from standins import StandIn
from standins.limits import RollingLimit

BLOCK_TYPES = {"section", "context", "actions", "header", "divider", "image", "rich_text", "input",
               "file", "video", "markdown"}
TEXT = {"Content-Type": "text/html"}
JSON = {"Content-Type": "application/json; charset=utf-8"}


def block_errors(blocks: Any) -> list[str]:
    """Problems of a message's blocks, [] when Slack would take them."""
    out: list[str] = []
    if not isinstance(blocks, list):
        return ["blocks: not a list"]
    if len(blocks) > 50:
        out.append(f"{len(blocks)} blocks (at most 50)")
    ids: set[str] = set()
    for i, b in enumerate(blocks):
        where = f"blocks[{i}]"
        if not isinstance(b, dict) or b.get("type") not in BLOCK_TYPES:
            out.append(f"{where}: unknown block type {b.get('type') if isinstance(b, dict) else b!r}")
            continue
        bid = b.get("block_id")
        if bid is not None:
            if not isinstance(bid, str) or len(bid) > 255 or bid in ids:
                out.append(f"{where}.block_id: too long or repeated")
            ids.add(bid)
        out += _block(b, where)
    return out


def _text_obj(t: Any, where: str, limit: int, kinds=("plain_text", "mrkdwn")) -> list[str]:
    if not isinstance(t, dict) or t.get("type") not in kinds or not isinstance(t.get("text"), str):
        return [f"{where}: not a text object of {kinds}"]
    if not t["text"]:
        return [f"{where}: empty text"]
    return [f"{where}: {len(t['text'])} characters (at most {limit})"] if len(t["text"]) > limit else []


def _block(b: dict[str, Any], where: str) -> list[str]:
    kind, out = b["type"], []
    if kind == "section":
        if "text" not in b and not b.get("fields"):
            out.append(f"{where}: a section needs text or fields")
        if "text" in b:
            out += _text_obj(b["text"], f"{where}.text", 3000)
        fields = b.get("fields") or []
        if len(fields) > 10:
            out.append(f"{where}.fields: {len(fields)} (at most 10)")
        for j, f in enumerate(fields):
            out += _text_obj(f, f"{where}.fields[{j}]", 2000)
    elif kind == "header":
        out += _text_obj(b.get("text"), f"{where}.text", 150, ("plain_text",))
    elif kind == "context":
        elements = b.get("elements") or []
        if not elements or len(elements) > 10:
            out.append(f"{where}.elements: 1 to 10")
        for j, e in enumerate(elements):
            out += _text_obj(e, f"{where}.elements[{j}]", 3000)
    elif kind == "actions":
        elements = b.get("elements") or []
        if not elements or len(elements) > 25:
            out.append(f"{where}.elements: 1 to 25")
        for j, e in enumerate(elements):
            if e.get("type") == "button":
                out += _text_obj(e.get("text"), f"{where}.elements[{j}].text", 75, ("plain_text",))
                if len(e.get("url") or "") > 3000 or len(e.get("action_id") or "") > 255:
                    out.append(f"{where}.elements[{j}]: url or action_id too long")
    return out


class SlackStandIn(StandIn):
    """One workspace: one webhook (into ``channel_id``) and one bot token."""

    def __init__(self, limit: int = 1, window: float = 1.0, retry_after: int = 1,
                 token: str = "xoxb-test-not-real", channel_id: str = "C0TESTCHAN"):
        super().__init__()
        self.limit, self.window, self.retry_after = limit, window, retry_after
        self.token, self.channel_id = token, channel_id
        self.webhook_path = "/services/T0TEST/B0TEST/test-webhook-secret"
        self.down = self.archived = self.deleted = False
        self.members = {channel_id}             # channels the bot is in
        self.messages: list[dict[str, Any]] = []
        self.rate: dict[str, RollingLimit] = {}
        self.rejected_429 = self.requests = 0
        self.invalid: list[list[str]] = []
        self.fail_after_post = 0                # drop the connection after posting (a crash)
        self.hold_posts = 0                     # post, then hold the answer until ``release``
        self.release = threading.Event()
        self._ts = 0.0

    @property
    def url(self) -> str:
        return self.base_url + self.webhook_path

    @property
    def api_url(self) -> str:
        return self.base_url + "/api"

    def _limited(self, key: str) -> bool:
        limit = self.rate.setdefault(key, RollingLimit(self.limit, self.window))
        if limit.hit():
            return False
        self.rejected_429 += 1
        return True

    def handle(self, method, path, query, headers, body):
        before = len(self.messages)
        answer = self._handle(method, path, query, headers, body)
        if self.hold_posts and len(self.messages) > before:    # a crash while Slack answers
            self.hold_posts -= 1
            self.release.wait(30)
        return answer

    def _handle(self, method, path, query, headers, body):
        with self.lock:
            self.requests += 1
            if path.startswith("/services/"):
                return self._webhook(path, headers, body)
            if path.startswith("/api/"):
                return self._api(path[5:], headers, body)
            return 404, TEXT, b"not found"

    # --- incoming webhooks ------------------------------------------------------------------

    def _webhook(self, path, headers, body):
        if path != self.webhook_path:
            return 404, TEXT, b"no_service"
        if self.down:
            return 500, TEXT, b"rollup_error"
        if self.deleted:
            return 404, TEXT, b"channel_not_found"
        if self.archived:
            return 410, TEXT, b"channel_is_archived"
        if self._limited("webhook"):
            return 429, {**TEXT, "Retry-After": str(self.retry_after)}, b"rate_limited"
        if not headers.get("Content-Type", "").startswith("application/json"):
            return 400, TEXT, b"invalid_payload"
        try:
            msg = json.loads(body)
        except ValueError:
            return 400, TEXT, b"invalid_payload"
        problems = self._problems(msg)
        if problems:
            return 400, TEXT, problems
        self._store(msg, self.channel_id, None)
        return 200, TEXT, b"ok"

    def _problems(self, msg: Any) -> bytes | None:
        if not isinstance(msg, dict):
            return b"invalid_payload"
        if not msg.get("text") and not msg.get("blocks"):
            return b"no_text"
        if "blocks" in msg:
            errors = block_errors(msg["blocks"])
            if errors:
                self.invalid.append(errors)
                return b"invalid_blocks"
        return None

    def _store(self, msg: dict[str, Any], channel: str, thread: str | None) -> str:
        self._ts = max(self._ts + 0.000001, time.time())   # Slack's ts: the epoch time, unique
        ts = f"{self._ts:.6f}"
        self.messages.append({**msg, "channel": channel, "ts": ts, "thread_ts": thread,
                              "received_at": time.time()})
        return ts

    # --- Web API -------------------------------------------------------------------------

    def _api(self, method, headers, body):
        if self.down:
            return 503, JSON, {"ok": False, "error": "service_unavailable"}
        if headers.get("Authorization") != f"Bearer {self.token}":
            return 200, JSON, {"ok": False, "error": "invalid_auth" if headers.get("Authorization")
                               else "not_authed"}
        ctype = headers.get("Content-Type", "")
        try:
            args = json.loads(body) if ctype.startswith("application/json") else \
                {k: v[-1] for k, v in parse_qs(body.decode()).items()}
        except ValueError:
            return 200, JSON, {"ok": False, "error": "invalid_json"}
        channel = args.get("channel")
        if channel != self.channel_id or self.deleted:
            return 200, JSON, {"ok": False, "error": "channel_not_found"}
        if channel not in self.members:
            return 200, JSON, {"ok": False, "error": "not_in_channel"}
        if method == "chat.postMessage":
            return self._post(args)
        if method == "conversations.replies":
            thread = [m for m in self.messages if m["channel"] == channel and
                      (m["ts"] == args.get("ts") or m["thread_ts"] == args.get("ts"))]
            if not thread:
                return 200, JSON, {"ok": False, "error": "thread_not_found"}
            return 200, JSON, {"ok": True, "messages": [self._public(m) for m in thread]}
        if method == "conversations.history":
            oldest = float(args.get("oldest") or 0)
            found = [self._public(m) for m in reversed(self.messages) if m["channel"] == channel
                     and m["thread_ts"] is None and float(m["ts"]) > oldest]
            return 200, JSON, {"ok": True, "messages": found[:int(args.get("limit") or 100)]}
        return 404, JSON, {"ok": False, "error": "unknown_method"}

    def _post(self, args):
        if self.archived:
            return 200, JSON, {"ok": False, "error": "is_archived"}
        if self._limited(f"chan:{args['channel']}"):
            return 429, {**JSON, "Retry-After": str(self.retry_after)}, {"ok": False, "error": "ratelimited"}
        problems = self._problems(args)
        if problems:
            return 200, JSON, {"ok": False, "error": problems.decode()}
        thread = args.get("thread_ts")
        if thread and not any(m["ts"] == thread for m in self.messages):
            return 200, JSON, {"ok": False, "error": "thread_not_found"}
        ts = self._store({k: v for k, v in args.items() if k not in ("channel", "thread_ts")},
                         args["channel"], thread)
        answer = {"ok": True, "channel": args["channel"], "ts": ts,
                  "message": self._public(self.messages[-1])}
        if self.fail_after_post:
            self.fail_after_post -= 1
            return 502, JSON, {"ok": False, "error": "bad gateway after the post"}
        return 200, JSON, answer

    @staticmethod
    def _public(m: dict[str, Any]) -> dict[str, Any]:
        out = {"type": "message", "ts": m["ts"], "text": m.get("text"), "blocks": m.get("blocks") or []}
        if m.get("thread_ts"):
            out["thread_ts"] = m["thread_ts"]
        return out
