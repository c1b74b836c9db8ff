"""Intake rows: tickets asked for in Teams or through a form, and the action that makes each
one a Discourse topic.

``store`` writes the intake and its outbox action (``create_intake_topic``) in the caller's
transaction, so an acknowledged request is never lost and never without its action; the same
``external_id`` (a Teams Activity id, a form's ``external_id``) again is a duplicate. Its
state is read from that action (``view``). ``match`` finds the intake a new ticket's topic
came from, by topic id (recorded when the post was made) or the topic's ``external_id``.
"""
from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import replace
from typing import Any

from syncd.clock import iso
from syncd.core.intake import IntakeRequest
from syncd.core.tickets import Requester, Ticket
from syncd.store.db import rows, transaction
from syncd.store.tickets import add_history, enqueue

ACTION_KIND = "create_intake_topic"
EXTERNAL_PREFIX = "intake-"


def external_id(intake_id: int) -> str:
    """The topic's ``external_id`` in Discourse: a retry looks it up before posting again."""
    return f"{EXTERNAL_PREFIX}{int(intake_id)}"


def intake_of_external_id(value: Any) -> int | None:
    match = re.fullmatch(rf"{EXTERNAL_PREFIX}(\d+)", value) if isinstance(value, str) else None
    return int(match.group(1)) if match else None


def store(conn: sqlite3.Connection, request: IntakeRequest, category: str | int | None,
          category_id: int | None, now: str | None = None) -> tuple[int, bool]:
    """Insert the intake and enqueue its topic (in the caller's transaction).

    Returns ``(intake id, duplicate)``; a duplicate writes nothing."""
    now = now or iso()
    r = request.requester
    cur = conn.execute(
        "INSERT OR IGNORE INTO intakes (source, external_id, title, priority, description, "
        "requester_name, requester_email, requester_extra, category, tags, received_at, "
        "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (request.source, request.external_id, request.title, request.priority,
         request.description, r.name, r.email, json.dumps(dict(request.requester_extra)),
         None if category is None else str(category), json.dumps(list(request.tags)), now, now))
    if cur.rowcount == 0:
        found = conn.execute("SELECT id FROM intakes WHERE source = ? AND external_id = ?",
                             (request.source, request.external_id)).fetchone()
        return int(found[0]), True
    intake_id = int(cur.lastrowid)
    params = {"intake_id": intake_id, "external_id": external_id(intake_id),
              "source": request.source, "title": request.title, "priority": request.priority,
              "description": request.description, "requester": r.as_dict(),
              "category": category, "category_id": category_id, "tags": list(request.tags)}
    action_id = enqueue(conn, -intake_id, ACTION_KIND, params, None, None, now)
    conn.execute("UPDATE intakes SET action_id = ? WHERE id = ?", (action_id, intake_id))
    return intake_id, False


def record_topic(conn: sqlite3.Connection, intake_id: int, topic_id: int, topic_url: str | None,
                 posted_as: str | None, now: str | None = None) -> None:
    """Discourse made the topic: remember its id (the ticket is linked by it)."""
    conn.execute("UPDATE intakes SET topic_id = ?, topic_url = COALESCE(?, topic_url), "
                 "posted_as = COALESCE(?, posted_as), updated_at = ? WHERE id = ?",
                 (int(topic_id), topic_url, posted_as, now or iso(), int(intake_id)))


def load(conn: sqlite3.Connection, intake_id: int) -> dict[str, Any] | None:
    found = rows(conn, "SELECT i.*, o.status AS action_status, o.last_error, o.attempts, "
                 "o.result FROM intakes i LEFT JOIN outbox o ON o.id = i.action_id "
                 "WHERE i.id = ?", (int(intake_id),))
    return found[0] if found else None


def view(row: dict[str, Any]) -> dict[str, Any]:
    """``GET /intake/{id}``: pending | created | failed, the topic, the ticket, the error."""
    action = row.get("action_status")
    status, error = "pending", row.get("last_error")
    if action == "sent" or row.get("topic_id"):
        status, error = "created", None
    elif action == "dead":
        status = "failed"
    elif action == "dry_run":
        error = "dry-run: discourse.url is not set, so no topic was created"
    elif action is None:
        status, error = "failed", "its outbox action is gone (deleted by hand?)"
    return {"id": row["id"], "status": status, "source": row["source"], "title": row["title"],
            "priority": row["priority"], "category": row.get("category"),
            "topic_id": row.get("topic_id"), "topic_url": row.get("topic_url"),
            "ticket_id": row.get("ticket_id"), "posted_as": row.get("posted_as"),
            "error": error, "attempts": row.get("attempts"), "received_at": row["received_at"]}


def match(conn: sqlite3.Connection, topic_id: int,
          topic_external_id: str | None = None) -> dict[str, Any] | None:
    """The intake whose topic this is, not yet linked to a ticket."""
    intake_id = intake_of_external_id(topic_external_id)
    if intake_id is not None:
        found = rows(conn, "SELECT * FROM intakes WHERE id = ? AND ticket_id IS NULL",
                     (intake_id,))
        if found:
            return found[0]
    found = rows(conn, "SELECT * FROM intakes WHERE topic_id = ? AND ticket_id IS NULL",
                 (int(topic_id),))
    return found[0] if found else None


def link(conn: sqlite3.Connection, intake_id: int, ticket_id: int, now: str | None = None) -> None:
    conn.execute("UPDATE intakes SET ticket_id = ?, topic_id = COALESCE(topic_id, ?), "
                 "updated_at = ? WHERE id = ?", (ticket_id, ticket_id, now or iso(), intake_id))


def counts(conn: sqlite3.Connection) -> dict[str, int]:
    """For ``/healthz``: intakes by state."""
    out = {"pending": 0, "created": 0, "failed": 0}
    for status, topic, n in conn.execute(
            "SELECT o.status, i.topic_id IS NOT NULL, COUNT(*) FROM intakes i "
            "LEFT JOIN outbox o ON o.id = i.action_id GROUP BY 1, 2"):
        key = view({"id": 0, "source": "", "title": "", "priority": "", "received_at": "",
                    "action_status": status, "topic_id": 1 if topic else None})["status"]
        out[key] += n
    return out


def record_sent(db: Any, kind: str, result: Any) -> None:
    """After ``create_intake_topic`` was carried out: keep the topic on the intake (before the
    action is marked sent, so a crash in between only repeats this)."""
    if kind != ACTION_KIND or not isinstance(result, dict) or not result.get("topic_id"):
        return
    with transaction(db) as conn:
        record_topic(conn, result["intake_id"], result["topic_id"], result.get("topic_url"),
                     result.get("posted_as"))


def adopt(conn: sqlite3.Connection, before: Ticket | None, ticket: Ticket, topic_external_id: str | None,
          now: str) -> Ticket:
    """A new ticket whose topic an intake asked for gets that intake's source, requester and
    priority before any rule sees it (in the processor's transaction)."""
    if ticket.source != "discourse" or ticket.id <= 0:
        return ticket
    if before is not None and before.announced and not topic_external_id:
        return ticket
    row = match(conn, ticket.id, topic_external_id)
    if row is None:
        return ticket
    link(conn, row["id"], ticket.id, now)
    requester = Requester(row["requester_name"], row["requester_email"], row["source"])
    add_history(conn, ticket.id, "note", "intake",
                {"intake_id": row["id"], "source": row["source"], "priority": row["priority"]},
                row["source"], None, now)
    return replace(ticket, source=row["source"], requester=requester, priority=row["priority"])
