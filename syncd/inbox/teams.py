"""``POST /intake/teams``: a Microsoft Teams outgoing webhook asks for a ticket.

Someone @mentions the webhook in a channel with ``Title:``, ``Priority:`` and
``Description:``. The HMAC is checked on the raw body before anything is parsed
(``Authorization: HMAC base64(HMAC-SHA256(base64-decoded security token, raw body))``, as
Microsoft's Node, C# and Python samples compute it), the text is read
(``syncd.core.teams_text``), the request and its topic action are stored in one transaction, and
Teams gets its reply at once (it waits five seconds at most): the title, the priority, and
that the topic is on its way. Text that cannot be read gets a reply naming what is missing
or wrong, with the format, and nothing is stored. The Activity id dedupes.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from flask import Blueprint, request

from syncd.core.events import parse_body
from syncd.core.teams_text import accepted_reply, corrective_reply, duplicate_reply, teams_request
from syncd.errors import PayloadError, SignatureError, StorageError
from syncd.inbox.intake_http import REQUESTS, answer_refusals, json_answer, log, read_body, save

SCHEME = "HMAC"


def sign(security_token: str, body: bytes) -> str:
    """The ``Authorization`` value Teams sends for ``body``."""
    key = base64.b64decode(security_token, validate=True)
    digest = hmac.new(key, body, hashlib.sha256).digest()
    return f"{SCHEME} {base64.b64encode(digest).decode('ascii')}"


def verify(security_token: str, body: bytes, header: str | None) -> None:
    """Raise ``SignatureError`` unless ``header`` is Teams' HMAC of the raw ``body`` with the
    token (or one of the comma-separated tokens: one outgoing webhook per team)."""
    if not header:
        raise SignatureError("missing Authorization: HMAC <signature> (is this a Teams "
                             "outgoing webhook?)")
    scheme, _, given = header.strip().partition(" ")
    if scheme != SCHEME or not given.strip():
        raise SignatureError("Authorization must be 'HMAC <signature>'")
    if not body:
        raise SignatureError("an empty body cannot be authenticated")
    try:
        expected = [sign(t.strip(), body)[len(SCHEME) + 1:] for t in security_token.split(",")]
    except (binascii.Error, ValueError):
        raise SignatureError("intake.teams.security_token is not base64: copy it again from "
                             "Teams") from None
    given_bytes = given.strip().encode("ascii", "replace")
    matches = [hmac.compare_digest(given_bytes, e.encode("ascii")) for e in expected]
    if not any(matches):
        raise SignatureError("the HMAC does not match: intake.teams.security_token differs "
                             "from the token Teams showed for this webhook")


def message(text: str) -> dict[str, str]:
    return {"type": "message", "text": text}


def blueprint(receiver) -> Blueprint:
    bp = Blueprint("intake_teams", __name__)
    settings = receiver.settings

    answer_refusals(bp, "teams")

    @bp.post("/intake/teams")
    def teams():
        token = settings.intake.teams_security_token
        body = read_body(settings.server.max_body_bytes)
        if not token:
            raise _Off("Teams intake is off: set intake.teams.security_token (the token Teams "
                       "shows when the outgoing webhook is made)")
        verify(token, body, request.headers.get("Authorization"))
        activity = parse_body(body)
        req, problems = teams_request(activity, settings.intake.min_title_length)
        if req is None:
            REQUESTS.labels("teams", "corrected").inc()
            log.info("intake_unreadable", source="teams", problems=[p.message for p in problems])
            return json_answer(message(corrective_reply(problems)), 200)
        try:
            intake_id, duplicate, category = save(receiver, req)
        except StorageError as exc:  # Teams does not retry: tell the person, in the channel
            REQUESTS.labels("teams", "503").inc()
            return json_answer(message(f"The helpdesk could not save this just now, so nothing "
                                       f"was created: please send it again in a few minutes. "
                                       f"({exc})"), 200)
        if duplicate:
            REQUESTS.labels("teams", "duplicate").inc()
            return json_answer(message(duplicate_reply(intake_id)), 200)
        REQUESTS.labels("teams", "accepted").inc()
        log.info("intake_accepted", source="teams", intake_id=intake_id, priority=req.priority,
                 category=category)
        return json_answer(message(accepted_reply(req, intake_id)), 200)

    return bp


class _Off(PayloadError):
    http_status = 503
