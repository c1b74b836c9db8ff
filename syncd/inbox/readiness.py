"""``/readyz``, and what ``/healthz`` adds about reloads.

``/healthz`` answers 200 while syncd is up (503 only when the database is unreachable), and
says ``degraded`` with ``reasons`` when something needs an admin. ``/readyz`` answers 200
only when everything works, and 503 with the reasons while the database, Discourse or a
channel refuses, or the running rules differ from the files, so a monitor that reads status
codes sees it.
"""
from __future__ import annotations

import sqlite3
from typing import Any

from flask import Flask, jsonify


def admin_extras(receiver: Any) -> tuple[dict[str, Any], list[str]]:
    """The reload state for /healthz, and the reasons it makes syncd degraded."""
    state = _state(receiver)
    if state is None:
        return {}, []
    reasons = list(state.get("reasons", [])) + list(state.get("notes", []))
    restart = state.get("reload", {}).get("restart_needed") or []
    if restart:
        reasons.append("restart needed for: " + ", ".join(restart))
    body = {"reload": state.get("reload"), "rules_current": state.get("rules_current", True),
            "rules_problems": state.get("rules_problems", [])}
    if state.get("backup"):
        body["backup"] = state["backup"]
    return body, reasons


def _state(receiver: Any) -> dict[str, Any] | None:
    """The reload state, or what went wrong reading it (a health check never raises)."""
    state_of = getattr(receiver, "admin_state", None)
    if state_of is None:
        return None
    try:
        return state_of()
    except Exception as exc:  # report, do not answer 500
        return {"reasons": [f"reload state unavailable: {type(exc).__name__}: {exc}"]}


def _refusing(receiver: Any, conn: sqlite3.Connection) -> list[str]:
    health = receiver.delivery_health(conn) if receiver.delivery_health else {}
    out = []
    for row in health.get("failing_channels") or []:
        who = "Discourse" if row.get("channel") == "discourse" else f"channel {row.get('channel')}"
        status = f" ({row['http_status']})" if row.get("http_status") else ""
        out.append(f"{who} refuses{status} since {row.get('since')}: {row.get('error')}")
    return out


def readiness(receiver: Any) -> tuple[int, dict[str, Any]]:
    """(status code, body) of /readyz."""
    reasons: list[str] = []
    try:
        conn = receiver.store.db().conn
        conn.execute("SELECT 1 FROM schema_migrations LIMIT 1").fetchall()
        reasons += _refusing(receiver, conn)
    except sqlite3.Error as exc:
        reasons.append(f"database unreachable: {exc}")
    state = _state(receiver)
    if state is not None:
        reasons += list(state.get("reasons", []))
    if reasons:
        return 503, {"status": "not ready", "reasons": reasons}
    return 200, {"status": "ready"}


def register(app: Flask, receiver: Any) -> None:
    @app.get("/readyz")
    def readyz():
        status, body = readiness(receiver)
        return jsonify(body), status
