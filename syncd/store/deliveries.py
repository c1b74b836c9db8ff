"""Storing deliveries exactly once.

A delivery is a duplicate when the same instance sent the same ``X-Discourse-Event-Id``
(an admin's manual redelivery) or the same event name with a byte-identical body
(Discourse's automatic retry, which gets a new id). Both are unique indexes, so one
``INSERT OR IGNORE`` decides atomically.

The receiver stores a batch with ``insert_rows``: one multi-row statement, which in
autocommit mode is its own transaction, so the rows, their commit and its fsync are one
call into SQLite (one release of the GIL instead of one a row plus BEGIN and COMMIT).
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from syncd.clock import iso
from syncd.store.db import rows

KEPT_HEADERS = ("Content-Type", "User-Agent", "X-Discourse-Instance", "X-Discourse-Event-Id",
                "X-Discourse-Event-Type", "X-Discourse-Event", "X-Discourse-Event-Signature")


@dataclass(frozen=True)
class Stored:
    id: int | None
    duplicate: bool


_KEPT = tuple((name, name.lower()) for name in KEPT_HEADERS)


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    lowered = {k.lower(): v for k, v in headers.items()}
    return {name: lowered[low] for name, low in _KEPT if low in lowered}


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def store(conn: sqlite3.Connection, headers: Mapping[str, str], body: bytes,
          topic_id: int | None, source: str = "webhook", now: str | None = None) -> Stored:
    """Insert one delivery unless it is a duplicate; commits when not in a transaction."""
    return insert_rows(conn, [row(headers, body, topic_id, source, now)])[0]


_INSERT = ("INSERT OR IGNORE INTO deliveries (instance, event_id, event_name, event_type, "
           "body_sha256, body, headers, topic_id, source, received_at) VALUES ")
_PLACES = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_SQL_FOR: dict[int, str] = {}


def row(headers: Mapping[str, str], body: bytes, topic_id: int | None,
        source: str = "webhook", now: str | None = None) -> tuple:
    """The values ``insert_rows`` stores for one delivery (computed by its request thread)."""
    h = kept_headers(headers)
    return (h.get("X-Discourse-Instance", ""), h.get("X-Discourse-Event-Id", ""),
            h.get("X-Discourse-Event", ""), h.get("X-Discourse-Event-Type", ""),
            body_hash(body), body, json.dumps(h), topic_id, source, now or iso())


def insert_rows(conn: sqlite3.Connection, batch: Sequence[tuple]) -> list[Stored]:
    """Insert ``row()`` tuples in one statement; a ``Stored`` for each, in order.

    Outside a transaction the statement commits itself. Rows are inserted in order and
    SQLite gives a new row the largest rowid plus one (https://sqlite.org/autoinc.html;
    random rowids start only past 2**63 - 1), so the rows this statement inserted have the
    ids ``(last - inserted, last]``. When all were inserted those are the ids in order;
    when some were duplicates, each row's id is looked up by its event id, and only an id
    in that range not yet claimed by an earlier row of the batch is new."""
    n = len(batch)
    sql = _SQL_FOR.get(n)
    if sql is None:
        sql = _INSERT + ", ".join([_PLACES] * n)
        if n <= 64:
            _SQL_FOR[n] = sql
    cur = conn.execute(sql, [value for values in batch for value in values])
    inserted, last = cur.rowcount, cur.lastrowid or 0
    if inserted == n:
        first = last - n + 1
        return [Stored(first + i, False) for i in range(n)]
    low = last - inserted
    out, claimed = [], set()
    for values in batch:
        found = conn.execute("SELECT id FROM deliveries WHERE instance = ? AND event_id = ?",
                             values[:2]).fetchone()
        if found is not None and low < found[0] <= last and found[0] not in claimed:
            claimed.add(found[0])
            out.append(Stored(found[0], False))
        else:
            out.append(Stored(None, True))
    return out


def is_known_topic(conn: sqlite3.Connection, topic_id: int) -> bool:
    """A ticket already, or a delivery about it is waiting to be processed."""
    row = conn.execute("SELECT EXISTS (SELECT 1 FROM tickets WHERE id = ?) OR "
                       "EXISTS (SELECT 1 FROM deliveries WHERE topic_id = ?)",
                       (topic_id, topic_id)).fetchone()
    return bool(row[0])


def next_pending(conn: sqlite3.Connection) -> dict[str, Any] | None:
    found = rows(conn, "SELECT * FROM deliveries WHERE status = 'pending' ORDER BY id LIMIT 1")
    return found[0] if found else None


def pending_count(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT COUNT(*) FROM deliveries WHERE status = 'pending'").fetchone()[0]


def finish(conn: sqlite3.Connection, delivery_id: int, status: str, error: str | None = None,
           now: str | None = None) -> None:
    conn.execute("UPDATE deliveries SET status = ?, error = ?, processed_at = ? WHERE id = ?",
                 (status, error, now or iso(), delivery_id))


def counts(conn: sqlite3.Connection) -> dict[str, int]:
    return dict(conn.execute("SELECT status, COUNT(*) FROM deliveries GROUP BY status").fetchall())


def listing(conn: sqlite3.Connection, failed: bool = False, limit: int = 50) -> list[dict[str, Any]]:
    """The newest deliveries (``failed``: only those that could not be processed)."""
    where = "WHERE status = 'failed'" if failed else ""
    return rows(conn, "SELECT id, received_at, event_name, topic_id, source, status, error, "
                f"processed_at FROM deliveries {where} ORDER BY id DESC LIMIT ?", (limit,))


def retry(conn: sqlite3.Connection, ids: list[int] | None = None) -> list[int]:
    """Make failed deliveries pending again (all of them when ``ids`` is None)."""
    if ids is None:
        ids = [r[0] for r in conn.execute("SELECT id FROM deliveries WHERE status = 'failed'")]
    done = []
    for delivery_id in ids:
        cur = conn.execute("UPDATE deliveries SET status = 'pending', processed_at = NULL "
                           "WHERE id = ? AND status = 'failed'", (int(delivery_id),))
        if cur.rowcount:
            done.append(int(delivery_id))
    return done
