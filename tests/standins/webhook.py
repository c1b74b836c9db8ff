"""A receiver of Standard Webhooks (standardwebhooks.com, spec 1.0.0): it verifies every
request as the spec and its reference library do, and dedupes on ``webhook-id``.

- all three headers, else 400; ``webhook-timestamp`` within 5 minutes of now (``clock``),
  else 401; ``webhook-signature`` a space-separated list of ``v<n>,<base64>`` of which a
  ``v1`` must equal HMAC-SHA256(key, ``"<id>.<timestamp>.<raw body>"``) compared in
  constant time (other versions skipped, a malformed entry a non-match), else 401;
- a ``webhook-id`` seen before answers 200 again and records nothing (the dedupe the
  spec asks receivers to do);
- ``status`` forces an answer (e.g. 503, 410), with ``retry_after`` on 429/503.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any, Callable

from standins import StandIn

TOLERANCE = 5 * 60


def key_of(secret: str) -> bytes:
    raw = secret[6:] if secret.startswith("whsec_") else secret
    return base64.b64decode(raw + "==")


def verify(secret: str, headers: dict[str, str], body: bytes, now: float) -> str | None:
    """None when valid, else why not."""
    h = {k.lower(): v for k, v in headers.items()}
    msg_id, stamp, sigs = h.get("webhook-id"), h.get("webhook-timestamp"), h.get("webhook-signature")
    if not (msg_id and stamp and sigs):
        return "missing headers"
    try:
        ts = int(stamp)
    except ValueError:
        return "bad timestamp"
    if abs(now - ts) > TOLERANCE:
        return "timestamp too old or too new"
    expected = hmac.new(key_of(secret), f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    for entry in sigs.split(" "):
        version, _, sig = entry.partition(",")
        if version != "v1" or not sig:
            continue
        try:
            given = base64.b64decode(sig)
        except ValueError:
            continue
        if hmac.compare_digest(expected, given):
            return None
    return "no matching signature"


class WebhookReceiver(StandIn):
    def __init__(self, secret: str, clock: Callable[[], float] = time.time):
        super().__init__()
        self.secret, self.clock = secret, clock
        self.received: dict[str, dict[str, Any]] = {}
        self.refused: list[str] = []
        self.requests = 0
        self.status: int | None = None
        self.retry_after = 1

    @property
    def url(self) -> str:
        return self.base_url + "/hooks/syncd"

    def handle(self, method, path, query, headers, body):
        with self.lock:
            self.requests += 1
            if self.status is not None:
                extra = {"Retry-After": str(self.retry_after)} if self.status in (429, 503) else {}
                return self.status, extra, b"forced"
            why = verify(self.secret, headers, body, self.clock())
            if why:
                self.refused.append(why)
                return 401 if why != "missing headers" else 400, {}, why.encode()
            msg_id = {k.lower(): v for k, v in headers.items()}["webhook-id"]
            if msg_id not in self.received:
                self.received[msg_id] = {"body": json.loads(body), "headers": dict(headers)}
            return 204, {}, b""
