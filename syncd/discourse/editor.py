"""Who edited a topic: the actor of ``tag_added`` / ``category_changed`` from a webhook.

A ``topic_edited`` payload (``WebHookTopicViewSerializer``: ``created_by``, ``last_poster``)
does not say who made the edit, so the last poster is the wrong answer: a moderator adding a
tag to a student's question would be reported as the student. Discourse records topic edits
(title, category, tags) as revisions of the first post (``PostRevisor``), and
``GET /posts/{id}/revisions/latest.json`` (``PostRevisionSerializer``) names the editor
(``username`` lowercased, ``display_username``); ``GET /u/{username}.json``
(``UserCardSerializer``) says ``admin``, ``moderator``, ``trust_level``,
``primary_group_name``. A 404 means no revision exists: only the author's own edits within
the grace period make none, so the author edited.

Design: the processor calls ``EditorLookup`` for a delivery *before* it opens the delivery's
write transaction (``Processor.enrich``), so no network I/O ever happens while SQLite's
write lock is held. The lookup reads the stored ticket (a plain read) and calls Discourse
only when the payload's category or tags differ from the ticket and the difference is not
an echo syncd is expecting of its own change, so most deliveries cost nothing. Calls are
short (the configured timeout, at most 10 s, no 429 waits); when Discourse cannot answer,
the payload's actor stays, the event says so (``extra.actor_source``), lookups pause for a
minute, and processing goes on: a slow forum never stalls the queue of deliveries.
"""
from __future__ import annotations

import sqlite3
import time
from dataclasses import replace
from typing import Any, Callable

import requests

from syncd import logs
from syncd.core.events import Actor, Event
from syncd.store import tickets as ticketstore

log = logs.get("syncd.editor")
EDIT_EVENTS = ("topic_edited", "topic_revised")
USER_TTL_SECONDS = 600.0
PAUSE_SECONDS = 60.0     # after a failed lookup, ask nothing for this long

Get = Callable[[str], Any]   # get(path) -> JSON (None for a 404); raises on other failures


class EditorLookup:
    """``lookup(conn, event) -> event`` with ``actor`` the editor of the topic's change."""

    def __init__(self, get: Get, clock: Callable[[], float] = time.monotonic):
        self.get, self.clock = get, clock
        self._users: dict[str, tuple[float, Actor]] = {}
        self._paused_until = 0.0

    def __call__(self, conn: sqlite3.Connection, event: Event) -> Event:
        if event.name not in EDIT_EVENTS or event.topic is None or event.source == "reconcile":
            return event
        ticket = ticketstore.load(conn, event.topic.id)
        if ticket is None or not ticket.has_topic or not _unexpected(conn, ticket, event):
            return event
        fallback = replace(event, extra={**event.extra, "actor_source": "last_poster"})
        if self.clock() < self._paused_until:   # it failed a moment ago: do not stall again
            return fallback
        try:
            editor = self.editor(event.topic.id, event.topic.author)
        except Exception as exc:   # the forum is slow or down: keep going with the payload's
            self._paused_until = self.clock() + PAUSE_SECONDS
            log.warning("editor_lookup_failed", ticket=event.topic.id, error=str(exc),
                        hint="actor_is_staff falls back to the topic's last poster; "
                             f"no lookups for {PAUSE_SECONDS:.0f} s")
            return fallback
        if editor is None:
            return event
        return replace(event, actor=editor, extra={**event.extra, "actor_source": "revision"})

    def editor(self, topic_id: int, author: Actor | None) -> Actor | None:
        first = self.get(f"/posts/by_number/{int(topic_id)}/1.json")
        if not isinstance(first, dict) or first.get("id") is None:
            return None
        revision = self.get(f"/posts/{int(first['id'])}/revisions/latest.json")
        if revision is None:   # no revision: the author's own edit in the grace period
            return author
        name = revision.get("display_username") or revision.get("username")
        return self.user(name) if name else None

    def user(self, username: str) -> Actor:
        key = username.lower()
        cached = self._users.get(key)
        if cached and self.clock() - cached[0] < USER_TTL_SECONDS:
            return cached[1]
        data = (self.get(f"/u/{username}.json") or {}).get("user") or {}
        actor = Actor(id=data.get("id"), username=data.get("username") or username,
                      name=data.get("name"),
                      staff=bool(data.get("admin") or data.get("moderator")),
                      trust_level=data.get("trust_level"),
                      primary_group=data.get("primary_group_name"))
        self._users[key] = (self.clock(), actor)
        return actor


def _unexpected(conn: sqlite3.Connection, ticket: Any, event: Event) -> bool:
    """Does the payload change the category or tags in a way syncd is not expecting as the
    echo of its own change?"""
    topic = event.topic
    wanted: list[tuple[str, str]] = []
    if topic.category_id != ticket.category_id and not topic.is_private_message:
        wanted.append(("category", str(topic.category_id)))
    wanted += [("tag_added", t.lower()) for t in topic.tags if t not in ticket.tags]
    wanted += [("tag_removed", t.lower()) for t in ticket.tags if t not in topic.tags]
    for kind, value in wanted:
        if not conn.execute("SELECT 1 FROM echoes WHERE ticket_id = ? AND kind = ? AND "
                            "value = ? LIMIT 1", (ticket.id, kind, value)).fetchone():
            return True
    return False


def http_getter(settings: Any) -> Get:
    """A plain GET with the API key and the configured timeout; a 404 is None."""
    d = settings.discourse
    session = requests.Session()
    session.headers.update({"Api-Key": d.api_key, "Api-Username": d.api_username,
                            "Accept": "application/json"})
    base = d.url.rstrip("/")

    def get(path: str) -> Any:
        resp = session.get(base + path, timeout=min(d.timeout_seconds, 10.0))
        if resp.status_code == 404:
            return None
        resp.raise_for_status()
        return resp.json()
    return get


def lookup_for(settings: Any) -> EditorLookup | None:
    """What ``serve`` gives the processor (None in dry-run: nothing to ask)."""
    if settings.discourse.dry_run:
        return None
    return EditorLookup(http_getter(settings))
