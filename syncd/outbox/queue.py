"""The outbox: actions waiting to be sent, claimed under a lease, finished once.

``pending → sending (leased) → sent | dead | dry_run``. A worker claims with ``BEGIN
IMMEDIATE`` + one ``UPDATE … RETURNING`` (never select-then-delete), so two workers never
take the same row. Only the oldest undelivered action of a ticket *for one destination* can
be claimed, so a ticket's actions go out in order there. A lease that expires (the worker
crashed) makes the row claimable again; every send is idempotent, so taking it again never
doubles it.

Order is kept per ticket *per destination* (``destination``: ``discourse`` or
``channel:<name>``, set by migration 007's trigger): a Chat space that is down holds back
only that space's cards for the ticket, never its Discourse reply or another channel.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable

from syncd.clock import iso, utcnow
from syncd.store.db import rows, transaction

BACKOFF_BASE_SECONDS = 5.0
UNDELIVERED = ("pending", "sending")


@dataclass(frozen=True)
class Action:
    """One claimed outbox row."""

    id: int
    ticket_id: int
    kind: str
    params: dict[str, Any]
    rule: str | None
    delivery_id: int | None
    attempts: int
    created_at: str
    worker: str | None = None
    tried_before: bool = False     # an earlier attempt may have reached the destination

    @property
    def key(self) -> str:
        """Stable and unique across database resets: ``<id>-<hash of id, ticket, time>``.
        Used for Chat's ``requestId``, the reply marker and new topics' ``external_id``."""
        digest = hashlib.sha1(f"{self.id}|{self.ticket_id}|{self.created_at}".encode())
        return f"{self.id}-{digest.hexdigest()[:10]}"

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "Action":
        params = row["params"]
        return cls(id=row["id"], ticket_id=row["ticket_id"], kind=row["kind"],
                   params=json.loads(params) if isinstance(params, str) else dict(params or {}),
                   rule=row.get("rule"), delivery_id=row.get("delivery_id"),
                   attempts=row["attempts"], created_at=row["created_at"],
                   worker=row.get("worker"),
                   # an admin's retry resets attempts but keeps last_error
                   tried_before=row["attempts"] > 1 or bool(row.get("last_error")))


def _db_conn(db) -> Any:
    return getattr(db, "conn", db)


def _now(now: datetime | None) -> datetime:
    return now or utcnow()


CLAIM_SQL = """
UPDATE outbox SET status = 'sending', attempts = attempts + 1, worker = :worker,
       lease_until = :lease, updated_at = :now
WHERE id = (
    SELECT o.id FROM outbox o
    WHERE ((o.status = 'pending' AND o.next_attempt_at <= :now)
           OR (o.status = 'sending' AND o.lease_until <= :now))
      AND NOT EXISTS (SELECT 1 FROM outbox p
                      WHERE p.ticket_id = o.ticket_id AND p.destination IS o.destination
                        AND p.id < o.id AND p.status IN ('pending', 'sending'))
    ORDER BY o.next_attempt_at, o.id LIMIT 1)
RETURNING *
"""


def claim(db, worker: str, now: datetime | None = None,
          lease_seconds: float = 120.0) -> Action | None:
    """Lease the next due action (the oldest undelivered one of its ticket and destination),
    or None."""
    now = _now(now)
    with transaction(_wrap(db)) as conn:
        cur = conn.execute(CLAIM_SQL, {"worker": worker, "now": iso(now),
                                       "lease": iso(now + timedelta(seconds=lease_seconds))})
        found = cur.fetchall()  # RETURNING: read it all before COMMIT
        row = found[0] if found else None
        names = [d[0] for d in cur.description] if row else []
    return Action.from_row(dict(zip(names, row, strict=True))) if row else None


class _Conn:
    """Lets ``transaction`` take a bare sqlite3 connection as well as a Database."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn


def _wrap(db) -> Any:
    return db if hasattr(db, "conn") else _Conn(db)


def _finish(db, action: Action, sql: str, params: dict[str, Any]) -> bool:
    """Apply ``sql`` only while this worker still holds the lease of this attempt."""
    with transaction(_wrap(db)) as conn:
        cur = conn.execute(sql + " WHERE id = :id AND status = 'sending' AND attempts = :attempts",
                           {**params, "id": action.id, "attempts": action.attempts})
        return cur.rowcount == 1


def renew(db, action: Action, lease_seconds: float, now: datetime | None = None) -> bool:
    """Extend this worker's lease before another call; False: the lease was lost."""
    until = iso(_now(now) + timedelta(seconds=lease_seconds))
    return _finish(db, action, "UPDATE outbox SET lease_until = :until", {"until": until})


def complete(db, action: Action, result: Any = None, now: datetime | None = None) -> bool:
    """The action was delivered."""
    at = iso(_now(now))
    return _finish(db, action, "UPDATE outbox SET status = 'sent', sent_at = :at, updated_at = :at, "
                   "lease_until = NULL, last_error = NULL, result = :result",
                   {"at": at, "result": _json(result)})


def dry_run(db, action: Action, result: Any = None, now: datetime | None = None) -> bool:
    """Nothing was sent (no URL configured); what would have been sent is in ``result``."""
    at = iso(_now(now))
    return _finish(db, action, "UPDATE outbox SET status = 'dry_run', updated_at = :at, "
                   "lease_until = NULL, result = :result", {"at": at, "result": _json(result)})


def dead(db, action: Action, reason: str, now: datetime | None = None) -> bool:
    """Trying again cannot help: keep the row, with the reason, for an admin."""
    at = iso(_now(now))
    return _finish(db, action, "UPDATE outbox SET status = 'dead', updated_at = :at, "
                   "lease_until = NULL, last_error = :reason", {"at": at, "reason": reason})


def backoff(attempts: int, retry_after: float | None, max_backoff: float) -> float:
    """Seconds before the next attempt: 5 s doubling each attempt, at least ``retry_after``,
    at most ``max_backoff``."""
    expo = BACKOFF_BASE_SECONDS * (2 ** max(0, attempts - 1))
    return min(max_backoff, max(expo, retry_after or 0.0))


def retry_later(db, action: Action, error: str, now: datetime | None = None,
                retry_after: float | None = None, max_attempts: int = 0,
                max_backoff: float = 3600.0) -> str:
    """A transient failure: back to ``pending`` after a backoff, or ``dead`` once
    ``max_attempts`` are spent (0, the default: never; an admin gives up with
    ``syncd outbox``). Returns the new status."""
    now = _now(now)
    if max_attempts and action.attempts >= max_attempts:
        dead(db, action, f"gave up after {action.attempts} attempts: {error}", now)
        return "dead"
    due = now + timedelta(seconds=backoff(action.attempts, retry_after, max_backoff))
    _finish(db, action, "UPDATE outbox SET status = 'pending', next_attempt_at = :due, "
            "updated_at = :at, lease_until = NULL, last_error = :error",
            {"due": iso(due), "at": iso(now), "error": error})
    return "pending"


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str, sort_keys=True)


# --- what the CLI and /healthz read --------------------------------------------------------

def list_actions(db, failed: bool = False, limit: int = 200) -> list[dict[str, Any]]:
    """Undelivered and dead actions (``failed``: dead ones, and pending ones that failed)."""
    where = ("status = 'dead' OR (status = 'pending' AND last_error IS NOT NULL)" if failed
             else "status IN ('pending', 'sending', 'dead', 'held')")
    return rows(_db_conn(db), "SELECT id, ticket_id, kind, rule, status, attempts, "
                "next_attempt_at, lease_until, last_error, created_at, updated_at, params "
                f"FROM outbox WHERE {where} ORDER BY id LIMIT ?", (limit,))


def counts(db) -> dict[str, Any]:
    conn = _db_conn(db)
    by_status = dict(conn.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status").fetchall())
    oldest = conn.execute("SELECT MIN(created_at) FROM outbox WHERE status IN "
                          "('pending', 'sending')").fetchone()[0]
    return {"by_status": by_status, "oldest_undelivered_at": oldest}


def retry(db, ids: Iterable[int], now: datetime | None = None) -> list[int]:
    """Make dead (or backing-off) actions due now, with a fresh count of attempts.
    Returns the ids that changed; sent, dry-run and in-flight actions are left alone."""
    at, changed = iso(_now(now)), []
    with transaction(_wrap(db)) as conn:
        for action_id in ids:
            cur = conn.execute("UPDATE outbox SET status = 'pending', attempts = 0, "
                               "next_attempt_at = :at, updated_at = :at, lease_until = NULL "
                               "WHERE id = :id AND status IN ('dead', 'pending')",
                               {"at": at, "id": int(action_id)})
            if cur.rowcount:
                changed.append(int(action_id))
    return changed


def retry_all_failed(db, now: datetime | None = None) -> list[int]:
    """``retry`` every dead action and every pending one that has failed before."""
    ids = [r[0] for r in _db_conn(db).execute(
        "SELECT id FROM outbox WHERE status = 'dead' OR "
        "(status = 'pending' AND last_error IS NOT NULL) ORDER BY id")]
    return retry(db, ids, now)
