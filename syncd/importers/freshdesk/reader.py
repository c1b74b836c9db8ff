"""The Freshdesk account export, streamed: ``iterparse`` record by record, constant memory.

The export (Admin → Account → Export data, unzipped) holds numbered files of 300 records:
``Users{N}.xml`` (agents and contacts; ``helpdesk-agent`` tells them apart; newer exports
add ``AllAgents{N}.xml``), ``Companies{N}.xml`` (older: ``Customers.xml``), ``Groups.xml``,
``Tickets{N}.xml`` and ``ArchivedTickets{N}.xml`` (tickets with their notes and attachment
references). Elements are Rails ``to_xml``: dashed names, ``type="integer|boolean|datetime"``
and ``nil="true"`` (``Helpdesk::Ticket#to_xml``, ``Helpdesk::Note``, ``User``;
docs/import.md has the sources).

A record is yielded only once its end tag is read, and its element is then dropped, so a
truncated file gives every complete record before the damage and one problem naming the
file, the line and the last good record; nothing half-read is ever yielded. Unknown
elements are kept (in ``fields``) and reported once a file.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from syncd.clock import iso, parse

PATTERNS = {
    "users": ("Users*.xml", "AllAgents*.xml", "Agents*.xml", "Contacts*.xml"),
    "companies": ("Companies*.xml", "Customers*.xml"),
    "groups": ("Groups*.xml",),
    "tickets": ("Tickets*.xml", "ArchivedTickets*.xml"),
}
USER_FIELDS = {"id", "name", "email", "created-at", "updated-at", "active", "customer-id",
               "job-title", "phone", "mobile", "twitter-id", "description", "time-zone",
               "deleted", "helpdesk-agent", "fb-profile-id", "external-id", "language",
               "address", "unique-external-id", "company-id", "custom_field", "user",
               "agent", "available", "occasional", "signature", "signature-html",
               "ticket-permission", "points", "scoreboard-level-id", "user-id"}
TICKET_FIELDS = {"id", "display-id", "subject", "description", "description-html",
                 "requester-id", "responder-id", "group-id", "owner-id", "status", "priority",
                 "source", "ticket-type", "spam", "deleted", "isescalated", "due-by", "frDueBy",
                 "created-at", "updated-at", "to-email", "cc-email", "association-type",
                 "associates-rdb", "status-name", "priority-name", "source-name",
                 "requester-name", "responder-name", "product-id", "notes", "attachments",
                 "tags", "to_emails", "custom_field", "fr-escalated", "trained",
                 "email-config-id", "import-id", "urgent", "sl-skill-id", "internal-agent-id",
                 "internal-group-id", "parent-ticket-id", "sla-policy-id"}
NOTE_FIELDS = {"id", "body", "body-html", "user-id", "source", "incoming", "private",
               "deleted", "created-at", "updated-at", "support-email", "attachments",
               "notable-id", "notable-type", "to-emails", "cc-emails", "bcc-emails",
               "from-email", "kind", "category"}


@dataclass(frozen=True)
class Problem:
    """Something wrong in the input, named by file and record, and what was done about it."""

    file: str
    record: str
    message: str
    severity: str = "error"     # error: the record (or the rest of a file) is not imported

    def __str__(self) -> str:
        return f"{self.file}: {self.record}: {self.message}"


@dataclass(frozen=True)
class User:
    id: str
    name: str
    email: str | None
    agent: bool
    deleted: bool = False
    created_at: str | None = None
    company_id: str | None = None
    file: str = ""


@dataclass(frozen=True)
class Attachment:
    id: str
    name: str
    content_type: str | None
    size: int | None
    url: str | None


@dataclass(frozen=True)
class Note:
    id: str
    body_html: str
    body: str
    user_id: str | None
    private: bool
    incoming: bool
    deleted: bool
    created_at: str | None
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class Ticket:
    id: str
    display_id: str | None
    subject: str
    description_html: str
    description: str
    requester_id: str | None
    responder_id: str | None
    group_id: str | None
    status: int | None
    priority: int | None
    source: int | None
    spam: bool
    deleted: bool
    created_at: str | None
    updated_at: str | None
    notes: tuple[Note, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    tags: tuple[str, ...] = ()
    fields: dict[str, Any] = field(default_factory=dict)   # everything else, kept
    file: str = ""
    archived: bool = False


def natural_key(path: Path) -> tuple:
    """``Tickets2.xml`` before ``Tickets10.xml``."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", path.name))


def _value(el: ET.Element) -> Any:
    if el.get("nil") == "true":
        return None
    text = el.text or ""
    kind = el.get("type")
    if kind == "integer":
        try:
            return int(text)
        except ValueError:
            return text or None
    if kind == "boolean":
        return text.strip().lower() == "true"
    if kind == "datetime":
        return _when(text)
    return text


def _when(text: str | None) -> str | None:
    if not text or not text.strip():
        return None
    try:
        return iso(parse(text.strip()))
    except ValueError:
        return None


def _sid(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _flat(el: ET.Element) -> dict[str, Any]:
    """The children of a record as {tag: value}; nested lists stay elements."""
    return {child.tag: child for child in el}


class ExportReader:
    """Reads one unzipped export folder; problems go to ``on_problem``."""

    def __init__(self, folder: str | Path, on_problem: Callable[[Problem], None] | None = None):
        self.folder = Path(folder)
        self.on_problem = on_problem or (lambda p: None)
        self._unknown_seen: set[tuple[str, str]] = set()

    def files(self, kind: str) -> list[Path]:
        found: list[Path] = []
        for pattern in PATTERNS[kind]:
            found += sorted((p for p in self.folder.glob(pattern) if p not in found), key=natural_key)
        return found

    # --- the record stream ---------------------------------------------------------------

    def _records(self, path: Path, tag: str | tuple[str, ...]) -> Iterator[ET.Element]:
        """Complete ``<tag>`` records at depth 2 of ``path``; each dropped once used."""
        depth, root, count, last_id = 0, None, 0, None
        try:
            for event, el in ET.iterparse(path, events=("start", "end")):
                if event == "start":
                    depth += 1
                    if depth == 1:
                        root = el
                    continue
                depth -= 1
                if depth == 1:
                    if el.tag == tag or el.tag in tag:
                        count += 1
                        id_el = el.find("id")
                        last_id = id_el.text if id_el is not None else None
                        yield el
                    elif el.tag not in ("nil-classes",):
                        self._unknown(path, f"record {count + 1}", el.tag)
                    el.clear()
                    if root is not None:
                        root.remove(el)
        except ET.ParseError as exc:
            line, column = exc.position
            where = f"after record {count}" + (f" (id {last_id})" if last_id else "")
            self.on_problem(Problem(path.name, where,
                                    f"malformed XML at line {line}, column {column} ({exc.msg}):"
                                    " the records before it are read, the rest of this file is"
                                    " not; fix or re-export the file and run again"))
        except OSError as exc:
            self.on_problem(Problem(path.name, "file", f"cannot read: {exc}"))

    def _unknown(self, path: Path, record: str, tag: str) -> None:
        if (path.name, tag) not in self._unknown_seen:
            self._unknown_seen.add((path.name, tag))
            self.on_problem(Problem(path.name, record, f"unknown element <{tag}>: kept in the "
                                    "ticket's Freshdesk fields, not mapped", "warning"))

    def _check_known(self, path: Path, record: str, children: dict[str, ET.Element],
                     known: set[str]) -> None:
        for tag in children:
            if tag not in known:
                self._unknown(path, record, tag)

    # --- users, companies, groups --------------------------------------------------------

    def users(self) -> Iterator[User]:
        for path in self.files("users"):
            agents_file = path.name.lower().startswith(("allagents", "agents"))
            for el in self._records(path, "agent" if agents_file else "user"):
                user = self._user(path, el, agents_file)
                if user is not None:
                    yield user

    def _user(self, path: Path, el: ET.Element, agents_file: bool) -> User | None:
        kids = _flat(el)
        inner = kids.get("user")
        if inner is not None:        # AllAgents: <agent><user>…</user></agent>
            kids = {**kids, **_flat(inner)}
        uid = _sid(_value(kids["id"])) if "id" in kids else None
        if agents_file and "user-id" in el.attrib:
            uid = el.get("user-id")
        if not uid:
            self.on_problem(Problem(path.name, "a user record", "no <id>: skipped"))
            return None
        self._check_known(path, f"user {uid}", kids, USER_FIELDS)
        get = lambda tag: _value(kids[tag]) if tag in kids else None  # noqa: E731
        email = (get("email") or "").strip() or None
        return User(id=uid, name=(get("name") or "").strip(), email=email,
                    agent=bool(get("helpdesk-agent")) or agents_file, deleted=bool(get("deleted")),
                    created_at=get("created-at"),
                    company_id=_sid(get("company-id") or get("customer-id")), file=path.name)

    def named(self, kind: str, tag: str | tuple[str, ...]) -> dict[str, str]:
        """``{id: name}`` of the small files (companies, groups)."""
        out: dict[str, str] = {}
        for path in self.files(kind):
            for el in self._records(path, tag):
                kids = _flat(el)
                if "id" in kids:
                    out[str(_value(kids["id"]))] = (_value(kids["name"]) or "") if "name" in kids else ""
        return out

    # --- tickets -------------------------------------------------------------------------

    def tickets(self) -> Iterator[Ticket]:
        for path in self.files("tickets"):
            archived = path.name.lower().startswith("archived")
            for el in self._records(path, "helpdesk-ticket"):
                ticket = self._ticket(path, el, archived)
                if ticket is not None:
                    yield ticket

    def _ticket(self, path: Path, el: ET.Element, archived: bool) -> Ticket | None:
        kids = _flat(el)
        tid = _sid(_value(kids["id"])) if "id" in kids else None
        if not tid:
            self.on_problem(Problem(path.name, "a ticket record", "no <id>: skipped"))
            return None
        record = f"ticket {tid}"
        self._check_known(path, record, kids, TICKET_FIELDS)
        get = lambda tag: _value(kids[tag]) if tag in kids else None  # noqa: E731
        extra: dict[str, Any] = {}
        for tag, child in kids.items():
            if tag == "custom_field":
                extra.update({c.tag: _value(c) for c in child})
            elif tag not in TICKET_FIELDS or tag in ("ticket-type", "status-name", "priority-name",
                                                     "source-name", "due-by", "frDueBy",
                                                     "to-email", "cc-email", "product-id",
                                                     "isescalated", "owner-id"):
                extra[tag] = _value(child) if len(child) == 0 else None
        notes = []
        for note_el in (kids["notes"] if "notes" in kids else ()):
            note = self._note(path, record, note_el)
            if note is not None:
                notes.append(note)
        return Ticket(
            id=tid, display_id=_sid(get("display-id")), subject=(get("subject") or "").strip(),
            description_html=get("description-html") or "", description=get("description") or "",
            requester_id=_sid(get("requester-id")), responder_id=_sid(get("responder-id")),
            group_id=_sid(get("group-id")), status=_int(get("status")),
            priority=_int(get("priority")), source=_int(get("source")), spam=bool(get("spam")),
            deleted=bool(get("deleted")), created_at=get("created-at"),
            updated_at=get("updated-at"), notes=tuple(notes),
            attachments=_attachments(kids.get("attachments")), tags=_tags(kids.get("tags")),
            fields=extra, file=path.name, archived=archived)

    def _note(self, path: Path, record: str, el: ET.Element) -> Note | None:
        kids = _flat(el)
        nid = _sid(_value(kids["id"])) if "id" in kids else None
        if not nid:
            self.on_problem(Problem(path.name, record, "a note without <id>: skipped"))
            return None
        self._check_known(path, f"{record} note {nid}", kids, NOTE_FIELDS)
        get = lambda tag: _value(kids[tag]) if tag in kids else None  # noqa: E731
        return Note(id=nid, body_html=get("body-html") or "", body=get("body") or "",
                    user_id=_sid(get("user-id")), private=bool(get("private")),
                    incoming=bool(get("incoming")), deleted=bool(get("deleted")),
                    created_at=get("created-at"), attachments=_attachments(kids.get("attachments")))

    # --- the quick count for the estimate ------------------------------------------------

    def count(self) -> dict[str, int]:
        """Users, tickets, notes and attachments by counting start tags in the raw bytes (fast, constant
        memory; a truncated file may count one record too many)."""
        users = sum(_count_tag(p, b"<user>") + _count_tag(p, b"<agent>") for p in self.files("users"))
        tickets = notes = attachments = 0
        for path in self.files("tickets"):
            tickets += _count_tag(path, b"<helpdesk-ticket>")
            notes += _count_tag(path, b"<helpdesk-note>")
            attachments += _count_tag(path, b"<attachment_url>") + _count_tag(path, b"<attachment-url>")
        return {"users": users, "tickets": tickets, "notes": notes, "attachments": attachments}


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _attachments(el: ET.Element | None) -> tuple[Attachment, ...]:
    if el is None:
        return ()
    out = []
    for item in el:
        kids = {c.tag.replace("_", "-"): _value(c) for c in item}
        out.append(Attachment(id=str(kids.get("id") or ""), name=kids.get("content-file-name") or "file",
                              content_type=kids.get("content-content-type"),
                              size=_int(kids.get("content-file-size")),
                              url=kids.get("attachment-url") or None))
    return tuple(out)


def _tags(el: ET.Element | None) -> tuple[str, ...]:
    if el is None:
        return ()
    out = []
    for item in el:
        name = item.find("name")
        text = (name.text if name is not None else item.text) or ""
        if text.strip():
            out.append(text.strip())
    return tuple(out)


def _count_tag(path: Path, tag: bytes, chunk: int = 1 << 20) -> int:
    count, tail = 0, b""
    try:
        with path.open("rb") as fh:
            while True:
                block = fh.read(chunk)
                if not block:
                    break
                data = tail + block
                count += data.count(tag)
                tail = data[-(len(tag) - 1):]  # too short to hold a whole tag: no double count
    except OSError:
        return 0
    return count
