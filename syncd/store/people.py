"""Staff who signed in to the web page, and their alert preferences (``core.alerts``).

A person's Google Chat webhook URL is a secret: it is read here for the delivery worker
and for the form's "keep as is" check, and never written to the log or shown back whole.
"""
from __future__ import annotations

import json
import sqlite3
from typing import Any

from syncd.clock import iso
from syncd.core.alerts import Preferences
from syncd.store.db import rows

_LISTS = ("categories", "tags")


def remember(conn: sqlite3.Connection, person: dict[str, Any], active: bool,
             now: str | None = None) -> None:
    """Insert or update a person from a verified DiscourseConnect payload."""
    at = now or iso()
    conn.execute(
        "INSERT INTO web_people (id, username, name, email, admin, moderator, groups, active, "
        "first_seen_at, last_login_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT(id) DO UPDATE SET username = excluded.username, name = excluded.name, "
        "email = excluded.email, admin = excluded.admin, moderator = excluded.moderator, "
        "groups = excluded.groups, active = excluded.active, last_login_at = excluded.last_login_at",
        (int(person["id"]), person["username"], person.get("name"), person.get("email"),
         int(bool(person.get("admin"))), int(bool(person.get("moderator"))),
         json.dumps(list(person.get("groups") or [])), int(active), at, at))


def deactivate(conn: sqlite3.Connection, person_id: int) -> None:
    """No longer staff: their sessions stop working and no alert goes to them."""
    conn.execute("UPDATE web_people SET active = 0 WHERE id = ?", (person_id,))


def person(conn: sqlite3.Connection, person_id: int) -> dict[str, Any] | None:
    found = rows(conn, "SELECT * FROM web_people WHERE id = ?", (person_id,))
    if not found:
        return None
    out = found[0]
    out["groups"] = json.loads(out["groups"] or "[]")
    return out


def _to_prefs(row: dict[str, Any]) -> Preferences:
    return Preferences(
        person_id=row["person_id"], username=row["username"],
        events=frozenset(json.loads(row["events"] or "[]")),
        categories=tuple(json.loads(row["categories"] or "[]")),
        tags=tuple(json.loads(row["tags"] or "[]")), min_priority=row["min_priority"],
        destination=row["destination"], gchat_url=row["gchat_url"] or "",
        email=row["email"] or "", timezone=row["timezone"], quiet_start=row["quiet_start"],
        quiet_end=row["quiet_end"], digest_below=row["digest_below"],
        digest_at=row["digest_at"], active=bool(row["active"]),
        groups=tuple(json.loads(row.get("groups") or "[]")))


_SELECT = ("SELECT p.*, w.username, w.active, w.groups FROM alert_preferences p "
           "JOIN web_people w ON w.id = p.person_id")


def preferences(conn: sqlite3.Connection, person_id: int) -> Preferences:
    """A person's preferences; the defaults when they have saved none yet."""
    found = rows(conn, _SELECT + " WHERE p.person_id = ?", (person_id,))
    if found:
        return _to_prefs(found[0])
    who = person(conn, person_id) or {"username": "", "active": 1}
    return Preferences(person_id=person_id, username=who["username"],
                       email=who.get("email") or "", active=bool(who["active"]))


def save(conn: sqlite3.Connection, prefs: Preferences, now: str | None = None) -> None:
    values = {
        "person_id": prefs.person_id, "events": json.dumps(sorted(prefs.events)),
        "categories": json.dumps(list(prefs.categories)), "tags": json.dumps(list(prefs.tags)),
        "min_priority": prefs.min_priority, "destination": prefs.destination,
        "gchat_url": prefs.gchat_url, "email": prefs.email, "timezone": prefs.timezone,
        "quiet_start": prefs.quiet_start, "quiet_end": prefs.quiet_end,
        "digest_below": prefs.digest_below, "digest_at": prefs.digest_at,
        "updated_at": now or iso(),
    }
    names = list(values)
    updates = ", ".join(f"{n} = excluded.{n}" for n in names if n != "person_id")
    conn.execute(f"INSERT INTO alert_preferences ({', '.join(names)}) VALUES "
                 f"({', '.join('?' * len(names))}) ON CONFLICT(person_id) DO UPDATE SET {updates}",
                 [values[n] for n in names])


def subscribers(conn: sqlite3.Connection) -> list[Preferences]:
    """Everyone whose alerts are on: staff at their last sign-in, with a destination, and,
    when they got in through a staff group, still in it as far as syncd last read the groups
    from Discourse (``staff_members``; nothing read yet: trusted)."""
    found = rows(conn, _SELECT + " WHERE w.active = 1 AND p.destination != 'none' AND "
                 "(w.admin = 1 OR w.moderator = 1 OR NOT EXISTS (SELECT 1 FROM staff_members) "
                 "OR EXISTS (SELECT 1 FROM staff_members s WHERE lower(s.username) = "
                 "lower(w.username))) ORDER BY p.person_id")
    return [_to_prefs(r) for r in found]


def participants(conn: sqlite3.Connection, ticket_id: int) -> frozenset[str]:
    """Who posted in a ticket (its history's ``post_created`` actors)."""
    found = conn.execute(
        "SELECT DISTINCT json_extract(detail, '$.actor') FROM ticket_history "
        "WHERE ticket_id = ? AND kind = 'event' AND name = 'post_created'", (ticket_id,))
    return frozenset(r[0] for r in found if r[0])


def record_alert(conn: sqlite3.Connection, source_action: int, person_id: int,
                 outbox_id: int, now: str) -> None:
    conn.execute("INSERT INTO alerts (source_action, person_id, outbox_id, created_at) "
                 "VALUES (?, ?, ?, ?)", (source_action, person_id, outbox_id, now))


def alerted(conn: sqlite3.Connection, source_action: int) -> set[int]:
    """The people a fan-out already made an alert for."""
    return {r[0] for r in conn.execute("SELECT person_id FROM alerts WHERE source_action = ?",
                                       (source_action,))}
