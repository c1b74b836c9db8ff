"""A stand-in of a Teams Workflows webhook ("When a Teams webhook request is received").

Checks what the flow template "Post to a channel when a webhook request is received"
reads: the message envelope (``type: message``, ``attachments`` of
``application/vnd.microsoft.card.adaptive``) and every card against the Adaptive Card 1.4
JSON Schema (tests/reference/adaptive-card-1.4.json, Draft 6), as Teams would refuse to
render it. Answers like the flow trigger: ``202`` with an empty body when accepted; ``400``
with Power Automate's error JSON for a bad request; ``401`` for a wrong ``sig``; ``404``
when ``deleted``; ``429`` with ``Retry-After`` beyond ``limit`` per ``window`` (the
connectors' published 4 a second); ``502`` when ``down``. 28 KB at most a message.
"""
from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qs

import jsonschema

from standins import StandIn, reference
from standins.limits import RollingLimit

CARD_TYPE = "application/vnd.microsoft.card.adaptive"
MAX_BYTES = 28 * 1024
_VALIDATOR: jsonschema.Draft6Validator | None = None


def card_errors(card: Any) -> list[str]:
    """Problems of an Adaptive Card against the 1.4 schema, [] when valid."""
    global _VALIDATOR
    if _VALIDATOR is None:
        _VALIDATOR = jsonschema.Draft6Validator(json.loads(reference("adaptive-card-1.4.json").read_text()))
    errors = []
    for e in _VALIDATOR.iter_errors(card):
        best = jsonschema.exceptions.best_match([e] + list(e.context or []))
        errors.append(f"{'/'.join(map(str, best.absolute_path))}: {best.message}")
    if isinstance(card, dict) and card.get("version") != "1.4":
        errors.append(f"version: {card.get('version')!r}, not 1.4")
    return errors


def envelope_errors(body: Any) -> list[str]:
    if not isinstance(body, dict) or body.get("type") != "message":
        return ["the body must be {type: message, attachments: [...]}"]
    atts = body.get("attachments")
    if not isinstance(atts, list) or not atts:
        return ["attachments: at least one card"]
    out = []
    for i, a in enumerate(atts):
        if not isinstance(a, dict) or a.get("contentType") != CARD_TYPE:
            out.append(f"attachments[{i}].contentType must be {CARD_TYPE}")
            continue
        out += [f"attachments[{i}].content/{e}" for e in card_errors(a.get("content"))]
    return out


class TeamsStandIn(StandIn):
    def __init__(self, limit: int = 4, window: float = 1.0, retry_after: int = 1,
                 sig: str = "test-sig-not-real"):
        super().__init__()
        self.sig, self.retry_after = sig, retry_after
        self.rate = RollingLimit(limit, window)
        self.down = self.deleted = False
        self.cards: list[dict[str, Any]] = []
        self.invalid: list[list[str]] = []
        self.requests = 0

    @property
    def url(self) -> str:
        return (f"{self.base_url}/workflows/0a1b2c/triggers/manual/paths/invoke"
                f"?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={self.sig}")

    @property
    def rejected_429(self) -> int:
        return self.rate.refused

    def handle(self, method, path, query, headers, body):
        q = {k: v[-1] for k, v in parse_qs(query).items()}
        with self.lock:
            self.requests += 1
            if self.down:
                return 502, {}, b""
            if self.deleted or not path.startswith("/workflows/"):
                return 404, {"Content-Type": "application/json"}, {"error": {
                    "code": "WorkflowNotFound", "message": "The workflow could not be found."}}
            if q.get("sig") != self.sig:
                return 401, {"Content-Type": "application/json"}, {"error": {
                    "code": "DirectApiAuthorizationRequired",
                    "message": "The request must be authenticated."}}
            if not self.rate.hit():
                return 429, {"Content-Type": "application/json", "Retry-After": str(self.retry_after)}, {
                    "error": {"code": "WorkflowRequestsThrottled", "message": "Rate limit is exceeded."}}
            if len(body) > MAX_BYTES:
                return 413, {"Content-Type": "application/json"}, {"error": {"code": "MessageTooLarge",
                                                                             "message": "too large"}}
            try:
                payload = json.loads(body)
            except ValueError:
                payload = None
            problems = envelope_errors(payload)
            if problems:
                self.invalid.append(problems)
                return 400, {"Content-Type": "application/json"}, {"error": {
                    "code": "InvalidRequestContent", "message": "; ".join(problems)[:500]}}
            self.cards.append({"card": payload["attachments"][0]["content"], "received_at": time.time()})
            return 202, {}, b""
