"""A stand-in of Discourse as a DiscourseConnect provider: ``GET /session/sso_provider``.

Built from Discourse's own source (discourse/discourse, GPL-2.0; read, not copied):
``lib/discourse_connect_base.rb`` (``sign``: hex HMAC-SHA256 of the base64 text with the raw
secret; ``payload``: ``Base64.strict_encode64`` of ``Rack::Utils.build_query(to_h)`` in
``ACCESSORS`` order, then ``sso=CGI.escape(...)&sig=...``; ``to_url`` adds ``?`` or ``&``),
``lib/discourse_connect_provider.rb`` (the secret is chosen by the ``return_sso_url`` host
from ``discourse_connect_provider_secrets`` rows ``domain|secret``, a leading ``*`` being a
wildcard; no row for the host: 400; a bad signature or non-Base64 ``sso``: 422),
``lib/second_factor/actions/discourse_connect_provider.rb`` (``populate_user_data``: name,
username, email, external_id, admin, moderator, groups) and
``SessionController#sso_provider`` (404 when the provider is off; 302 to ``/login`` when
nobody is signed in, ``failed=true`` with ``prompt=none``; else 302 to ``return_sso_url``).

``user`` is who is signed in to the forum (None: nobody). Every answer is recorded in
``answers`` so a test can replay one.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlsplit

from standins import StandIn

# DiscourseConnectBase::ACCESSORS, in their (alphabetical) order; BOOLS among them.
ACCESSORS = ("add_groups", "admin", "avatar_force_update", "avatar_url", "bio",
             "card_background_url", "confirmed_2fa", "email", "external_id", "failed", "groups",
             "locale", "locale_force_update", "location", "logout", "moderator", "name",
             "no_2fa_methods", "nonce", "prompt", "profile_background_url", "remove_groups",
             "require_2fa", "require_activation", "return_sso_url", "suppress_welcome_message",
             "title", "username", "website")
BOOLS = {"admin", "avatar_force_update", "confirmed_2fa", "failed", "locale_force_update",
         "logout", "moderator", "no_2fa_methods", "require_2fa", "require_activation",
         "suppress_welcome_message"}


def sign(payload: str, secret: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def www_form(value: str) -> str:
    """Ruby's ``URI.encode_www_form_component`` (what ``Rack::Utils.build_query`` uses):
    everything but ``*-._`` and alphanumerics is escaped, a space is ``+``."""
    return quote_plus(value, safe="*").replace("~", "%7E")


def build_query(fields: dict[str, Any]) -> str:
    out = []
    for key in ACCESSORS:
        if key not in fields or fields[key] is None:
            continue
        value = fields[key]
        value = ("true" if value else "false") if key in BOOLS else str(value)
        out.append(f"{key}={www_form(value)}")
    return "&".join(out)


def signed_answer(fields: dict[str, Any], secret: str) -> str:
    """``sso=…&sig=…`` as ``DiscourseConnectBase#payload`` builds it."""
    sso = base64.b64encode(build_query(fields).encode()).decode()
    return f"sso={quote_plus(sso)}&sig={sign(sso, secret)}"


def domain_matches(domain: str, host: str) -> bool:
    """``WildcardDomainChecker.check_domain``: a leading ``*`` matches any run of non-space."""
    pattern = re.escape(domain).replace(r"\*", r"\S*", 1) if domain.startswith("*") else re.escape(domain)
    return re.fullmatch(pattern, host, re.IGNORECASE) is not None


class DiscourseConnectStandIn(StandIn):
    def __init__(self, secrets: str, user: dict[str, Any] | None = None, enabled: bool = True):
        super().__init__()
        self.provider_secrets = secrets      # the site setting: "domain|secret" rows
        self.user = user
        self.enabled = enabled
        self.requests: list[dict[str, str]] = []
        self.answers: list[str] = []

    def _secret_for(self, host: str, sso: str, sig: str) -> str | None:
        rows = [r.split("|", 1) for r in self.provider_secrets.split("\n") if "|" in r]
        first = None
        for domain, secret in sorted(rows, key=lambda r: r[0], reverse=True):
            if domain_matches(domain, host):
                first = first or secret
                if sign(sso, secret) == sig:
                    return secret
        return first

    def handle(self, method, path, query, headers, body):
        if method != "GET" or path != "/session/sso_provider":
            return 404, {"Content-Type": "text/plain"}, b"not found"
        if not self.enabled:
            return 404, {"Content-Type": "text/plain"}, b"not found"
        q = dict(parse_qsl(query, keep_blank_values=True))
        sso, sig = q.get("sso", ""), q.get("sig", "")
        if re.search(r"[^a-zA-Z0-9=\r\n/+]", sso):
            return 422, {"Content-Type": "text/plain"}, b"login error"
        request = dict(parse_qsl(base64.b64decode(sso).decode(), keep_blank_values=True))
        return_url = request.get("return_sso_url")
        if not return_url:
            return 422, {"Content-Type": "text/plain"}, b"login error"
        secret = self._secret_for(urlsplit(return_url).hostname or "", sso, sig)
        if not secret:
            return 400, {"Content-Type": "text/plain"}, b"missing secret"
        if sign(sso, secret) != sig:
            return 422, {"Content-Type": "text/plain"}, b"login error"
        if request.get("prompt") not in (None, "none"):
            return 400, {"Content-Type": "text/plain"}, b"invalid parameter value: prompt"
        with self.lock:
            self.requests.append(request)
        fields: dict[str, Any] = {k: v for k, v in request.items() if k in ACCESSORS}
        for key in BOOLS & set(fields):
            fields[key] = fields[key] == "true"
        if self.user is None:
            if request.get("prompt") != "none":
                return 302, {"Location": "/login"}, b""
            fields["failed"] = True
        else:
            u = self.user
            fields.update(name=u.get("name", ""), username=u["username"], email=u.get("email", ""),
                          external_id=str(u["id"]), admin=bool(u.get("admin")),
                          moderator=bool(u.get("moderator")), groups=",".join(u.get("groups", ())))
        answer = signed_answer(fields, secret)
        with self.lock:
            self.answers.append(answer)
        joiner = "&" if "?" in return_url else "?"
        return 302, {"Location": f"{return_url}{joiner}{answer}"}, b""
