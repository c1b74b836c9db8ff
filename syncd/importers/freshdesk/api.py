"""Freshdesk API v2: the tickets changed after the export (``--freshdesk-url``).

``GET /api/v2/tickets?updated_since=…&order_by=updated_at&order_type=asc&per_page=100``
pages 1…300: Freshdesk refuses pages beyond the 300th (``MAX_PAGE_LIMIT``; airbyte #3858),
so after 300 pages the walk starts again from the last ``updated_at`` seen (Airbyte PR
#4002, Zammad's ``tickets.rb``), skipping the tickets of that instant already yielded.
Each ticket's notes come from ``/api/v2/tickets/{id}/conversations`` (``include=
conversations`` gives at most 10). Basic auth: the API key as user name, ``X`` as password.
429 answers are waited out (``Retry-After``). Attachment links come fresh from the API
(the export's expire after 7 days).

The API's ticket ``id`` is the *display* id; a ticket already imported is found by it
(``imported_tickets.display_id``), so its new notes join its topic and nothing is doubled.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Iterator

import requests

from syncd import logs
from syncd.clock import iso, parse
from syncd.errors import SyncdError, TransientError
from syncd.importers.freshdesk.reader import Attachment, Note, Ticket, User

log = logs.get("syncd.importers")
PER_PAGE = 100
MAX_PAGES = 300
RETRIES = 6


class NotFound(SyncdError):
    """Freshdesk answered 404."""


class FreshdeskApi:
    def __init__(self, url: str, api_key: str, store: Any, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep, timeout: float = 30.0):
        self.base = url.rstrip("/")
        self.auth = (api_key, "X")
        self.store, self.sleep, self.timeout = store, sleep, timeout
        self.session = session or requests.Session()
        self.calls = 0

    def _get(self, path: str, params: dict | None = None) -> Any:
        for attempt in range(RETRIES):
            self.calls += 1
            try:
                r = self.session.get(self.base + path, params=params, auth=self.auth,
                                     timeout=self.timeout, headers={"Accept": "application/json"})
            except requests.RequestException as exc:
                error: Exception = TransientError(f"cannot reach Freshdesk ({type(exc).__name__})")
            else:
                if r.status_code == 429:
                    wait = float(r.headers.get("Retry-After") or 60)
                    log.info("freshdesk_rate_limited", wait=wait)
                    self.sleep(wait)
                    continue
                if r.status_code in (401, 403):
                    raise SyncdError(f"Freshdesk refused the API key ({r.status_code}): check "
                                     "FRESHDESK_API_KEY (Profile settings → Your API key).")
                if r.status_code < 400:
                    return r.json()
                if r.status_code == 404:
                    raise NotFound(f"Freshdesk has no {path}")
                if r.status_code < 500:
                    raise SyncdError(f"Freshdesk refused GET {path} ({r.status_code}): {r.text[:200]}")
                error = TransientError(f"Freshdesk answered {r.status_code} to GET {path}")
            self.sleep(min(60.0, 2.0 ** attempt))
        raise error

    def changed_tickets(self, since: str | None) -> Iterator[Ticket]:
        """Tickets updated at or after ``since`` (the export's newest), oldest first."""
        since = since or "1970-01-01T00:00:00Z"
        at_cursor: set[int] = set()   # ids already yielded whose updated_at == since
        while True:
            last, ids_at_last, full_walk = since, set(at_cursor), True
            for page in range(1, MAX_PAGES + 1):
                items = self._get("/api/v2/tickets", {
                    "updated_since": _api_time(since), "order_by": "updated_at",
                    "order_type": "asc", "per_page": PER_PAGE, "page": page,
                    "include": "description"}) or []
                for item in items:
                    updated = iso(parse(item["updated_at"]))
                    if updated == since and item["id"] in at_cursor:
                        continue
                    yield self.ticket(item)
                    if updated != last:
                        last, ids_at_last = updated, set()
                    ids_at_last.add(item["id"])
                if len(items) < PER_PAGE:
                    full_walk = False
                    break
            if not full_walk:
                return
            if last == since and ids_at_last == at_cursor:
                return                      # 30,000 tickets of one instant: nothing new to read
            since, at_cursor = last, ids_at_last

    def ticket(self, item: dict) -> Ticket:
        display = str(item["id"])
        notes = []
        page = 1
        while True:
            batch = self._get(f"/api/v2/tickets/{display}/conversations",
                              {"per_page": PER_PAGE, "page": page}) or []
            notes += [_note(c) for c in batch]
            if len(batch) < PER_PAGE:
                break
            page += 1
        return Ticket(
            id=self._internal_id(display), display_id=display, subject=item.get("subject") or "",
            description_html=item.get("description") or "",
            description=item.get("description_text") or "",
            requester_id=_sid(item.get("requester_id")), responder_id=_sid(item.get("responder_id")),
            group_id=_sid(item.get("group_id")), status=item.get("status"),
            priority=item.get("priority"), source=item.get("source"), spam=bool(item.get("spam")),
            deleted=bool(item.get("deleted")), created_at=_when(item.get("created_at")),
            updated_at=_when(item.get("updated_at")), notes=tuple(notes),
            attachments=_attachments(item.get("attachments")), tags=tuple(item.get("tags") or ()),
            fields={"custom_fields": item.get("custom_fields") or {}, "from": "api"}, file="API")

    def user(self, user_id: str) -> User | None:
        """A contact, else an agent (``/api/v2/contacts/{id}``, ``/api/v2/agents/{id}``),
        as the export's user; None when Freshdesk has neither."""
        for path, agent in ((f"/api/v2/contacts/{user_id}", False), (f"/api/v2/agents/{user_id}", True)):
            try:
                data = self._get(path)
            except NotFound:
                continue
            person = data.get("contact") if agent else data
            if isinstance(person, dict):
                return User(id=str(user_id), name=(person.get("name") or "").strip(),
                            email=(person.get("email") or "").strip() or None, agent=agent,
                            created_at=_when(data.get("created_at")), file="API")
        return None

    def fresh_attachments(self, ticket: Ticket) -> dict[str, str]:
        """Attachment id → a fresh link, for a ticket of the export (its and its notes')."""
        item = self._get(f"/api/v2/tickets/{ticket.display_id}") or {}
        out = {str(a.get("id")): a.get("attachment_url") for a in item.get("attachments") or []}
        if any(n.attachments for n in ticket.notes):
            for note in self.ticket(item).notes if item.get("id") else ():
                out.update({a.id: a.url for a in note.attachments})
        return {k: v for k, v in out.items() if v}

    def _internal_id(self, display: str) -> str:
        row = self.store.db().conn.execute(
            "SELECT source_id FROM imported_tickets WHERE source = 'freshdesk' AND display_id = ?",
            (display,)).fetchone()
        return row[0] if row else f"d{display}"


def _note(c: dict) -> Note:
    return Note(id=str(c["id"]), body_html=c.get("body") or "", body=c.get("body_text") or "",
                user_id=_sid(c.get("user_id")), private=bool(c.get("private")),
                incoming=bool(c.get("incoming")), deleted=False, created_at=_when(c.get("created_at")),
                attachments=_attachments(c.get("attachments")))


def _attachments(items: list | None) -> tuple[Attachment, ...]:
    return tuple(Attachment(str(a.get("id")), a.get("name") or "file", a.get("content_type"),
                            a.get("size"), a.get("attachment_url")) for a in items or ())


def _sid(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _when(text: str | None) -> str | None:
    return iso(parse(text)) if text else None


def _api_time(moment: str) -> str:
    return parse(moment).strftime("%Y-%m-%dT%H:%M:%SZ")
