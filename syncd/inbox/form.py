"""``POST /intake/form`` and ``GET /intake/{id}``: a form (a Power Automate flow behind
Microsoft Forms, or any script) asks for a ticket and follows it.

The client sends ``Authorization: Bearer <intake.form.token>`` (compared in constant time)
and ``{title, priority, description, requester: {name, email}, category?, tags?,
external_id?}``. Every invalid field is named in one ``400``; a valid request is stored with
its topic action in one transaction and answered ``202 {"status": "accepted",
"intake_id"}``; the same ``external_id`` again is ``200 {"status": "duplicate"}``.
``GET /intake/{id}`` says ``pending | created | failed``, with the topic, the ticket and the
reason a topic could not be made.
"""
from __future__ import annotations

import json

from flask import Blueprint, request

from syncd.core.intake import check_form
from syncd.errors import PayloadError
from syncd.inbox.intake_http import (REQUESTS, answer_refusals, check_bearer, json_answer, log,
                                     read_body, save, ticket_categories)
from syncd.store import intakes


class _Off(PayloadError):
    http_status = 503


class _NotFound(PayloadError):
    http_status = 404


def blueprint(receiver) -> Blueprint:
    bp = Blueprint("intake_form", __name__)
    settings = receiver.settings

    def authorised() -> None:
        token = settings.intake.form_token
        if not token:
            raise _Off("form intake is off: set intake.form.token (clients send "
                       "Authorization: Bearer <token>)")
        check_bearer(token, request.headers.get("Authorization"))

    answer_refusals(bp, "form")

    @bp.post("/intake/form")
    def form():
        authorised()
        body = read_body(settings.server.max_body_bytes)
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            return _invalid([{"field": "body", "message": f"is not JSON: {exc}"}])
        conn = receiver.store.db().conn
        req, problems = check_form(data, settings.intake.min_title_length,
                                   ticket_categories(settings, conn))
        if req is None:
            return _invalid([p.as_dict() for p in problems])
        intake_id, duplicate, category = save(receiver, req)
        if duplicate:
            REQUESTS.labels("form", "duplicate").inc()
            return json_answer({"status": "duplicate", "intake_id": intake_id}, 200)
        REQUESTS.labels("form", "accepted").inc()
        log.info("intake_accepted", source="form", intake_id=intake_id, priority=req.priority,
                 category=category)
        return json_answer({"status": "accepted", "intake_id": intake_id}, 202)

    @bp.get("/intake/<int:intake_id>")
    def status(intake_id: int):
        authorised()
        row = intakes.load(receiver.store.db().conn, intake_id)
        if row is None:
            raise _NotFound(f"no intake {intake_id}")
        return json_answer(intakes.view(row), 200)

    return bp


def _invalid(errors: list[dict[str, str]]):
    REQUESTS.labels("form", "400").inc()
    log.info("intake_invalid", source="form", fields=[e["field"] for e in errors])
    return json_answer({"status": "error", "errors": errors}, 400)
