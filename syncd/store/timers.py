"""Timers, SLA clocks and held notifications in SQLite (migration 011).

A timer is a row: ``pending`` until it fires (``fired``, once: the scheduler flips it in the
same transaction as the actions it causes) or is no longer wanted (``cancelled``, e.g. the
ticket was answered before the due time). ``sync`` makes a ticket's pending timers of some
kinds exactly the wanted ones.
"""
from __future__ import annotations

import json
import sqlite3
from typing import Any, Iterable

from syncd.store.db import rows

TICKET_KINDS = ("sla_warning", "sla_breached", "ticket_idle")


def sync(conn: sqlite3.Connection, ticket_id: int, wanted: Iterable[tuple[str, str, str]],
         kinds: Iterable[str], now: str) -> dict[str, int]:
    """Make the ticket's pending timers of ``kinds`` exactly ``wanted`` ((kind, target, due))."""
    kinds = tuple(kinds)
    marks = ",".join("?" * len(kinds))
    have = {(r[1], r[2]): (r[0], r[3]) for r in conn.execute(
        f"SELECT id, kind, target, due_at FROM timers WHERE ticket_id = ? AND status = 'pending' "
        f"AND kind IN ({marks})", (ticket_id, *kinds))}
    want = {(k, t): due for k, t, due in wanted if k in kinds}
    counts = {"added": 0, "moved": 0, "cancelled": 0}
    for key, (timer_id, due) in have.items():
        if key not in want:
            conn.execute("UPDATE timers SET status = 'cancelled', updated_at = ? WHERE id = ?",
                         (now, timer_id))
            counts["cancelled"] += 1
        elif want[key] != due:
            conn.execute("UPDATE timers SET due_at = ?, updated_at = ? WHERE id = ?",
                         (want[key], now, timer_id))
            counts["moved"] += 1
    for (kind, target), due in want.items():
        if (kind, target) not in have:
            add(conn, ticket_id, kind, target, due, now)
            counts["added"] += 1
    return counts


def add(conn: sqlite3.Connection, ticket_id: int | None, kind: str, target: str, due: str,
        now: str) -> int | None:
    cur = conn.execute(
        "INSERT OR IGNORE INTO timers (ticket_id, kind, target, due_at, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?)", (ticket_id, kind, target, due, now, now))
    return int(cur.lastrowid) if cur.rowcount else None


def due(conn: sqlite3.Connection, now: str, limit: int = 100) -> list[dict[str, Any]]:
    return rows(conn, "SELECT * FROM timers WHERE status = 'pending' AND due_at <= ? "
                "ORDER BY due_at, id LIMIT ?", (now, limit))


def next_due(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT MIN(due_at) FROM timers WHERE status = 'pending'").fetchone()
    return row[0] if row else None


def fire(conn: sqlite3.Connection, timer_id: int, now: str, late: bool) -> bool:
    """Mark one due timer fired; False: it is not pending any more (fired or cancelled) or a
    change since it was read moved it later."""
    cur = conn.execute("UPDATE timers SET status = 'fired', fired_at = ?, late = ?, "
                       "updated_at = ? WHERE id = ? AND status = 'pending' AND due_at <= ?",
                       (now, int(late), now, timer_id, now))
    return cur.rowcount == 1


def fail(conn: sqlite3.Connection, timer_id: int, error: str, now: str) -> None:
    conn.execute("UPDATE timers SET status = 'failed', error = ?, updated_at = ? WHERE id = ? "
                 "AND status = 'pending'", (error[:500], now, timer_id))


def pending_for(conn: sqlite3.Connection, ticket_id: int) -> list[dict[str, Any]]:
    return rows(conn, "SELECT kind, target, due_at FROM timers WHERE ticket_id = ? AND "
                "status = 'pending' ORDER BY due_at", (ticket_id,))


def schedules(conn: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    return {r["target"]: r for r in rows(conn, "SELECT * FROM timers WHERE ticket_id IS NULL "
                                         "AND kind = 'schedule' AND status = 'pending'")}


def cancel_schedule(conn: sqlite3.Connection, name: str, now: str) -> None:
    conn.execute("UPDATE timers SET status = 'cancelled', updated_at = ? WHERE ticket_id IS NULL "
                 "AND kind = 'schedule' AND target = ? AND status = 'pending'", (now, name))


# --- SLA clocks ----------------------------------------------------------------------------

def load_sla(conn: sqlite3.Connection, ticket_id: int) -> dict[str, Any] | None:
    row = conn.execute("SELECT state FROM ticket_slas WHERE ticket_id = ?", (ticket_id,)).fetchone()
    return json.loads(row[0]) if row else None


def load_slas(conn: sqlite3.Connection, ids: Iterable[int] | None = None) -> dict[int, dict]:
    if ids is None:
        found = conn.execute("SELECT ticket_id, state FROM ticket_slas")
    else:
        ids = list(ids)
        if not ids:
            return {}
        found = conn.execute(f"SELECT ticket_id, state FROM ticket_slas WHERE ticket_id IN "
                             f"({','.join('?' * len(ids))})", ids)
    return {r[0]: json.loads(r[1]) for r in found}


def save_sla(conn: sqlite3.Connection, ticket_id: int, state: dict[str, Any], now: str) -> None:
    conn.execute("INSERT INTO ticket_slas (ticket_id, policy, state, updated_at) VALUES (?, ?, ?, ?) "
                 "ON CONFLICT(ticket_id) DO UPDATE SET policy = excluded.policy, "
                 "state = excluded.state, updated_at = excluded.updated_at",
                 (ticket_id, state.get("policy"), json.dumps(state), now))


# --- held notifications ----------------------------------------------------------------------

def hold(conn: sqlite3.Connection, action_id: int, kind: str, until: str) -> None:
    conn.execute("UPDATE outbox SET status = 'held', hold_kind = ?, hold_until = ?, "
                 "next_attempt_at = ? WHERE id = ? AND status = 'pending'",
                 (kind, until, until, action_id))


def release_quiet(conn: sqlite3.Connection, now: str) -> int:
    """Quiet hours are over for these: they go out as usual."""
    cur = conn.execute("UPDATE outbox SET status = 'pending', next_attempt_at = ?, updated_at = ? "
                       "WHERE status = 'held' AND hold_kind = 'quiet' AND hold_until <= ?",
                       (now, now, now))
    return cur.rowcount


def digest_due(conn: sqlite3.Connection, now: str) -> dict[str, list[dict[str, Any]]]:
    """Held digest notifications whose time has come, by channel."""
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows(conn, "SELECT id, ticket_id, params, hold_until FROM outbox WHERE "
                  "status = 'held' AND hold_kind = 'digest' AND hold_until <= ? ORDER BY id",
                  (now,)):
        params = json.loads(r["params"])
        out.setdefault(str(params.get("channel")), []).append({**r, "params": params})
    return out


def mark_digested(conn: sqlite3.Connection, ids: list[int], digest_id: int, now: str) -> None:
    conn.execute(f"UPDATE outbox SET status = 'digested', result = ?, updated_at = ?, "
                 f"lease_until = NULL WHERE id IN ({','.join('?' * len(ids))}) AND status = 'held'",
                 (json.dumps({"digest_action_id": digest_id}), now, *ids))


def next_hold(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT MIN(hold_until) FROM outbox WHERE status = 'held'").fetchone()
    return row[0] if row else None
