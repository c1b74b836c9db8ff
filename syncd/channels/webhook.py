"""A generic signed webhook: the notification as JSON (``notice.document``), signed as
Standard Webhooks 1.0 says.

- ``webhook-id`` is the action's key (the same on every retry: the receiver dedupes on
  it), ``webhook-timestamp`` the Unix time of this attempt, ``webhook-signature``
  ``v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`` keyed with the secret's bytes
  (``whsec_<base64>``, as the spec serialises it).
- 2xx is delivered; 429, 502, 503, 504 and other 5xx are retried (``Retry-After``
  honoured); 3xx is a failure (redirects are not followed); 410 and other 4xx are permanent.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Any, Callable

from syncd.channels import register
from syncd.channels.notice import document
from syncd.channels.transport import HttpNotifier, body_text

MIN_SECRET_BYTES = 24
PREFIX = "whsec_"


def secret_bytes(secret: str) -> bytes:
    """The key: the base64 after ``whsec_`` (padding optional), as the reference libraries."""
    raw = secret[len(PREFIX):] if secret.startswith(PREFIX) else secret
    return base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)


def _secret(v: Any) -> Any:
    if not isinstance(v, str):
        return "a string"
    if v == "":
        return True
    try:
        ok = len(secret_bytes(v)) >= MIN_SECRET_BYTES
    except (binascii.Error, ValueError):
        ok = False
    return ok or ("whsec_ and at least 24 bytes of base64 (make one: python -c \"import base64,"
                  "os; print('whsec_' + base64.b64encode(os.urandom(32)).decode())\")")


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret_bytes(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


@register("webhook")
class WebhookNotifier(HttpNotifier):
    """POSTs signed JSON to one URL."""

    SERVICE = "the webhook receiver"
    CONFIG = {"secret": (_secret, "", "the signing secret, whsec_<base64> (from the environment)")}

    @classmethod
    def is_configured(cls, channel: Any) -> bool:
        """Every request is signed: without a secret the channel is a dry-run."""
        return bool(channel.url and channel.options.get("secret"))

    def __init__(self, channel: Any, settings: Any, clock: Callable[[], float] = time.time, **kw: Any):
        super().__init__(channel, settings, **kw)
        self.clock = clock

    def render(self, action: Any) -> dict[str, Any]:
        return document(action, self.name)

    def send(self, action: Any) -> dict[str, Any]:
        body = json.dumps(self.render(action), sort_keys=True, ensure_ascii=False,
                          separators=(",", ":"), default=str).encode()
        stamp = int(self.clock())
        headers = {"Content-Type": "application/json", "webhook-id": action.key,
                   "webhook-timestamp": str(stamp),
                   "webhook-signature": sign(self.options["secret"], action.key, stamp, body)}
        response = self.post(self.channel.url, data=body, headers=headers, allow_redirects=False)
        if 200 <= response.status_code < 300:
            return {"status": response.status_code, "webhook_id": action.key}
        said = body_text(response, 200)
        transient = self.transient_or_none(response, said, default_wait=5.0)
        if transient:
            raise transient
        status = response.status_code
        if 300 <= status < 400:
            why = "the receiver redirects (redirects are not followed): set url to the final address"
        elif status == 410:
            why = "the receiver says this endpoint is gone (410): remove the channel or update url"
        elif status in (401, 403):
            why = (f"the receiver refused the signature ({said or status}): check that both "
                   "sides use the same secret")
        else:
            why = f"the receiver refused the message: {said or status}"
        raise self.refused(status, why)
