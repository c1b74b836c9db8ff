"""Pure: a Freshdesk record → the Discourse call that creates it (no I/O, no clock).

- a user → ``POST /users.json`` (``active``, ``approved``: an admin key's privilege,
  ``users_controller.rb#user_params``; active users get no activation mail); a username
  Discourse accepts, made from the name, unique by a Freshdesk-id suffix;
- a ticket → ``POST /posts.json`` creating a topic: ``title``, ``raw``, ``category``,
  ``created_at`` and ``external_id = fd-<id>`` (both allowed for API requests,
  ``posts_controller.rb#create_params``), ``tags[]`` (status, priority, source, the
  ticket's own), and a short block with the Freshdesk ID, display ID and dates;
- a note → ``POST /posts.json`` with ``topic_id``, ``created_at`` and, when private,
  ``whisper: "true"`` (the string: the controller compares ``params[:whisper] == "true"``),
  its raw ending in the hidden marker ``<!-- fd-note:<id> -->`` that finds it again after
  a crash.

Every adjustment (a title under the site's minimum, a body over its maximum, a missing
author, dropped tags) is returned as a problem naming the record, never silently.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Callable, Mapping

from syncd.importers.freshdesk.reader import Note, Ticket, User

STATUS = {2: "open", 3: "pending", 4: "resolved", 5: "closed"}
TICKET_STAGE = {2: "open", 3: "answered", 4: "resolved", 5: "resolved"}   # syncd's stages
PRIORITY = {1: "low", 2: "normal", 3: "high", 4: "urgent"}
SOURCE = {1: "email", 2: "portal", 3: "phone", 4: "forum", 5: "twitter", 6: "facebook",
          7: "chat", 8: "mobihelp", 9: "feedback-widget", 10: "outbound-email",
          11: "ecommerce", 12: "bot", 13: "whatsapp"}
CLOSED_STATUSES = (4, 5)
IMPORT_TAG = "freshdesk"
PLACEHOLDER_DOMAIN = "freshdesk-import.invalid"
_TAG_STRIP = re.compile(r"[/\\?#\[\]@!$&'()*+,;=.%`^|{}\"<>]+")
_USERNAME_BAD = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class SiteLimits:
    """The site settings the mapping respects (Discourse's defaults until read)."""

    min_topic_title_length: int = 15
    max_topic_title_length: int = 255
    min_first_post_length: int = 20
    min_post_length: int = 20
    max_post_length: int = 32000
    max_tags_per_topic: int = 5
    max_tag_length: int = 20
    min_username_length: int = 3
    max_username_length: int = 20

    @classmethod
    def from_settings(cls, values: dict[str, str]) -> "SiteLimits":
        kw = {}
        for name in cls.__dataclass_fields__:
            try:
                kw[name] = int(values[name])
            except (KeyError, TypeError, ValueError):
                pass
        return cls(**kw)


@dataclass(frozen=True)
class UserCall:
    source_id: str
    username: str
    email: str
    name: str
    agent: bool
    problems: tuple[str, ...] = ()

    def params(self, password: str) -> dict:
        return {"name": self.name or self.username, "username": self.username,
                "email": self.email, "password": password, "active": True, "approved": True}


@dataclass(frozen=True)
class PostCall:
    source_id: str            # the note id
    raw: str
    created_at: str | None
    whisper: bool
    author_id: str | None     # Freshdesk user id (None: post as the API user)


@dataclass(frozen=True)
class TopicCall:
    source_id: str
    external_id: str
    title: str
    raw: str
    created_at: str | None
    tags: tuple[str, ...]
    author_id: str | None
    close: bool
    stage: str
    priority: str
    fields: dict = field(default_factory=dict)
    first_response_at: str | None = None


@dataclass(frozen=True)
class MappedTicket:
    topic: TopicCall | None         # None: not imported (spam, deleted); see skip_reason
    posts: tuple[PostCall, ...] = ()
    problems: tuple[str, ...] = ()
    skip_reason: str = ""
    skipped_notes: int = 0


def external_id(ticket_id: str) -> str:
    return f"fd-{ticket_id}"


def note_marker(note_id: str) -> str:
    return f"<!-- fd-note:{note_id} -->"


def topic_marker(ticket_id: str) -> str:
    return f"<!-- fd-ticket:{ticket_id} -->"


# --- users -----------------------------------------------------------------------------

def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def username_base(user: User, limits: SiteLimits = SiteLimits()) -> str:
    """A username Discourse accepts (``UsernameValidator``: letters, digits, ``_.-``,
    starting and ending with a letter or digit) from the name, else the email's local part."""
    source = user.name or (user.email or "").split("@")[0] or f"fd{user.id}"
    name = _USERNAME_BAD.sub("_", _ascii(source).replace(" ", "_"))
    name = re.sub(r"[_.-]{2,}", "_", name).strip("_.-")
    if len(name) < limits.min_username_length:
        name = f"fd_{user.id}"
    return name[: limits.max_username_length].rstrip("_.-")


def with_suffix(base: str, user_id: str, limits: SiteLimits = SiteLimits()) -> str:
    """``base`` made unique by the Freshdesk id: ``asha_khan_5012``."""
    suffix = f"_{user_id}"
    return base[: max(1, limits.max_username_length - len(suffix))].rstrip("_.-") + suffix


def map_user(user: User, taken: Callable[[str], bool],
             limits: SiteLimits = SiteLimits()) -> UserCall:
    """``taken(username)``: already given to another Freshdesk user in this import."""
    problems = []
    username = username_base(user, limits)
    if taken(username.lower()):
        username = with_suffix(username, user.id, limits)
    email = (user.email or "").strip().lower()
    if not email or "@" not in email:
        problems.append(f"user {user.id} has no email: created with the placeholder "
                        f"user-{user.id}@{PLACEHOLDER_DOMAIN} (no mail can reach it)")
        email = f"user-{user.id}@{PLACEHOLDER_DOMAIN}"
    return UserCall(user.id, username, email, user.name, user.agent, tuple(problems))


# --- tickets ---------------------------------------------------------------------------

def clean_tag(name: str, limits: SiteLimits = SiteLimits()) -> str:
    """As ``DiscourseTagging.clean_tag``: lower case, spaces to dashes, no punctuation."""
    tag = _TAG_STRIP.sub("", name.strip().lower())
    tag = re.sub(r"\s+", "-", tag)
    tag = re.sub(r"-{2,}", "-", tag).strip("-")
    return tag[: limits.max_tag_length].strip("-")


def ticket_tags(ticket: Ticket, limits: SiteLimits) -> tuple[tuple[str, ...], list[str]]:
    status = STATUS.get(ticket.status or 0) or clean_tag(str(ticket.fields.get("status-name")
                                                         or f"status-{ticket.status}"), limits)
    wanted = [IMPORT_TAG, f"status-{status}" if not status.startswith("status-") else status,
              f"priority-{PRIORITY.get(ticket.priority or 2, 'normal')}"]
    if ticket.source in SOURCE:
        wanted.append(f"via-{SOURCE[ticket.source]}")
    wanted = [clean_tag(t, limits) for t in wanted]
    for own in ticket.tags:
        tag = clean_tag(own, limits)
        if tag and tag not in wanted:
            wanted.append(tag)
    kept = wanted[: limits.max_tags_per_topic]
    problems = []
    if len(wanted) > len(kept):
        problems.append(f"more tags than max_tags_per_topic ({limits.max_tags_per_topic}): "
                        f"dropped {', '.join(wanted[len(kept):])}")
    return tuple(kept), problems


def _title(ticket: Ticket, limits: SiteLimits, problems: list[str]) -> str:
    title = re.sub(r"\s+", " ", ticket.subject).strip()
    label = f"Freshdesk #{ticket.display_id or ticket.id}"
    if not title:
        problems.append("no subject: titled by its display ID")
        title = f"(no subject) {label}"
    elif len(title) < limits.min_topic_title_length:
        problems.append(f"title {title!r} is under min_topic_title_length "
                        f"({limits.min_topic_title_length}): the display ID is appended")
        title = f"{title} ({label})"
    if len(title) < limits.min_topic_title_length:
        title = title.ljust(limits.min_topic_title_length, ".")
    if len(title) > limits.max_topic_title_length:
        title = title[: limits.max_topic_title_length - 1].rstrip() + "…"
    return title


def _fit(body: str, room: int, what: str, problems: list[str]) -> str:
    if len(body) <= room:
        return body
    problems.append(f"{what} is {len(body):,} characters, over max_post_length: "
                    f"cut to {room:,} (the full text stays in Freshdesk)")
    return body[: max(0, room)] + "\n\n*[cut: the rest is over the forum's post length]*"


def _attachment_lines(attachments, uploaded: Mapping[str, str]) -> str:
    """Uploaded ones as Discourse's markdown (``upload://`` short URLs), the others by name."""
    lines = []
    for a in attachments:
        size = f" ({a.size:,} bytes)" if a.size else ""
        if a.id in uploaded:
            lines.append(f"- {uploaded[a.id]}{size}")
        else:
            lines.append(f"- {a.name}{size} (not imported: its Freshdesk link had expired)")
    return ("\n\n**Attachments**\n" + "\n".join(lines)) if lines else ""


def upload_markdown(name: str, short_url: str, content_type: str | None) -> str:
    """As Discourse's composer writes an upload: an image inline, anything else a link."""
    label = name.replace("[", "(").replace("]", ")").replace("|", "-")
    if (content_type or "").startswith("image/") or re.search(r"\.(png|jpe?g|gif|webp)$", name, re.I):
        return f"![{label}]({short_url})"
    return f"[{label}|attachment]({short_url})"


def header(ticket: Ticket) -> str:
    return (f"<small>Imported from Freshdesk: ticket #{ticket.display_id or '?'} "
            f"(ID {ticket.id}), created {ticket.created_at or '?'}, "
            f"updated {ticket.updated_at or '?'}</small>")


def _byline(user_id: str | None, username: str | None = None) -> str:
    who = f"Freshdesk user {user_id}" if user_id else "an unknown Freshdesk user"
    if username:
        who = f"{username} ({who})"
    return f"*Originally written by {who}.*\n\n"


def map_note(note: Note, ticket_id: str, author: tuple[str, bool] | None,
             limits: SiteLimits = SiteLimits(), agents_whisper: bool = True,
             uploaded: Mapping[str, str] | None = None) -> tuple[PostCall, list[str]]:
    """``author``: the note author's (username, is_agent) in Discourse, or None.
    ``agents_whisper``: the staff group may whisper (``whispers_allowed_groups``); if not,
    private notes are whispered by the API user (an admin) with a byline."""
    problems: list[str] = []
    body = note.body_html or note.body
    byline = ""
    if author is None:
        problems.append(f"note {note.id}: author {note.user_id or '(none)'} is not among the "
                        "imported users: posted as the API user with a byline")
        byline = _byline(note.user_id)
    elif note.private and not author[1]:
        problems.append(f"note {note.id}: a private note by a non-agent: whispered by the API "
                        "user with a byline")
        byline, author = _byline(note.user_id, author[0]), None
    elif note.private and not agents_whisper:
        byline, author = _byline(note.user_id, author[0]), None
    marker = note_marker(note.id)
    extra = _attachment_lines(note.attachments, uploaded or {})
    room = limits.max_post_length - len(byline) - len(extra) - len(marker) - 80
    body = _fit(body, room, f"note {note.id}", problems)
    if len(re.sub(r"<[^>]+>", "", body).strip()) < limits.min_post_length:
        extra += f"\n\n<small>(Freshdesk note {note.id})</small>"
    raw = f"{byline}{body}{extra}\n\n{marker}"
    return PostCall(note.id, raw, note.created_at, note.private,
                    author[0] if author else None), problems


def map_ticket(ticket: Ticket, authors: Callable[[str | None], tuple[str, bool] | None],
               limits: SiteLimits = SiteLimits(), agents_whisper: bool = True,
               uploaded: Mapping[str, str] | None = None) -> MappedTicket:
    """The topic and its replies. ``authors(freshdesk_user_id)`` → (username, is_agent);
    ``uploaded``: attachment id → its markdown in the forum."""
    uploaded = uploaded or {}
    if ticket.spam or ticket.deleted:
        return MappedTicket(None, skip_reason="spam" if ticket.spam else "deleted in Freshdesk")
    problems: list[str] = []
    title = _title(ticket, limits, problems)
    tags, tag_problems = ticket_tags(ticket, limits)
    problems += tag_problems
    requester = authors(ticket.requester_id)
    byline = ""
    if requester is None:
        problems.append(f"requester {ticket.requester_id or '(none)'} is not among the imported "
                        "users: the topic is posted by the API user with a byline")
        byline = _byline(ticket.requester_id)
    head, marker = header(ticket), topic_marker(ticket.id)
    extra = _attachment_lines(ticket.attachments, uploaded)
    body = ticket.description_html or ticket.description or "(no description)"
    room = limits.max_post_length - len(head) - len(byline) - len(extra) - len(marker) - 80
    body = _fit(body, room, f"the description of ticket {ticket.id}", problems)
    raw = f"{head}\n\n{byline}{body}{extra}\n\n{marker}"
    posts, skipped, first_response = [], 0, None
    for note in sorted(ticket.notes, key=lambda n: (n.created_at or "", _num(n.id))):
        if note.deleted:
            skipped += 1
            continue
        author = authors(note.user_id)
        if first_response is None and author and author[1] and not note.private:
            first_response = note.created_at
        post, note_problems = map_note(note, ticket.id, author, limits, agents_whisper, uploaded)
        posts.append(post)
        problems += note_problems
    fields = {"freshdesk_id": ticket.id, "display_id": ticket.display_id,
              "status": ticket.status, "priority": ticket.priority, "source": ticket.source,
              "group_id": ticket.group_id, "requester_id": ticket.requester_id,
              "responder_id": ticket.responder_id, "created_at": ticket.created_at,
              "updated_at": ticket.updated_at, "tags": list(ticket.tags),
              "archived": ticket.archived, **ticket.fields}
    topic = TopicCall(ticket.id, external_id(ticket.id), title, raw, ticket.created_at, tags,
                      requester[0] if requester else None, (ticket.status or 0) in CLOSED_STATUSES,
                      TICKET_STAGE.get(ticket.status or 2, "open"),
                      PRIORITY.get(ticket.priority or 2, "normal"), fields, first_response)
    return MappedTicket(topic, tuple(posts), tuple(problems), skipped_notes=skipped)


def _num(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def topic_params(call: TopicCall, category_id: int | None) -> dict:
    params = {"title": call.title, "raw": call.raw, "external_id": call.external_id,
              "import_mode": True, "tags": list(call.tags)}
    if call.created_at:
        params["created_at"] = call.created_at
    if category_id is not None:
        params["category"] = category_id
    return params


def post_params(call: PostCall, topic_id: int) -> dict:
    params = {"topic_id": topic_id, "raw": call.raw, "import_mode": True}
    if call.created_at:
        params["created_at"] = call.created_at
    if call.whisper:
        params["whisper"] = "true"
    return params
