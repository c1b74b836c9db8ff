"""Expected webhook echoes of changes syncd itself makes in Discourse.

Before the delivery worker moves, tags, closes or hides a topic it calls ``expect``; when
the webhook of that change comes back, ``mark`` finds the matching row, consumes it and
flags the change ``by_syncd`` so that no rule fires on it again.
"""
from __future__ import annotations

import sqlite3
from dataclasses import replace
from typing import Sequence

from syncd.clock import iso, later
from syncd.core.tickets import Change

ECHO_TTL_SECONDS = 6 * 3600


def expect(conn: sqlite3.Connection, ticket_id: int, kind: str, value: object,
           ttl: float = ECHO_TTL_SECONDS) -> None:
    """Record that syncd is about to cause ``kind`` (``category``, ``tag_added``,
    ``tag_removed``, ``closed``, ``visibility``, ``assigned``, ``unassigned``) with ``value``
    on a ticket."""
    conn.execute("INSERT INTO echoes (ticket_id, kind, value, created_at, expires_at) "
                 "VALUES (?, ?, ?, ?, ?)", (ticket_id, kind, _value(kind, value), iso(), later(ttl)))


def _value(kind: str, value: object) -> str:
    """Tags compare without case (Discourse lowercases them by default)."""
    return str(value).lower() if kind in ("tag_added", "tag_removed", "assigned") else str(value)


def _key(change: Change) -> tuple[str, str] | None:
    if change.name == "category_changed":
        return "category", str(change.new)
    if change.name in ("tag_added", "tag_removed"):
        return change.name, _value(change.name, change.tag)
    if change.name in ("topic_closed", "topic_reopened"):
        return "closed", str(change.name == "topic_closed")
    if change.name == "visibility_changed":
        return "visibility", str(change.new)
    if change.name == "assigned":
        return "assigned", _value("assigned", change.new)
    if change.name == "unassigned":
        return "unassigned", ""
    return None


def _consume(conn: sqlite3.Connection, ticket_id: int, kind: str, value: str, now: str) -> bool:
    row = conn.execute("SELECT id FROM echoes WHERE ticket_id = ? AND kind = ? AND value = ? "
                       "AND expires_at > ? ORDER BY id LIMIT 1",
                       (ticket_id, kind, value, now)).fetchone()
    if row:
        conn.execute("DELETE FROM echoes WHERE id = ?", (row[0],))
    return bool(row)


def mark(conn: sqlite3.Connection, ticket_id: int, changes: Sequence[Change],
         api_username: str | None, now: str | None = None) -> tuple[Change, ...]:
    """Flag the changes syncd caused itself. Derived ``status_changed``/``topic_edited``
    follow the changes they came from."""
    now = now or iso()
    out = []
    for change in changes:
        actor = change.actor.username if change.actor else None
        # A post says who wrote it; a topic payload's last_poster does not say who edited it,
        # so syncd's own edits are known from the echoes table alone.
        mine = bool(api_username) and (actor or "").lower() == api_username.lower() \
            and change.name == "post_created"   # Discourse matches Api-Username ignoring case
        key = _key(change)
        if not mine and key is not None:
            mine = _consume(conn, ticket_id, key[0], key[1], now)
        out.append(replace(change, by_syncd=mine) if mine else change)
    primary = [c for c in out if c.name not in ("status_changed", "topic_edited",
                                                 "category_changed" if _private(out) else "")]
    if primary and all(c.by_syncd for c in primary):
        out = [replace(c, by_syncd=True) for c in out]
    return tuple(out)


def _private(changes: Sequence[Change]) -> bool:
    """Converting to a private message also drops the category: that follows the echo."""
    return any(c.name == "visibility_changed" and c.new == "private" and c.by_syncd
               for c in changes)


def purge(conn: sqlite3.Connection, now: str | None = None) -> int:
    return conn.execute("DELETE FROM echoes WHERE expires_at <= ?", (now or iso(),)).rowcount
