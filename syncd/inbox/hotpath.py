"""``POST /webhooks/discourse`` as a plain WSGI function in front of Flask.

Discourse's deliveries are the one request syncd serves at volume, so they skip Flask's
request context, URL adapter and response machinery: this function reads the WSGI
environ, verifies, parses what the answer needs, stores through the group-commit writer
and answers with the same status codes and JSON bodies as the Flask route did. Every other
path and method goes on to Flask unchanged (``wrap(app, receiver)`` installs it as the
app's ``wsgi_app`` middleware, so the test client and waitress both go through it).

The guarantees are those of ``http.py``: no network I/O, a 202 only after the row is
committed, and every refusal a JSON ``{"status": "error", "error": ...}`` with the reason.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from email.utils import formatdate
from typing import Any, Callable, Iterable

from syncd import logs, metrics
from syncd.core.events import Event, parse_body
from syncd.errors import PayloadError, PayloadTooLarge, SyncdError
from syncd.inbox import signature
from syncd.inbox.writer import unstorable
from syncd.store import deliveries
from syncd.store.db import transaction

log = logs.get("syncd.app")
PATH = "/webhooks/discourse"
ACTED_ON = frozenset({"topic", "post", "like", "solved", "topic_voting", "assign"})
# The headers a delivery keeps (deliveries.KEPT_HEADERS), by their WSGI environ key.
_ENVIRON_HEADERS = tuple(
    (name.lower(), "CONTENT_TYPE" if name == "Content-Type"
     else "HTTP_" + name.upper().replace("-", "_"))
    for name in deliveries.KEPT_HEADERS)
_REQUIRED = (("X-Discourse-Event", "HTTP_X_DISCOURSE_EVENT"),
             ("X-Discourse-Event-Type", "HTTP_X_DISCOURSE_EVENT_TYPE"),
             ("X-Discourse-Event-Id", "HTTP_X_DISCOURSE_EVENT_ID"))
_STATUS = {200: "200 OK", 202: "202 Accepted", 400: "400 Bad Request",
           401: "401 Unauthorized", 413: "413 Request Entity Too Large",
           500: "500 Internal Server Error", 503: "503 Service Unavailable"}
_OBSERVE = metrics.INGEST_SECONDS.observe
_json_str = json.encoder.encode_basestring_ascii   # a JSON string literal, C speed
_ACCEPTED_INC, _DUPLICATE_INC = metrics.ACCEPTED.inc, metrics.DUPLICATE.inc


def flask_json(body: dict[str, Any]) -> bytes:
    """What Flask's ``jsonify`` sends outside debug mode: compact, sorted, ASCII, newline."""
    return (json.dumps(body, ensure_ascii=True, sort_keys=True, separators=(",", ":"))
            + "\n").encode("ascii")


def wrap(app: Any, receiver: Any) -> None:
    """Serve ``POST /webhooks/discourse`` here, everything else through ``app`` (Flask)."""
    flask_wsgi = app.wsgi_app

    def wsgi(environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == PATH and environ.get("REQUEST_METHOD") == "POST":
            return handle(receiver, environ, start_response)
        return flask_wsgi(environ, start_response)

    app.wsgi_app = wsgi


# The answer the event loop already has for the request its thread is serving now
# (inbox/loop.py): ``handle`` sends it instead of receiving the delivery again.
PREPARED = threading.local()


def handle(r: Any, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
    ready = getattr(PREPARED, "answer", None)
    if ready is not None:
        PREPARED.answer = None
        status, payload, started = ready
    else:
        started = time.perf_counter()
        pressure = r.pressure
        if pressure is not None:
            pressure.begin()     # the processor stays off the GIL until this one is answered
        try:
            status, payload = answer(r, environ)
        finally:
            if pressure is not None:
                pressure.end()
    start_response(_STATUS.get(status) or f"{status} Error",
                   [("Content-Type", "application/json"), ("Content-Length", str(len(payload))),
                    ("Date", http_date())])
    _OBSERVE(time.perf_counter() - started)
    return [payload]


def answer(r: Any, environ: dict[str, Any]) -> tuple[int, bytes]:
    """(status, JSON body) for one delivery, refusals included."""
    try:
        return receive(r, environ)
    except Exception as exc:
        return refusal(exc)


def refusal(exc: Exception) -> tuple[int, bytes]:
    """The answer for a delivery that raised: its ``SyncdError``'s status and reason, or
    500 (never a traceback to the caller; the log has it)."""
    if isinstance(exc, SyncdError):
        status = exc.http_status
        metrics.DELIVERIES.labels(str(status)).inc()
        return status, flask_json({"status": "error", "error": str(exc)})
    log.error("request_failed", error=str(exc), exc_info=exc)
    metrics.DELIVERIES.labels("500").inc()
    return 500, flask_json({"status": "error", "error": "internal error: see syncd's log"})


_date_cache: tuple[int, str] = (0, "")


def http_date() -> str:
    """The Date header, formatted once a second (its resolution) rather than by the server
    for every answer."""
    global _date_cache
    now = int(time.time())
    second, text = _date_cache
    if second != now:
        text = formatdate(now, usegmt=True)
        _date_cache = (now, text)
    return text


def read_body(environ: dict[str, Any], limit: int) -> bytes:
    """The raw body, never more than ``limit`` bytes read (Discourse sends Content-Length)."""
    stream = environ["wsgi.input"]
    raw_length = environ.get("CONTENT_LENGTH")
    if raw_length:
        try:
            length = int(raw_length)
        except ValueError:
            raise PayloadError("Content-Length is not a number") from None
        if length > limit:
            raise PayloadTooLarge(f"body over {limit} bytes")
        return stream.read(length) if length > 0 else b""
    chunks, size = [], 0
    while size <= limit:
        chunk = stream.read(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
    raise PayloadTooLarge(f"body over {limit} bytes")


class Admitted:
    """A delivery that passed the door and is to be stored."""

    __slots__ = ("headers", "body", "topic_id", "name")

    def __init__(self, headers: dict[str, str], body: bytes, topic_id: int | None, name: str):
        self.headers, self.body, self.topic_id, self.name = headers, body, topic_id, name

    def item(self) -> tuple[dict[str, str], bytes, int | None]:
        return self.headers, self.body, self.topic_id


def receive(r: Any, environ: dict[str, Any]) -> tuple[int, bytes]:
    """(status, JSON body) for one delivery; raises ``SyncdError`` for a refusal."""
    got = admit(r, environ)
    if not isinstance(got, Admitted):
        return got
    try:
        if r.writer is not None:
            stored = r.writer.store_delivery(*got.item())
        else:
            with transaction(r.store.db()) as tx:
                stored = deliveries.store(tx, *got.item())
    except sqlite3.Error as exc:
        raise unstorable(exc) from exc
    return accepted(r, got, stored)


def admit(r: Any, environ: dict[str, Any]) -> tuple[int, bytes] | Admitted:
    """Verify and read a delivery: the answer when it is ignored, else the delivery to
    store; raises ``SyncdError`` for a refusal. Reads the database (relevance), never
    writes it."""
    body = read_body(environ, r.settings.server.max_body_bytes)
    keeper = r.secrets             # a SecretKeeper: the current and, in a grace, the old one
    if keeper is None:
        signature.verify(r.secret, body, environ.get("HTTP_X_DISCOURSE_EVENT_SIGNATURE"))
    else:
        keeper.verify(body, environ.get("HTTP_X_DISCOURSE_EVENT_SIGNATURE"))
    missing = [name for name, key in _REQUIRED if not environ.get(key)]
    if missing:
        raise PayloadError(f"missing header(s): {', '.join(missing)}")
    headers = {low: environ[key] for low, key in _ENVIRON_HEADERS if key in environ}
    name, kind = headers["x-discourse-event"], headers["x-discourse-event-type"]
    data = parse_body(body)
    if name == "ping" or kind == "ping":
        return ignored("ping: syncd is listening", name)
    if kind not in ACTED_ON:
        return ignored(f"syncd does not act on {kind} events ({name})", name)
    event = Event.from_delivery(headers, data)
    try:
        reason = r.relevance(r.store.db().conn, event)
    except sqlite3.Error as exc:
        raise unstorable(exc) from exc
    if reason:
        return ignored(reason, name)
    return Admitted(headers, body, event.topic_id, name)


def accepted(r: Any, delivery: Admitted, stored: deliveries.Stored) -> tuple[int, bytes]:
    """The answer once the delivery is committed: 202, or 200 for a duplicate."""
    event_id = delivery.headers["x-discourse-event-id"]
    if stored.duplicate:
        _DUPLICATE_INC()
        log.info("delivery_duplicate", discourse_event=delivery.name, event_id=event_id)
        return 200, b'{"status": "duplicate"}'
    if not r.wake.is_set():
        r.wake.set()
    _ACCEPTED_INC()
    # json.dumps({"status": "accepted", "event_id": ..., "delivery_id": ...}), spelt out
    return 202, (f'{{"status": "accepted", "event_id": {_json_str(event_id)}, '
                 f'"delivery_id": {int(stored.id)}}}').encode("ascii")


def ignored(reason: str, name: str) -> tuple[int, bytes]:
    metrics.DELIVERIES.labels("ignored").inc()
    log.info("delivery_ignored", discourse_event=name, reason=reason)
    return 200, flask_json({"status": "ignored", "reason": reason})
