"""A stand-in of Trello's REST API (the calls syncd makes): ``POST /1/cards``,
``PUT /1/cards/{id}``, ``GET /1/cards/{id}``, ``GET /1/lists/{id}/cards``.

Follows Atlassian's reference (developer.atlassian.com/cloud/trello/rest) and rate-limit
guide: ``key`` and ``token`` in the query string (401 ``invalid key`` / ``invalid token``
as plain text otherwise); 300 requests per 10 s per key and 100 per 10 s per token, beyond
which 429 with ``{"error": "API_KEY_LIMIT_EXCEEDED" | "API_TOKEN_LIMIT_EXCEEDED",
"message": "Rate limit exceeded"}`` and no Retry-After; an unknown list is
``400 invalid value for idList``; an unknown card ``404 The requested resource was not
found.``; parameters as JSON or query; ``idLabels`` comma-separated; ``urlSource`` makes
an attachment; ``closed: true`` archives.
"""
from __future__ import annotations

import json
import threading
import time
from typing import Any
from urllib.parse import parse_qs

from standins import StandIn
from standins.limits import RollingLimit

JSON = {"Content-Type": "application/json; charset=utf-8"}
TEXT = {"Content-Type": "text/plain; charset=utf-8"}


class TrelloStandIn(StandIn):
    def __init__(self, key: str = "test-trello-key", token: str = "test-trello-token",
                 lists: tuple[str, ...] = ("L-urgent", "L-high", "L-normal", "L-low", "L-closed"),
                 labels: tuple[str, ...] = ("LB-urgent", "LB-high", "LB-normal", "LB-low"),
                 key_limit: int = 300, token_limit: int = 100, window: float = 10.0,
                 clock=time.monotonic):
        super().__init__()
        self.clock = clock
        self.key, self.token = key, token
        self.lists, self.labels = set(lists), set(labels)
        self.key_rate, self.token_rate = RollingLimit(key_limit, window), RollingLimit(token_limit, window)
        self.cards: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str, float]] = []
        self.down = False
        self.fail_after_create = 0
        self.hold_creates = 0            # make the card, then hold the answer until ``release``
        self.release = threading.Event()
        self.rejected_429 = 0

    @property
    def api_url(self) -> str:
        return self.base_url + "/1"

    def handle(self, method, path, query, headers, body):
        before = len(self.cards)
        answer = self._handle(method, path, query, headers, body)
        if self.hold_creates and len(self.cards) > before:   # a crash while Trello answers
            self.hold_creates -= 1
            self.release.wait(30)
        return answer

    def _handle(self, method, path, query, headers, body):
        q = {k: v[-1] for k, v in parse_qs(query).items()}
        with self.lock:
            self.calls.append((method, path, self.clock()))
            if q.get("key") != self.key:
                return 401, TEXT, b"invalid key"
            if q.get("token") != self.token:
                return 401, TEXT, b"invalid token"
            now = self.clock()
            if not self.key_rate.hit(now):
                self.rejected_429 += 1
                return 429, JSON, {"error": "API_KEY_LIMIT_EXCEEDED", "message": "Rate limit exceeded"}
            if not self.token_rate.hit(now):
                self.rejected_429 += 1
                return 429, JSON, {"error": "API_TOKEN_LIMIT_EXCEEDED", "message": "Rate limit exceeded"}
            if self.down:
                return 503, TEXT, b"Service Unavailable"
            try:
                args = {**q, **(json.loads(body) if body else {})}
            except ValueError:
                return 400, TEXT, b"invalid json"
            return self._route(method, path, args)

    def _route(self, method, path, args):
        parts = path.strip("/").split("/")
        if method == "POST" and parts == ["1", "cards"]:
            return self._create(args)
        if len(parts) == 3 and parts[:2] == ["1", "cards"]:
            card = self.cards.get(parts[2])
            if card is None:
                return 404, TEXT, b"The requested resource was not found."
            if method == "GET":
                return 200, JSON, card
            if method == "PUT":
                return self._update(card, args)
        if method == "GET" and len(parts) == 4 and parts[:2] == ["1", "lists"] and parts[3] == "cards":
            if parts[2] not in self.lists:
                return 400, TEXT, b"invalid id"
            found = [c for c in self.cards.values() if c["idList"] == parts[2] and not c["closed"]]
            fields = (args.get("fields") or "").split(",")
            return 200, JSON, [{k: c[k] for k in c if not fields[0] or k in fields or k == "id"}
                               for c in found]
        return 404, TEXT, b"Cannot " + method.encode() + b" " + path.encode()

    def _fields(self, card: dict[str, Any], args: dict[str, Any]):
        if "idList" in args:
            if args["idList"] not in self.lists:
                return 400, TEXT, b"invalid value for idList"
            card["idList"] = args["idList"]
        if "idLabels" in args:
            raw = args["idLabels"]
            ids = [x for x in (raw if isinstance(raw, list) else str(raw).split(",")) if x]
            if any(i not in self.labels for i in ids):
                return 400, TEXT, b"invalid value for idLabels"
            card["idLabels"] = ids
        for key in ("name", "desc"):
            if key in args:
                card[key] = str(args[key])
        if "closed" in args:
            card["closed"] = args["closed"] in (True, "true")
        return None

    def _create(self, args):
        if "idList" not in args:
            return 400, TEXT, b"invalid value for idList"
        n = len(self.cards) + 1
        card = {"id": f"{n:024x}", "shortLink": f"c{n}", "shortUrl": f"https://trello.com/c/c{n}",
                "url": f"https://trello.com/c/c{n}/card", "name": "", "desc": "", "closed": False,
                "idLabels": [], "idList": None, "attachments": []}
        bad = self._fields(card, args)
        if bad:
            return bad
        if args.get("urlSource"):
            card["attachments"].append({"url": args["urlSource"]})
        self.cards[card["id"]] = card
        if self.fail_after_create:
            self.fail_after_create -= 1
            return 504, TEXT, b"Gateway Timeout"
        return 200, JSON, card

    def _update(self, card, args):
        bad = self._fields(card, args)
        return bad or (200, JSON, card)
