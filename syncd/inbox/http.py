"""The HTTP surface: ``POST /webhooks/discourse``, ``GET /healthz``, ``GET /metrics``.

The request path does no network I/O: verify the HMAC of the raw body, parse, dedupe,
store, answer. A delivery is acknowledged (202) only after its row is committed.
"""
from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from flask import Flask, Response, jsonify, request

from syncd import logs, metrics, web
from syncd.store import categories
from syncd.store import deliveries
from syncd.store import intakes
from syncd.inbox import hotpath, proxies, readiness
from syncd.inbox import form as intake_form, teams as intake_teams
from syncd.config import Settings
from syncd.errors import SyncdError
from syncd.core.events import Event
from syncd.outbox.queue import counts as outbox_counts
from syncd.store.db import Store

log = logs.get("syncd.app")
ACTED_ON = hotpath.ACTED_ON


@dataclass
class Receiver:
    """What the endpoint needs, built once at start (no per-request config reads)."""

    settings: Settings
    store: Store
    secret: str
    wake: threading.Event = field(default_factory=threading.Event)
    writer: Any = None              # an IngestWriter (group commit); None: store inline
    pressure: Any = None            # an IngestPressure the processor yields to
    rules_count: Callable[[], int | None] = lambda: None
    delivery_health: Callable[[sqlite3.Connection], dict[str, Any]] | None = None
    admin_state: Callable[[], dict[str, Any]] | None = None   # reload state (syncd.reload)
    secrets: Any = None             # a SecretKeeper (rotation); None: only ``secret``
    connections: Callable[[], int] | None = None   # open client connections (waitress)
    outbox_wake: threading.Event | None = None   # set when an intake's topic action is stored
    _cache: dict[str, Any] = field(default_factory=dict)

    def ticket_category_ids(self, conn: sqlite3.Connection) -> tuple[frozenset[int] | None, list[str]]:
        """Cached for a few seconds: the map changes only when categories are learnt."""
        cached = self._cache.get("cats")
        if cached and time.monotonic() - cached[0] < 5:
            return cached[1]
        cmap = categories.load(conn, self.settings.discourse.category_map)
        value = cmap.ticket_ids(self.settings.discourse.categories)
        self._cache["cats"] = (time.monotonic(), value)
        return value

    def relevance(self, conn: sqlite3.Connection, event: Event) -> str | None:
        """None when syncd acts on the event, else why it is ignored."""
        if event.topic_id is None:
            return f"{event.name} names no topic"
        ids, missing = self.ticket_category_ids(conn)
        if ids is None or event.category_id in ids:
            return None
        if missing and event.category_id is not None and event.post is None:
            return None  # a configured slug we cannot resolve yet: keep, the processor decides
        if event.post is not None and event.post.category_slug in missing:
            return None
        if deliveries.is_known_topic(conn, event.topic_id):
            return None
        if event.topic is None and event.post is None:   # plugin events name only the topic
            return f"topic {event.topic_id} is not a ticket syncd knows"
        where = "no category (a private message)" if event.category_id is None \
            else f"category {event.category_id}"
        return f"{where} is not a ticket category"


def create_app(receiver: Receiver) -> Flask:
    app = Flask("syncd")
    app.config["MAX_CONTENT_LENGTH"] = receiver.settings.server.max_body_bytes

    @app.errorhandler(SyncdError)
    def syncd_error(exc: SyncdError):
        status = exc.http_status
        metrics.DELIVERIES.labels(str(status)).inc()
        return jsonify({"status": "error", "error": str(exc)}), status

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        from werkzeug.exceptions import HTTPException
        if isinstance(exc, HTTPException):
            return jsonify({"status": "error", "error": exc.description}), exc.code
        log.exception("request_failed", error=str(exc))
        metrics.DELIVERIES.labels("500").inc()
        return jsonify({"status": "error", "error": "internal error: see syncd's log"}), 500

    @app.errorhandler(413)
    def too_large(_exc):
        metrics.DELIVERIES.labels("413").inc()
        limit = receiver.settings.server.max_body_bytes
        return jsonify({"status": "error", "error": f"body over {limit} bytes"}), 413

    @app.post("/webhooks/discourse")
    def discourse_webhook():   # reached only past hotpath.wrap (which answers it first)
        status, payload = hotpath.receive(receiver, request.environ)
        return Response(payload, status=status, mimetype="application/json")

    for intake in (intake_teams, intake_form):  # POST /intake/teams, /intake/form, GET /intake/ID
        app.register_blueprint(intake.blueprint(receiver))

    @app.get("/healthz")
    def healthz():
        return _health(receiver)

    readiness.register(app, receiver)

    @app.get("/metrics")
    def metrics_text():
        _refresh_gauges(receiver)
        return Response(metrics.render(), mimetype="text/plain; version=0.0.4")

    web.register(app, receiver.settings, receiver.store)  # the staff pages: /auth, /me, /tickets
    hotpath.wrap(app, receiver)   # POST /webhooks/discourse without Flask's request machinery
    proxies.register(app, receiver.settings.server.trusted_proxies)   # outermost: every path
    return app


def _backlog(conn: sqlite3.Connection) -> dict[str, int]:
    outbox = outbox_counts(conn)["by_status"]
    by_status = deliveries.counts(conn)
    return {"actions_undelivered": outbox.get("pending", 0) + outbox.get("sending", 0),
            "actions_dead": outbox.get("dead", 0),
            "deliveries_unprocessed": by_status.get("pending", 0),
            "deliveries_failed": by_status.get("failed", 0)}


def _refresh_gauges(r: Receiver) -> None:
    metrics.CONNECTION_LIMIT.set(r.settings.server.connection_limit)
    if r.connections is not None:
        metrics.OPEN_CONNECTIONS.set(r.connections())
    if r.writer is not None:
        metrics.WRITER_RESTARTS.set(getattr(r.writer, "restarts", 0))
    try:
        backlog = _backlog(r.store.db().conn)
    except sqlite3.Error:
        return
    metrics.BACKLOG.set(backlog["actions_undelivered"])
    metrics.UNPROCESSED.set(backlog["deliveries_unprocessed"])


def _version(conn: sqlite3.Connection) -> str | None:
    """The forum's version as last learnt (a delivery's User-Agent, /about.json)."""
    from syncd.store import site
    return site.version(conn)


def _health(r: Receiver):
    try:
        conn = r.store.db().conn
        backlog = _backlog(conn)
        extra = r.delivery_health(conn) if r.delivery_health else {}
        extra = {**extra, "intake": intakes.counts(conn)}
    except sqlite3.Error as exc:
        return jsonify({"status": "unavailable", "database": f"unreachable: {exc}"}), 503
    admin, reasons = readiness.admin_extras(r)
    body = {"status": "ok", "database": "ok", "rules_loaded": r.rules_count(),
            "backlog": backlog, **extra, **admin}
    body["discourse_version"] = _version(conn)
    if extra.get("failing_channels") or reasons:
        body["status"] = "degraded"
    if reasons:
        body["reasons"] = reasons
    if r.writer is not None and not getattr(r.writer, "alive", True):
        body["status"] = "unavailable"
        body["ingest_writer"] = ("dead: deliveries cannot be stored; the next delivery starts "
                                 "a new writer, or restart syncd")
        return jsonify(body), 503
    return jsonify(body), 200
