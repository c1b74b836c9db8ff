"""The DiscourseConnect provider protocol, syncd's side (standard library only).

As Discourse implements it (``lib/discourse_connect_base.rb``, ``lib/discourse_connect_provider.rb``,
``SessionController#sso_provider``):

- request: ``sso = base64(urlencode({nonce, return_sso_url}))`` (standard alphabet, padded),
  ``sig = hex(HMAC-SHA256(key=secret, msg=sso))`` over the base64 *text*; the browser goes
  to ``{forum}/session/sso_provider?sso=…&sig=…`` with ``+ / =`` percent-encoded;
- answer: the browser comes back to ``return_sso_url?sso=…&sig=…``; the signature covers
  the base64 text as received, the payload carries ``nonce``, ``external_id`` (the user id),
  ``username``, ``name``, ``email``, ``admin`` and ``moderator`` (``true``/``false``) and
  ``groups`` (comma-joined names).

Discourse keeps no record of provider nonces: single use and expiry are syncd's
(``web.auth``).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

_BASE64 = re.compile(r"\A[A-Za-z0-9+/=\r\n]+\Z")


class ConnectError(Exception):
    """The answer from Discourse cannot be trusted; the message says why (no secret inside)."""


@dataclass(frozen=True)
class Identity:
    """Who Discourse says signed in."""

    id: int
    username: str
    name: str
    email: str
    admin: bool
    moderator: bool
    groups: tuple[str, ...]
    nonce: str

    def is_staff(self, staff_groups: tuple[str, ...] | list[str]) -> bool:
        """Admins, moderators and members of ``discourse.staff_groups``."""
        wanted = {g.lower() for g in staff_groups}
        return self.admin or self.moderator or bool(wanted & {g.lower() for g in self.groups})

    def as_person(self) -> dict:
        return {"id": self.id, "username": self.username, "name": self.name,
                "email": self.email, "admin": self.admin, "moderator": self.moderator,
                "groups": list(self.groups)}


def sign(payload: str, secret: str) -> str:
    """Discourse's ``sign``: lowercase hex HMAC-SHA256 of the base64 text."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def request_query(nonce: str, return_url: str, secret: str) -> str:
    """The query string for ``/session/sso_provider``."""
    raw = urlencode({"nonce": nonce, "return_sso_url": return_url})
    sso = base64.b64encode(raw.encode()).decode()
    return urlencode({"sso": sso, "sig": sign(sso, secret)})


def login_url(forum_url: str, nonce: str, return_url: str, secret: str) -> str:
    return f"{forum_url.rstrip('/')}/session/sso_provider?{request_query(nonce, return_url, secret)}"


def _bool(value: str | None) -> bool:
    return value == "true"


def verify(sso: str | None, sig: str | None, secret: str) -> dict[str, str]:
    """Check the signature and decode the payload; ``ConnectError`` otherwise."""
    if not sso or not sig:
        raise ConnectError("the answer from Discourse has no sso or sig parameter")
    if not _BASE64.match(sso):
        raise ConnectError("the sso parameter is not Base64")
    if not hmac.compare_digest(sign(sso, secret), sig.strip().lower()):
        raise ConnectError("the signature does not match: is web.discourse_connect_secret the "
                           "same secret as in Discourse's discourse_connect_provider_secrets?")
    try:
        decoded = base64.b64decode(sso, validate=False).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise ConnectError("the sso payload cannot be decoded") from None
    return dict(parse_qsl(decoded, keep_blank_values=True))


def identity(fields: dict[str, str]) -> Identity:
    """The signed-in user from a verified payload."""
    if fields.get("failed") == "true":
        raise ConnectError("nobody is signed in to Discourse")
    try:
        user_id = int(fields.get("external_id") or "")
    except ValueError:
        raise ConnectError("the answer names no user (external_id)") from None
    username = fields.get("username") or ""
    if not username:
        raise ConnectError("the answer names no username")
    groups = tuple(g for g in (fields.get("groups") or "").split(",") if g)
    return Identity(id=user_id, username=username, name=fields.get("name") or "",
                    email=fields.get("email") or "", admin=_bool(fields.get("admin")),
                    moderator=_bool(fields.get("moderator")), groups=groups,
                    nonce=fields.get("nonce") or "")
