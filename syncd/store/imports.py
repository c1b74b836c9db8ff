"""The import's local map (Freshdesk id → Discourse id), its problems and its runs.

Protocol, per item (docs/import.md): ``begin`` marks it ``pending`` and commits *before*
the call; ``done`` records the Discourse id after it. An item found ``pending`` was in
flight when a run died: the caller looks it up in Discourse before creating it again.
"""
from __future__ import annotations

import json
import os
import sqlite3
from typing import Any

from syncd.clock import iso
from syncd.store.db import rows

SOURCE = "freshdesk"


def get(conn: sqlite3.Connection, kind: str, source_id: str, source: str = SOURCE) -> dict | None:
    found = rows(conn, "SELECT * FROM import_map WHERE source = ? AND kind = ? AND source_id = ?",
                 (source, kind, source_id))
    return found[0] if found else None


def begin(conn: sqlite3.Connection, kind: str, source_id: str, ref: str | None = None,
          email: str | None = None, agent: bool = False, source: str = SOURCE) -> str | None:
    """Mark an item in flight; returns its state before (None: never tried)."""
    before = get(conn, kind, source_id, source)
    conn.execute(
        "INSERT INTO import_map (source, kind, source_id, state, ref, email, agent, attempts, "
        "updated_at) VALUES (?, ?, ?, 'pending', ?, ?, ?, 1, ?) ON CONFLICT(source, kind, "
        "source_id) DO UPDATE SET state = 'pending', attempts = attempts + 1, "
        "ref = COALESCE(excluded.ref, ref), email = COALESCE(excluded.email, email), "
        "agent = excluded.agent, updated_at = excluded.updated_at",
        (source, kind, source_id, ref, email, int(agent), iso()))
    return before["state"] if before else None


def done(conn: sqlite3.Connection, kind: str, source_id: str, discourse_id: int | None,
         ref: str | None = None, source: str = SOURCE) -> None:
    conn.execute(
        "INSERT INTO import_map (source, kind, source_id, state, discourse_id, ref, updated_at) "
        "VALUES (?, ?, ?, 'done', ?, ?, ?) ON CONFLICT(source, kind, source_id) DO UPDATE SET "
        "state = 'done', discourse_id = excluded.discourse_id, ref = COALESCE(excluded.ref, ref), "
        "reason = NULL, updated_at = excluded.updated_at",
        (source, kind, source_id, discourse_id, ref, iso()))


def finish(conn: sqlite3.Connection, kind: str, source_id: str, state: str, reason: str,
           ref: str | None = None, source: str = SOURCE) -> None:
    """``failed`` or ``skipped``, with the reason."""
    conn.execute(
        "INSERT INTO import_map (source, kind, source_id, state, ref, reason, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(source, kind, source_id) DO UPDATE SET "
        "state = excluded.state, reason = excluded.reason, ref = COALESCE(excluded.ref, ref), "
        "updated_at = excluded.updated_at",
        (source, kind, source_id, state, ref, reason[:500], iso()))


def username_taken(conn: sqlite3.Connection, username: str, source: str = SOURCE) -> bool:
    return conn.execute("SELECT 1 FROM import_map WHERE source = ? AND kind = 'user' AND "
                        "ref = ? COLLATE NOCASE LIMIT 1", (source, username)).fetchone() is not None


def user_by_email(conn: sqlite3.Connection, email: str, source: str = SOURCE) -> dict | None:
    found = rows(conn, "SELECT * FROM import_map WHERE source = ? AND email = ? AND kind = 'user' "
                 "ORDER BY state = 'done' DESC LIMIT 1", (source, email))
    return found[0] if found else None


def author(conn: sqlite3.Connection, user_id: str, source: str = SOURCE) -> tuple[str, bool] | None:
    """A Freshdesk user's (Discourse username, is agent), once created."""
    for _ in range(2):          # an alias (a duplicate email) names the user it merged into
        row = conn.execute("SELECT ref, agent, state FROM import_map WHERE source = ? AND "
                           "kind = 'user' AND source_id = ?", (source, user_id)).fetchone()
        if row is None or row[2] != "alias":
            break
        user_id = row[0]
    return (row[0], bool(row[1])) if row and row[2] == "done" and row[0] else None


def pending(conn: sqlite3.Connection, kind: str, limit: int, source: str = SOURCE) -> list[dict]:
    return rows(conn, "SELECT * FROM import_map WHERE source = ? AND kind = ? AND state = 'pending' "
                "ORDER BY source_id LIMIT ?", (source, kind, limit))


def counts(conn: sqlite3.Connection, source: str = SOURCE) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for kind, state, n in conn.execute("SELECT kind, state, COUNT(*) FROM import_map WHERE "
                                       "source = ? GROUP BY kind, state", (source,)):
        out.setdefault(kind, {})[state] = n
    return out


def failures(conn: sqlite3.Connection, limit: int = 20, source: str = SOURCE) -> list[dict]:
    return rows(conn, "SELECT kind, source_id, reason FROM import_map WHERE source = ? AND "
                "state = 'failed' ORDER BY updated_at DESC LIMIT ?", (source, limit))


def add_problem(conn: sqlite3.Connection, file: str, record: str, message: str,
                severity: str = "error", source: str = SOURCE) -> None:
    conn.execute("INSERT OR IGNORE INTO import_problems (source, file, record, message, severity, "
                 "at) VALUES (?, ?, ?, ?, ?, ?)", (source, file, record, message, severity, iso()))


def problems(conn: sqlite3.Connection, limit: int = 50, source: str = SOURCE) -> tuple[int, list[dict]]:
    total = conn.execute("SELECT COUNT(*) FROM import_problems WHERE source = ?", (source,)).fetchone()[0]
    return total, rows(conn, "SELECT file, record, message, severity FROM import_problems WHERE "
                       "source = ? ORDER BY id LIMIT ?", (source, limit))


# --- runs ------------------------------------------------------------------------------

def running(conn: sqlite3.Connection, alive, source: str = SOURCE) -> dict | None:
    """The run still going in another process (``alive(pid)``), if any."""
    run = latest_run(conn, source)
    if run and run["status"] == "running" and run["pid"] != os.getpid() and alive(run["pid"]):
        return run
    return None


def start_run(conn: sqlite3.Connection, export_dir: str, per_minute: float, total_items: int,
              source: str = SOURCE) -> int:
    now = iso()
    cur = conn.execute("INSERT INTO import_runs (source, export_dir, status, pid, per_minute, "
                       "total_items, started_at, updated_at) VALUES (?, ?, 'running', ?, ?, ?, ?, ?)",
                       (source, export_dir, os.getpid(), per_minute, total_items, now, now))
    return int(cur.lastrowid)


def update_run(conn: sqlite3.Connection, run_id: int, **fields: Any) -> None:
    fields["updated_at"] = iso()
    names = ", ".join(f"{k} = ?" for k in fields)
    conn.execute(f"UPDATE import_runs SET {names} WHERE id = ?", [*fields.values(), run_id])


def latest_run(conn: sqlite3.Connection, source: str = SOURCE) -> dict | None:
    found = rows(conn, "SELECT * FROM import_runs WHERE source = ? ORDER BY id DESC LIMIT 1", (source,))
    return found[0] if found else None


def save_ticket(conn: sqlite3.Connection, ticket_id: int, source_id: str, display_id: str | None,
                fields: dict, source: str = SOURCE) -> None:
    conn.execute("INSERT INTO imported_tickets (ticket_id, source, source_id, display_id, fields, "
                 "imported_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(ticket_id) DO UPDATE SET "
                 "fields = excluded.fields", (ticket_id, source, source_id, display_id,
                                              json.dumps(fields, default=str), iso()))
