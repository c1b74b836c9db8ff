"""What the two intake endpoints share (``teams.py``, ``form.py``): reading a bounded body,
the bearer check, storing a request with its outbox action, and the intake counter.

The request path makes no network call: check, parse, store (one transaction), answer.
"""
from __future__ import annotations

import hmac
import json
import sqlite3
from typing import Any

from flask import Response, request
from prometheus_client import Counter

from syncd import logs, metrics
from syncd.config import Settings
from syncd.core.intake import IntakeRequest, choose_category
from syncd.errors import PayloadTooLarge, SignatureError, StorageError, SyncdError
from syncd.store import categories, intakes
from syncd.store.db import transaction

log = logs.get("syncd.intake")
REQUESTS = Counter("syncd_intake_requests_total", "Intake requests (Teams, form), by answer",
                   ["source", "answer"], registry=metrics.REGISTRY)


def read_body(limit: int) -> bytes:
    """The raw body, never more than ``limit`` bytes read."""
    length = request.content_length
    if length is not None and length > limit:
        raise PayloadTooLarge(f"body over {limit} bytes")
    data = request.stream.read(limit + 1) if length is None else request.stream.read(length)
    if len(data) > limit:
        raise PayloadTooLarge(f"body over {limit} bytes")
    return data


def check_bearer(token: str, header: str | None) -> None:
    """``Authorization: Bearer <token>``, compared in constant time."""
    scheme, _, given = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise SignatureError("missing Authorization: Bearer <token> (intake.form.token)")
    if not hmac.compare_digest(given.strip().encode("utf-8", "replace"), token.encode("utf-8")):
        raise SignatureError("the bearer token does not match intake.form.token")


def answer_refusals(bp: Any, source: str) -> None:
    """A refused intake request (401, 400, 413, 503) answers JSON, counted and logged."""
    @bp.errorhandler(SyncdError)
    def refused(exc: SyncdError):
        REQUESTS.labels(source, str(exc.http_status)).inc()
        log.info("intake_refused", source=source, status=exc.http_status, error=str(exc))
        return json_answer({"status": "error", "error": str(exc)}, exc.http_status)


def json_answer(body: dict[str, Any], status: int) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status,
                    mimetype="application/json")


def ticket_categories(settings: Settings, conn: sqlite3.Connection) -> tuple[Any, ...] | None:
    """The categories a form may choose: the ticket categories, by slug and by id."""
    configured = tuple(settings.discourse.categories)
    cmap = categories.load(conn, settings.discourse.category_map)
    if not configured:
        known = tuple(cmap.by_slug) + tuple(cmap.by_slug.values())
        return known or None
    out: list[Any] = []
    for ref in configured:
        out.append(ref)
        if isinstance(ref, str) and ref in cmap.by_slug:
            out.append(cmap.by_slug[ref])
        if isinstance(ref, int) and ref in cmap.by_id:
            out.append(cmap.by_id[ref])
    return tuple(out)


def save(receiver: Any, req: IntakeRequest) -> tuple[int, bool, Any]:
    """Store the request and its topic action; ``(intake id, duplicate, category)``. The
    delivery workers are woken: the topic is made at once, not at their next poll."""
    settings, store = receiver.settings, receiver.store
    i = settings.intake
    category = choose_category(req.priority, req.category, i.categories_by_priority,
                               i.default_category(tuple(settings.discourse.categories)))
    try:
        db = store.db()
        with transaction(db) as conn:
            cmap = categories.load(conn, settings.discourse.category_map)
            category_id = category if isinstance(category, int) else cmap.by_slug.get(category)
            intake_id, duplicate = intakes.store(conn, req, category, category_id)
    except sqlite3.Error as exc:
        log.error("intake_not_stored", source=req.source, error=str(exc))
        raise StorageError(f"could not store the request ({exc}); nothing was saved: send it "
                           "again once the database is writable") from exc
    if not duplicate and getattr(receiver, "outbox_wake", None) is not None:
        receiver.outbox_wake.set()
    return intake_id, duplicate, category
