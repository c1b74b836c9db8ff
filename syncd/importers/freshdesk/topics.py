"""The tickets of an import: attachments uploaded, the topic, its notes in order, the
syncd ticket beside it, and the topic marked for closing.

A topic in flight when a run died is looked up by ``external_id``; a note by its hidden
marker among the topic's posts the map does not know.
"""
from __future__ import annotations

import json
import re
from dataclasses import replace

from syncd.core.tickets import Requester, Ticket
from syncd.errors import TransientError
from syncd.importers.freshdesk import mapping
from syncd.importers.freshdesk.client import Refused
from syncd.importers.freshdesk.plan import now as _now
from syncd.importers.freshdesk.reader import Ticket as FdTicket
from syncd.store import imports
from syncd.store import tickets as ticketstore
from syncd.store.db import transaction

MARKER = re.compile(r"<!-- fd-note:([\w-]+) -->")


class TicketSteps:
    """Mixed into ``FreshdeskImport`` (runner.py), as ``UserSteps``."""

    def category_for(self, ticket: FdTicket) -> int | None:
        return self.plan.group_categories.get(ticket.group_id or "", self.plan.category_id)

    def import_ticket(self, ticket: FdTicket) -> None:
        db = self.store.db()
        record = f"ticket {ticket.id}"
        uploaded = self._uploads(ticket, record) if self.uploader is not None else {}
        mapped = mapping.map_ticket(ticket, lambda uid: imports.author(db.conn, uid) if uid else None,
                                    self.plan.limits, self.plan.agents_whisper, uploaded)
        if mapped.problems:
            with transaction(db) as conn:
                for text in mapped.problems:
                    self._problem(conn, ticket.file, record, text, "warning")
        if mapped.topic is None:
            row = imports.get(db.conn, "topic", ticket.id)
            if row is None or row["state"] != "done":
                with transaction(db) as conn:
                    imports.finish(conn, "topic", ticket.id, "skipped", mapped.skip_reason)
            self.tally.add("skipped", "topic")
            return
        topic_id = self._topic(ticket, mapped)
        if topic_id is None:
            for _ in mapped.posts:
                self.tally.add("skipped", "post")
            return
        topic_id, how = topic_id
        existing = self._existing_notes(topic_id) if how == "found" and mapped.posts else None
        for post in mapped.posts:
            if self.stop.is_set():
                return
            self._post(ticket, topic_id, post, existing)
        if mapped.topic.close:
            with transaction(db) as conn:
                conn.execute("INSERT OR IGNORE INTO import_map (source, kind, source_id, state, "
                             "discourse_id, updated_at) VALUES ('freshdesk', 'close', ?, 'pending', "
                             "?, ?)", (ticket.id, topic_id, _now()))

    def _uploads(self, ticket: FdTicket, record: str) -> dict[str, str]:
        conn = self._conn()

        def pending(kind: str, source_id: str) -> bool:
            row = imports.get(conn, kind, source_id)
            return row is None or row["state"] != "done"

        def problem(text: str) -> None:
            with transaction(self.store.db()) as c:
                self._problem(c, ticket.file, record, text, "warning")
        return self.uploader.uploaded_for(ticket, pending, problem,
                                          lambda: self.tally.add("created", "upload"))

    def _topic(self, ticket: FdTicket, mapped: mapping.MappedTicket) -> tuple[int, str] | None:
        """The topic's id and how: ``created``, ``found`` (in flight before, or made outside
        this database) or ``done`` (in the map)."""
        db = self.store.db()
        call = mapped.topic
        row = imports.get(db.conn, "topic", ticket.id)
        if row and row["state"] == "done":
            self.tally.add("skipped", "topic")
            if ticket.fields.get("from") == "api":
                self._refresh(int(row["discourse_id"]), ticket, mapped)
            return int(row["discourse_id"]), "done"
        with transaction(db) as conn:
            before = imports.begin(conn, "topic", ticket.id)
        found = self._find_topic(call.external_id) if before == "pending" else None
        how, first_post = "found", None
        tries = 0
        while found is None:
            try:
                found, first_post = self._create_topic(ticket, call)
                how = "created"
            except Refused as exc:
                if "external" in str(exc).lower():
                    found = self._find_topic(call.external_id)
                    if found:
                        break
                self._refused("topic", ticket.id, ticket.file, f"ticket {ticket.id}", exc)
                return None
            except TransientError as exc:
                tries = self._network_retry(tries, exc)
                found = self._find_topic(call.external_id)
        with transaction(db) as conn:
            imports.done(conn, "topic", ticket.id, found)
            imports.save_ticket(conn, found, ticket.id, ticket.display_id, call.fields)
            self.sink(conn, self._syncd_ticket(found, call, mapped), ticket, call)
        self.tally.add(how, "topic")
        return found, how

    def _refresh(self, topic_id: int, ticket: FdTicket, mapped: mapping.MappedTicket) -> None:
        """A ticket changed after the export (the API catch-up): its syncd state follows."""
        call = mapped.topic
        with transaction(self.store.db()) as conn:
            current = ticketstore.load(conn, topic_id)
            if current is None:
                return
            resolved = call.stage == "resolved"
            ticketstore.save(conn, replace(
                current, stage=call.stage, closed=current.closed or call.close,
                priority=call.priority, updated_at=call.fields.get("updated_at"),
                resolved_at=current.resolved_at or (call.fields.get("updated_at") if resolved else None)))
            conn.execute("UPDATE imported_tickets SET fields = json_patch(fields, ?) WHERE ticket_id = ?",
                         (json.dumps(call.fields, default=str), topic_id))
    def _create_topic(self, ticket: FdTicket, call: mapping.TopicCall) -> tuple[int, int | None]:
        """One call; a second only when Discourse refuses the title as taken (duplicate
        titles not allowed) or the tags (the requester may not create them)."""
        params = mapping.topic_params(call, self.category_for(ticket))
        for attempt in range(3):
            try:
                data = self.client.call("POST", "/posts.json", json=params, as_user=call.author_id)
                return created_id(data, "topic_id"), data.get("id")
            except Refused as exc:
                text = str(exc).lower()
                if attempt == 2 or exc.status != 422:
                    raise
                if "title" in text and "already" in text:
                    params["title"] = f"{call.title} (Freshdesk #{ticket.display_id or ticket.id})"
                    note = ("title already used in the forum (allow_duplicate_topic_titles is "
                            "off): the display ID is appended")
                elif "tag" in text and params.get("tags"):
                    note = (f"Discourse refused the tags ({exc}): imported without them; let "
                            "everyone create tags while importing (--set-site-settings)")
                    params.pop("tags")
                else:
                    raise
                with transaction(self.store.db()) as conn:
                    self._problem(conn, ticket.file, f"ticket {ticket.id}", note, "warning")
        raise AssertionError("unreachable")

    def _find_topic(self, external_id: str) -> int | None:
        data = self.client.call("GET", f"/t/external_id/{external_id}.json", missing_ok=True)
        return int(data["id"]) if isinstance(data, dict) and data.get("id") else None

    def _post(self, ticket: FdTicket, topic_id: int, post: mapping.PostCall,
              existing: dict[str, int] | None) -> None:
        """One note. ``existing``: the notes found in the topic (marker → post id) when the
        topic was found rather than created (this database never saw it made)."""
        db = self.store.db()
        row = imports.get(db.conn, "post", post.source_id)
        if row and row["state"] == "done":
            self.tally.add("skipped", "post")
            return
        with transaction(db) as conn:
            before = imports.begin(conn, "post", post.source_id, ref=ticket.id)
        if existing is None and before == "pending":      # in flight when a run died
            existing = self._existing_notes(topic_id)
        found = (existing or {}).get(post.source_id)
        how, tries = "found", 0
        while found is None:
            try:
                data = self.client.call("POST", "/posts.json", json=mapping.post_params(post, topic_id),
                                        as_user=post.author_id)
                found, how = created_id(data, "id"), "created"
            except Refused as exc:
                self._refused("post", post.source_id, ticket.file,
                              f"ticket {ticket.id} note {post.source_id}", exc, ref=ticket.id)
                return
            except TransientError as exc:
                tries = self._network_retry(tries, exc)
                found = self._existing_notes(topic_id).get(post.source_id)
        with transaction(db) as conn:
            imports.done(conn, "post", post.source_id, found, ref=ticket.id)
        self.tally.add(how, "post")

    def _existing_notes(self, topic_id: int) -> dict[str, int]:
        """The notes already in a topic: each post's hidden marker (read as the API user,
        who sees whispers), from ``/t/{id}.json`` and ``/t/{id}/posts.json`` 20 at a time."""
        view = self.client.call("GET", f"/t/{topic_id}.json", params={"include_raw": 1},
                                missing_ok=True) or {}
        stream = view.get("post_stream") or {}
        ids = list(stream.get("stream") or [])[1:]               # [0]: the description
        posts = {p.get("id"): p for p in stream.get("posts") or []}
        missing = [pid for pid in ids if pid not in posts]
        for start in range(0, len(missing), 20):
            more = self.client.call("GET", f"/t/{topic_id}/posts.json",
                                    params={"post_ids[]": missing[start:start + 20],
                                            "include_raw": "true"}) or {}
            posts.update({p.get("id"): p for p in (more.get("post_stream") or {}).get("posts") or []})
        found: dict[str, int] = {}
        for pid in ids:
            for note_id in MARKER.findall((posts.get(pid) or {}).get("raw") or ""):
                found.setdefault(note_id, int(pid))
        return found

    def _syncd_ticket(self, topic_id: int, call: mapping.TopicCall,
                      mapped: mapping.MappedTicket) -> Ticket:
        resolved = call.stage == "resolved"
        return Ticket(
            id=topic_id, title=call.title, url=f"{self.plan.base_url}/t/{topic_id}",
            category_id=self.category_for_id(call), tags=call.tags, stage=call.stage,
            closed=call.close, priority=call.priority, author=call.author_id,
            body=_text(call.raw)[:20000], created_at=call.created_at,
            updated_at=call.fields.get("updated_at"),
            first_response_at=mapped_first_response(mapped),
            resolved_at=call.fields.get("updated_at") if resolved else None,
            has_topic=True, has_first_post=True, announced=True, source="freshdesk",
            requester=self._requester(call.fields.get("requester_id")))

    def _requester(self, user_id: str | None) -> Requester | None:
        row = imports.get(self._conn(), "user", user_id) if user_id else None
        if row and row["state"] == "alias":
            row = imports.get(self._conn(), "user", row["ref"])
        if row is None:
            return Requester(None, None, "freshdesk") if user_id else None
        return Requester(row["ref"], row["email"], "freshdesk")

    def category_for_id(self, call: mapping.TopicCall) -> int | None:
        return self.plan.group_categories.get(str(call.fields.get("group_id") or ""),
                                              self.plan.category_id)


def created_id(data: dict, key: str) -> int:
    """The new topic's or post's id; a post held for review (``action: enqueued``) is a
    refusal the admin can act on."""
    if data.get("action") == "enqueued":
        raise Refused("Discourse put the post in the review queue instead of posting it "
                      "(approve_unless_trust_level, review_every_post or a watched word): "
                      "change that for the import, reject the queued post, and run again", 422)
    try:
        return int(data[key])
    except (KeyError, TypeError, ValueError):
        raise Refused(f"Discourse answered without a {key}: {str(data)[:200]}", 422) from None


def mapped_first_response(mapped: mapping.MappedTicket) -> str | None:
    return mapped.topic.first_response_at if mapped.topic else None


def save_ticket_quietly(conn, ticket: Ticket, fd: FdTicket, call: mapping.TopicCall) -> None:
    """The default: a syncd ticket written as is, no rules run (nobody is pinged)."""
    ticketstore.save(conn, ticket)
    ticketstore.add_history(conn, ticket.id, "event", "imported",
                            {"from": "freshdesk", "freshdesk_id": fd.id,
                             "display_id": fd.display_id, "note": "imported: no rules ran"},
                            source="import")


def _text(raw: str) -> str:
    return re.sub(r"<[^>]+>", " ", raw)
