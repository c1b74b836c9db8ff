"""Discourse's webhook signature: ``sha256=`` + hex HMAC-SHA256 of the raw body."""
from __future__ import annotations

import hashlib
import hmac
import secrets

from syncd.errors import SignatureError

PREFIX = "sha256="


def sign(secret: str, body: bytes) -> str:
    return PREFIX + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> None:
    """Raise ``SignatureError`` unless ``header`` signs ``body`` with ``secret``.

    Compares in constant time. The raw bytes are checked, never re-serialised JSON.
    """
    if not header:
        raise SignatureError("missing X-Discourse-Event-Signature: set the same secret in "
                             "Discourse (Admin → API → Webhooks) and in syncd")
    if not header.startswith(PREFIX):
        raise SignatureError("X-Discourse-Event-Signature must start with 'sha256='")
    expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    received = header[len(PREFIX):].strip().lower()
    # bytes, not str: compare_digest refuses a str with non-ASCII characters (TypeError)
    if not hmac.compare_digest(expected.encode("ascii"),
                               received.encode("utf-8", "surrogateescape")):
        raise SignatureError("signature does not match: the webhook secret in Discourse "
                             "differs from syncd's")


def generate_secret() -> str:
    """A new webhook secret, well over Discourse's 12-character minimum."""
    return secrets.token_urlsafe(32)
