"""Attachments into the forum: ``POST /uploads.json`` with ``url`` (Discourse downloads it
itself for API requests, ``UploadsController.create_upload``; ``synchronous`` returns the
upload at once). Discourse keeps one upload per file (by its SHA-1), so sending one again
after a crash returns the same upload: uploads need no look-up, only the map row that
saves the call on a rerun.

The export's links are signed and expire after 7 days (``attachment_url_for_export``). An
expired link (``X-Amz-Date`` + ``X-Amz-Expires``, or ``Expires``) is replaced by a fresh
one from the API when ``--freshdesk-url`` is given; otherwise the attachment is named in the
post and reported.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Callable
from urllib.parse import parse_qs, urlparse

from syncd.clock import utcnow
from syncd.importers.freshdesk import mapping
from syncd.importers.freshdesk.client import ImportClient, Refused
from syncd.importers.freshdesk.reader import Attachment, Ticket
from syncd.store import imports
from syncd.store.db import transaction


def expired(url: str, now: datetime) -> bool:
    """Whether a signed link has run out (unsigned links never do)."""
    query = {k.lower(): v[-1] for k, v in parse_qs(urlparse(url).query).items()}
    try:
        if "x-amz-date" in query and "x-amz-expires" in query:
            signed = datetime.strptime(query["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
            return now >= signed + timedelta(seconds=int(query["x-amz-expires"]))
        if "expires" in query:
            return now.timestamp() >= int(query["expires"])
    except ValueError:
        return False
    return False


class AttachmentUploader:
    """``uploaded_for(ticket)`` → attachment id → its markdown in the forum."""

    def __init__(self, store, client: ImportClient,
                 fresh: Callable[[Ticket], dict[str, str]] | None = None,
                 clock: Callable[[], datetime] = utcnow):
        self.store, self.client, self.fresh, self.clock = store, client, fresh, clock

    def uploaded_for(self, ticket: Ticket, pending: Callable[[str, str], bool],
                     problem: Callable[[str], None],
                     created: Callable[[], None] = lambda: None) -> dict[str, str]:
        """``pending(kind, id)``: the topic or note is still to be created (else its
        attachments are not needed)."""
        wanted: list[Attachment] = list(ticket.attachments) if pending("topic", ticket.id) else []
        for note in ticket.notes:
            if note.attachments and pending("post", note.id):
                wanted += note.attachments
        out: dict[str, str] = {}
        fresh_urls: dict[str, str] | None = None
        db = self.store.db()
        now = self.clock()
        for att in wanted:
            row = imports.get(db.conn, "upload", att.id)
            if row and row["state"] == "done":
                out[att.id] = row["ref"]
                continue
            url = att.url
            if not url or expired(url, now):
                if self.fresh is None or not ticket.display_id:
                    problem(f"attachment {att.id} ({att.name}): the export's link has expired: "
                            "named in the post, not uploaded; pass --freshdesk-url to fetch it")
                    continue
                if fresh_urls is None:
                    fresh_urls = self.fresh(ticket)
                url = fresh_urls.get(att.id)
                if not url:
                    problem(f"attachment {att.id} ({att.name}): expired, and Freshdesk's API has "
                            "no fresh link for it: named in the post, not uploaded")
                    continue
            with transaction(db) as conn:
                imports.begin(conn, "upload", att.id, ref=None)
            try:
                data = self.client.call("POST", "/uploads.json", json={
                    "type": "composer", "url": url, "synchronous": True})
            except Refused as exc:
                with transaction(db) as conn:
                    imports.finish(conn, "upload", att.id, "failed", str(exc))
                problem(f"attachment {att.id} ({att.name}): {exc}")
                continue
            markdown = mapping.upload_markdown(att.name, data.get("short_url") or data.get("url") or url,
                                               att.content_type)
            with transaction(db) as conn:
                imports.done(conn, "upload", att.id, data.get("id"), ref=markdown)
            created()
            out[att.id] = markdown
        return out
