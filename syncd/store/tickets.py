"""Ticket rows ↔ ``Ticket``, and what is written beside them: history, firings, actions."""
from __future__ import annotations

import json
import sqlite3
from typing import Any, Iterable

from syncd.clock import iso
from syncd.store.db import rows
from syncd.core.tickets import Requester, Ticket

_JSON_FIELDS = ("tags", "likers")
_BOOL_FIELDS = ("closed", "deleted", "has_topic", "has_first_post", "announced")
_COLUMNS = (
    "id", "title", "slug", "url", "category_id", "tags", "status", "stage", "closed", "deleted",
    "priority", "visibility", "likes", "likers", "author", "author_id", "body", "created_at",
    "updated_at", "first_response_at", "resolved_at", "accepted_post_id", "has_topic",
    "has_first_post", "announced", "topic_seq", "solution_seq",
    "votes", "assignee", "assignee_type", "source", "requester",
)


def _to_ticket(row: dict[str, Any], fired: Iterable[str] = ()) -> Ticket:
    data = {k: row[k] for k in _COLUMNS if k in row and k != "status"}
    data["tags"] = tuple(json.loads(row["tags"] or "[]"))
    data["likers"] = frozenset(json.loads(row["likers"] or "[]"))
    for key in _BOOL_FIELDS:
        data[key] = bool(row[key])
    data["source"] = row.get("source") or "discourse"
    data["requester"] = Requester.from_dict(json.loads(row["requester"])) \
        if row.get("requester") else None
    return Ticket(**data, fired_rules=frozenset(fired))


def load(conn: sqlite3.Connection, ticket_id: int) -> Ticket | None:
    found = rows(conn, "SELECT * FROM tickets WHERE id = ?", (ticket_id,))
    if not found:
        return None
    fired = [r[0] for r in conn.execute(
        "SELECT DISTINCT rule FROM rule_firings WHERE ticket_id = ?", (ticket_id,))]
    return _to_ticket(found[0], fired)


def load_many(conn: sqlite3.Connection, ids: list[int]) -> dict[int, Ticket]:
    """Several tickets by id in one query (without their rule firings)."""
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    found = rows(conn, f"SELECT * FROM tickets WHERE id IN ({marks})", list(ids))
    return {r["id"]: _to_ticket(r) for r in found}


def save(conn: sqlite3.Connection, ticket: Ticket, now: str | None = None) -> None:
    values = {k: getattr(ticket, k) for k in _COLUMNS}
    values["tags"] = json.dumps(list(ticket.tags))
    values["likers"] = json.dumps(sorted(ticket.likers))
    values["requester"] = json.dumps(ticket.requester.as_dict()) if ticket.requester else None
    for key in _BOOL_FIELDS:
        values[key] = int(values[key])
    values["first_seen_at"] = now or iso()
    names = list(values)
    updates = ", ".join(f"{n} = excluded.{n}" for n in names if n not in ("id", "first_seen_at"))
    conn.execute(f"INSERT INTO tickets ({', '.join(names)}) VALUES ({', '.join('?' * len(names))}) "
                 f"ON CONFLICT(id) DO UPDATE SET {updates}", [values[n] for n in names])


def add_history(conn: sqlite3.Connection, ticket_id: int, kind: str, name: str,
                detail: dict[str, Any] | None = None, source: str = "webhook",
                delivery_id: int | None = None, at: str | None = None) -> None:
    conn.execute("INSERT INTO ticket_history (ticket_id, at, kind, name, source, detail, "
                 "delivery_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                 (ticket_id, at or iso(), kind, name, source,
                  json.dumps(detail or {}, default=str), delivery_id))


def add_firing(conn: sqlite3.Connection, ticket_id: int, rule: str, event: str,
               delivery_id: int | None, now: str) -> None:
    conn.execute("INSERT INTO rule_firings (ticket_id, rule, event, fired_at, delivery_id) "
                 "VALUES (?, ?, ?, ?, ?)", (ticket_id, rule, event, now, delivery_id))


def enqueue(conn: sqlite3.Connection, ticket_id: int, kind: str, params: dict[str, Any],
            rule: str | None, delivery_id: int | None, now: str) -> int:
    """Write one outgoing action to the outbox (in the caller's transaction)."""
    cur = conn.execute(
        "INSERT INTO outbox (ticket_id, kind, params, rule, delivery_id, status, "
        "next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
        (ticket_id, kind, json.dumps(params, default=str), rule, delivery_id, now, now, now))
    return int(cur.lastrowid)


def actions_since(conn: sqlite3.Connection, ticket_id: int, since: str) -> int:
    return conn.execute("SELECT COUNT(*) FROM outbox WHERE ticket_id = ? AND created_at >= ?",
                        (ticket_id, since)).fetchone()[0]


def query(conn: sqlite3.Connection, status: str | None = None, priority: str | None = None,
          limit: int | None = None) -> list[Ticket]:
    sql, params = "SELECT * FROM tickets WHERE 1 = 1", []
    if status:
        sql += " AND status = ?"
        params.append(status)
    if priority:
        sql += " AND priority = ?"
        params.append(priority)
    sql += " ORDER BY id DESC"
    if limit:
        sql += f" LIMIT {int(limit)}"
    return [_to_ticket(r) for r in rows(conn, sql, params)]


def history(conn: sqlite3.Connection, ticket_id: int) -> list[dict[str, Any]]:
    out = rows(conn, "SELECT at, kind, name, source, detail, delivery_id FROM ticket_history "
               "WHERE ticket_id = ? ORDER BY id", (ticket_id,))
    for r in out:
        r["detail"] = json.loads(r["detail"] or "{}")
    return out


def actions(conn: sqlite3.Connection, ticket_id: int) -> list[dict[str, Any]]:
    return rows(conn, "SELECT id, kind, rule, status, attempts, last_error, created_at, sent_at "
                "FROM outbox WHERE ticket_id = ? ORDER BY id", (ticket_id,))
