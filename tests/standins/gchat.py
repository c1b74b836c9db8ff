"""A stand-in of a Google Chat space's incoming webhook, and a validator of Chat messages.

``ChatStandIn`` answers ``POST /v1/spaces/{space}/messages?key=…&token=…`` like Google:
- the body must be a valid ``Message`` (checked with ``DiscoverySchema`` against the
  discovery document): otherwise 400;
- a wrong key or token is 401 (``revoked = True`` too), ``deleted = True`` is 404,
  ``down = True`` is 503;
- ``limit`` messages per ``window`` seconds (rolling), beyond which it answers 429 with
  ``Retry-After``;
- the same ``requestId`` again returns the first message and records nothing new;
- ``threadKey`` maps to one thread name, as ``REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD`` does.
"""
from __future__ import annotations

import json
import time
from collections import deque
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from standins import StandIn, reference

DISCOVERY = reference("google-chat-v1-discovery.json")
JSON_TYPES = {"string": str, "boolean": bool, "object": dict, "array": list}


class DiscoverySchema:
    """Validates values against a Google discovery document's schemas: ``$ref``,
    ``properties`` (unknown fields fail), ``additionalProperties``, ``items``, ``enum``,
    ``type`` (integer/number/string formats included); ``readOnly`` fields fail on input."""

    def __init__(self, path: Path = DISCOVERY):
        self.schemas = json.loads(Path(path).read_text())["schemas"]

    def errors(self, name: str, value: Any) -> list[str]:
        out: list[str] = []
        self._check({"$ref": name}, value, name, out)
        return out

    def _check(self, spec: dict[str, Any], value: Any, where: str, out: list[str]) -> None:
        if spec.get("readOnly"):
            out.append(f"{where}: output only, may not be sent")
            return
        if "$ref" in spec:
            spec = self.schemas[spec["$ref"]]
        kind = spec.get("type", "object" if "properties" in spec else None)
        if "enum" in spec and value not in spec["enum"]:
            out.append(f"{where}: {value!r} not one of {spec['enum']}")
        elif kind == "array":
            if not isinstance(value, list):
                out.append(f"{where}: not an array")
                return
            for i, item in enumerate(value):
                self._check(spec.get("items", {}), item, f"{where}[{i}]", out)
        elif kind == "object":
            self._object(spec, value, where, out)
        elif kind == "integer":
            ok = (isinstance(value, int) and not isinstance(value, bool)) or (
                isinstance(value, str) and value.lstrip("-").isdigit())
            ok or out.append(f"{where}: not an integer")
        elif kind == "number":
            (isinstance(value, (int, float)) and not isinstance(value, bool)) or out.append(
                f"{where}: not a number")
        elif kind in JSON_TYPES and not isinstance(value, JSON_TYPES[kind]):
            out.append(f"{where}: not a {kind}")

    def _object(self, spec: dict[str, Any], value: Any, where: str, out: list[str]) -> None:
        if not isinstance(value, dict):
            out.append(f"{where}: not an object")
            return
        props, extra = spec.get("properties", {}), spec.get("additionalProperties")
        for key, item in value.items():
            if key in props:
                self._check(props[key], item, f"{where}.{key}", out)
            elif extra:
                self._check(extra, item, f"{where}.{key}", out)
            else:
                out.append(f"{where}: unknown field '{key}'")


SCHEMA = None


def message_errors(message: Any) -> list[str]:
    """Problems of a Chat ``Message`` body, [] when valid."""
    global SCHEMA
    SCHEMA = SCHEMA or DiscoverySchema()
    return SCHEMA.errors("Message", message)


class ChatStandIn(StandIn):
    """One space with an incoming webhook."""

    def __init__(self, limit: int = 60, window: float = 60.0, retry_after: float = 1.0,
                 key: str = "test-key", token: str = "test-token"):
        super().__init__()
        self.limit, self.window, self.retry_after = limit, window, retry_after
        self.key, self.token = key, token
        self.down = self.revoked = self.deleted = False
        self.messages: list[dict[str, Any]] = []      # accepted, in order
        self.by_request: dict[str, dict[str, Any]] = {}
        self.threads: dict[str, str] = {}
        self.sent_at: deque[float] = deque()
        self.rejected_429 = self.requests = 0
        self.invalid: list[list[str]] = []

    @property
    def url(self) -> str:
        return f"{self.base_url}/v1/spaces/AAAA/messages?key={self.key}&token={self.token}"

    def handle(self, method, path, query, headers, body):
        q = {k: v[-1] for k, v in parse_qs(query).items()}
        with self.lock:
            self.requests += 1
            if self.down:
                return 503, {"Content-Type": "application/json"}, {"error": {"code": 503, "message": "down"}}
            if method != "POST" or not path.startswith("/v1/spaces/"):
                return 404, {}, b"not found"
            if self.deleted:
                return 404, {"Content-Type": "application/json"}, {
                    "error": {"code": 404, "message": "Requested entity was not found."}}
            if self.revoked or q.get("key") != self.key or q.get("token") != self.token:
                return 401, {"Content-Type": "application/json"}, {
                    "error": {"code": 401, "message": "Request had invalid authentication credentials."}}
            return self._create(q, body)

    def _create(self, q: dict[str, str], body: bytes):
        request_id = q.get("requestId")
        if request_id and request_id in self.by_request:
            return 200, {"Content-Type": "application/json"}, self.by_request[request_id]
        now = time.monotonic()
        while self.sent_at and self.sent_at[0] <= now - self.window:
            self.sent_at.popleft()
        if len(self.sent_at) >= self.limit:
            self.rejected_429 += 1
            return 429, {"Content-Type": "application/json", "Retry-After": f"{self.retry_after:g}"}, {
                "error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).",
                          "status": "RESOURCE_EXHAUSTED"}}
        try:
            msg = json.loads(body)
        except ValueError:
            return 400, {"Content-Type": "application/json"}, {"error": {"code": 400, "message": "bad JSON"}}
        problems = message_errors(msg)
        if problems:
            self.invalid.append(problems)
            return 400, {"Content-Type": "application/json"}, {
                "error": {"code": 400, "message": "; ".join(problems)}}
        self.sent_at.append(now)
        key = (msg.get("thread") or {}).get("threadKey")
        option = q.get("messageReplyOption")
        if key and option in ("REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD", "REPLY_MESSAGE_OR_FAIL"):
            thread = self.threads.setdefault(key, f"spaces/AAAA/threads/t{len(self.threads) + 1}")
        else:
            thread = f"spaces/AAAA/threads/n{len(self.messages) + 1}"
        stored = {**msg, "name": f"spaces/AAAA/messages/m{len(self.messages) + 1}",
                  "thread": {"name": thread, **({"threadKey": key} if key else {})},
                  "received_at": time.time(), "requestId": request_id}
        self.messages.append(stored)
        if request_id:
            self.by_request[request_id] = {k: v for k, v in stored.items()
                                           if k not in ("received_at", "requestId")}
        answer = {k: v for k, v in stored.items() if k not in ("received_at", "requestId")}
        return 200, {"Content-Type": "application/json; charset=UTF-8"}, answer
