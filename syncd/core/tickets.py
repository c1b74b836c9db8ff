"""The ticket and its state machine: ``apply(ticket, event, ...) -> Transition``.

Pure and order-tolerant. A ticket is a Discourse topic in a ticket category; its id is
the topic id. Each Discourse event changes the ticket and yields ``Change`` records, the
events rules listen to (``topic_created``, ``post_created``, ``post_liked``,
``solution_accepted`` ... and the derived ``tag_added``, ``category_changed``,
``status_changed`` ...). Standard library only.

Discourse sends a topic's first post as its own ``post_created`` delivery, in either order
with ``topic_created``: the ticket is created by whichever comes first and announced (the
``topic_created`` change) once both are in, or when ``announce_due`` says the wait is over.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Iterable

from syncd.core.events import Actor, Event, Post, Topic, is_status_event

PRIORITIES = ("low", "normal", "high", "urgent")
STAGES = ("open", "answered", "resolved")
STATUSES = STAGES + ("closed", "deleted")
VISIBILITIES = ("public", "unlisted", "private")
SOURCES = ("discourse", "teams", "form")   # where a ticket was asked for (intake: core/intake.py)
RULE_EVENTS = (
    "topic_created", "topic_edited", "post_created", "post_liked", "solution_accepted",
    "solution_unaccepted", "topic_closed", "topic_reopened", "tag_added", "tag_removed",
    "category_changed", "priority_changed", "status_changed",
    "topic_voted", "topic_unvoted", "assigned", "unassigned",
)


# Events that make a ticket of a topic not seen yet (they arrived before topic_created, or
# the topic is older than syncd): kept so that nothing they say is lost.
STUB_EVENTS = ("post_created", "post_liked", "accepted_solution")


@dataclass(frozen=True)
class Requester:
    """Who asked for a ticket made through intake (Teams, a form): not a forum user, maybe."""

    name: str | None = None
    email: str | None = None
    source: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "email": self.email, "source": self.source}

    @classmethod
    def from_dict(cls, data: Any) -> "Requester | None":
        if isinstance(data, Requester) or data is None:
            return data
        if not isinstance(data, dict):
            return None
        return cls(data.get("name"), data.get("email"), data.get("source"))


@dataclass(frozen=True)
class Ticket:
    id: int
    title: str = ""
    slug: str | None = None
    url: str | None = None
    category_id: int | None = None
    tags: tuple[str, ...] = ()
    stage: str = "open"
    closed: bool = False
    deleted: bool = False
    priority: str = "normal"
    visibility: str = "public"
    likes: int = 0
    likers: frozenset[int] = frozenset()
    author: str | None = None
    author_id: int | None = None
    body: str = ""
    created_at: str | None = None
    updated_at: str | None = None
    first_response_at: str | None = None
    resolved_at: str | None = None
    accepted_post_id: int | None = None
    votes: int = 0                      # discourse-topic-voting's count, as Discourse sends it
    assignee: str | None = None         # discourse-assign: a username or a group name
    assignee_type: str | None = None    # "user" | "group"
    has_topic: bool = False
    has_first_post: bool = False
    announced: bool = False
    topic_seq: int = 0
    solution_seq: int = 0
    fired_rules: frozenset[str] = frozenset()
    source: str = "discourse"
    requester: Requester | None = None
    sla: Any = field(default=None, compare=False)   # core.sla.snapshot, attached by the processor

    @property
    def status(self) -> str:
        if self.deleted:
            return "deleted"
        if self.closed:
            return "closed"
        return self.stage

    @property
    def private(self) -> bool:
        return self.visibility == "private"

    @property
    def plus_ones(self) -> int:
        """Everyone who said "me too": likes on the question plus topic votes."""
        return self.likes + self.votes

    def as_dict(self) -> dict[str, Any]:
        """The ticket as ``syncd tickets --json`` prints it and rules templates see it."""
        return {
            "id": self.id, "title": self.title, "url": self.url, "slug": self.slug,
            "category_id": self.category_id, "tags": list(self.tags), "status": self.status,
            "priority": self.priority, "visibility": self.visibility, "likes": self.likes,
            "author": self.author, "author_id": self.author_id, "body": self.body,
            "created_at": self.created_at, "updated_at": self.updated_at,
            "first_response_at": self.first_response_at, "resolved_at": self.resolved_at,
            "accepted_post_id": self.accepted_post_id, "closed": self.closed,
            "deleted": self.deleted, "stage": self.stage,
            "source": self.source,
            "requester": self.requester.as_dict() if self.requester else None,
            "votes": self.votes, "plus_ones": self.plus_ones, "assignee": self.assignee,
            "assignee_type": self.assignee_type,
            **({"sla": self.sla} if self.sla else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Ticket":
        """Inverse of ``as_dict``; fields left out take their defaults."""
        known = {f for f in cls.__dataclass_fields__}
        kw = {k: v for k, v in data.items() if k in known}
        if "tags" in kw:
            kw["tags"] = tuple(kw["tags"] or ())
        for key in ("likers", "fired_rules"):
            if key in kw:
                kw[key] = frozenset(kw[key] or ())
        status = data.get("status")
        if status in STAGES and "stage" not in data:
            kw["stage"] = status
        elif status == "closed":
            kw["closed"] = True
        elif status == "deleted":
            kw["deleted"] = True
        if "id" not in kw:
            kw["id"] = 0
        if "requester" in kw:
            kw["requester"] = Requester.from_dict(kw["requester"])
        return cls(**kw)


@dataclass(frozen=True)
class Change:
    """One thing that happened to a ticket: the event rules see (``on:``)."""

    name: str
    actor: Actor | None = None
    post: Post | None = None
    tag: str | None = None
    old: Any = None
    new: Any = None
    source: str = "webhook"
    by_syncd: bool = False
    at: str | None = None
    target: str | None = None       # timer events: the SLA target (first_response, ...)
    late: bool = False              # timer events: fired late (syncd was down when due)


@dataclass(frozen=True)
class Transition:
    """The ticket after an event (None: the event does not make or touch a ticket)."""

    ticket: Ticket | None
    changes: tuple[Change, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class StaffPolicy:
    """Who counts as support staff: Discourse staff, or members of ``groups``. ``bot`` is
    syncd's own API user: its posts (acknowledgements, similar tickets) answer nobody."""

    groups: frozenset[str] = frozenset()
    usernames: frozenset[str] = frozenset()
    bot: str | None = None

    def is_staff(self, actor: Actor | None) -> bool:
        if actor is None:
            return False
        if actor.staff:
            return True
        if actor.primary_group and actor.primary_group in self.groups:
            return True
        return bool(actor.username) and actor.username in self.usernames


@dataclass
class _Builder:
    """Collects the changes of one transition."""

    before: Ticket | None
    ticket: Ticket
    event: Event
    now: str
    changes: list[Change] = field(default_factory=list)

    def set(self, **kw: Any) -> None:
        self.ticket = replace(self.ticket, **kw)

    def emit(self, name: str, **kw: Any) -> None:
        kw.setdefault("actor", self.event.actor)
        kw.setdefault("at", self.event.occurred_at or self.now)
        self.changes.append(Change(name=name, source=self.event.source, **kw))

    def finish(self, note: str = "") -> Transition:
        old = self.before.status if self.before else None
        if self.before is not None and old != self.ticket.status:
            self.emit("status_changed", old=old, new=self.ticket.status)
        if self.ticket.has_topic and self.ticket.has_first_post and not self.ticket.announced:
            self._announce()
        if self.changes or self.before != self.ticket:
            self.set(updated_at=self.event.occurred_at or self.now)
        return Transition(self.ticket, tuple(self.changes), note)

    def _announce(self) -> None:
        self.set(announced=True)
        actor = Actor(self.ticket.author_id, self.ticket.author)
        self.changes.insert(0, Change("topic_created", actor=actor, source=self.event.source,
                                      at=self.ticket.created_at or self.now))


def apply(ticket: Ticket | None, event: Event, now: str,
          staff: StaffPolicy = StaffPolicy()) -> Transition:
    """Apply one event to a ticket (None when syncd has not seen the topic yet)."""
    if event.topic_id is None:
        return Transition(ticket, note="event names no topic")
    base = ticket or Ticket(id=event.topic_id, created_at=None)
    b = _Builder(ticket, base, event, now)
    handler = _handler(event.name)
    if handler is None:
        return Transition(ticket, note=f"no ticket change for {event.name}")
    note = handler(b, staff) or ""
    if ticket is None and not (b.ticket.has_topic or b.ticket.has_first_post
                               or event.name in STUB_EVENTS):
        return Transition(None, note=note or "not a ticket yet")
    return b.finish(note)


def _handler(name: str):
    if name in ("topic_created", "topic_edited", "topic_revised", "topic_recovered",
                "topic_snapshot") or is_status_event(name):
        return _on_topic
    return {
        "topic_destroyed": _on_topic_destroyed, "post_created": _on_post_created,
        "post_edited": _on_post_edited, "post_liked": _on_post_liked,
        "accepted_solution": _on_accepted, "unaccepted_solution": _on_unaccepted,
        "announce_due": _on_announce_due, "likes_counted": _on_likes_counted,
        "topic_upvote": _on_votes, "topic_unvote": _on_votes,
        "assigned": _on_assigned, "unassigned": _on_unassigned,
    }.get(name)


def visibility_of(topic: Topic) -> str:
    if topic.is_private_message:
        return "private"
    return "public" if topic.visible else "unlisted"


def _seq(event: Event) -> int:
    try:
        seq = int(event.event_id or 0)
    except ValueError:
        return 0
    return seq if 0 <= seq < 2 ** 63 else 0   # a stored INTEGER; anything else is no order


def _on_topic(b: _Builder, staff: StaffPolicy) -> str:
    topic = b.event.topic
    assert topic is not None
    t, seq = b.ticket, _seq(b.event)
    first_time = not t.has_topic
    if not first_time and seq and seq < t.topic_seq:
        return "stale topic snapshot (an older event id than one applied); ignored"
    author = topic.author or Actor(None, None)
    b.set(has_topic=True, topic_seq=max(seq, t.topic_seq), title=topic.title or t.title,
          slug=topic.slug or t.slug, author=t.author or author.username,
          author_id=t.author_id or author.id, created_at=t.created_at or topic.created_at)
    if topic.deleted != t.deleted and b.event.name != "topic_created":
        b.set(deleted=topic.deleted)
    elif b.event.name == "topic_recovered":
        b.set(deleted=False)
    if first_time:  # the first snapshot fills the ticket in; only later ones are diffed
        b.set(category_id=topic.category_id, tags=topic.tags, closed=topic.closed,
              visibility=visibility_of(topic))
        if topic.accepted_post_id:
            b.set(stage="resolved", accepted_post_id=topic.accepted_post_id)
        if topic.vote_count is not None:
            b.set(votes=topic.vote_count)
        return ""
    _diff_topic(b, topic)
    if topic.vote_count is not None:   # a topic list or view carries the plugin's count
        _count_votes(b, topic.vote_count)
    return ""


def _diff_topic(b: _Builder, topic: Topic) -> None:
    t = b.ticket
    # the title was stored before this diff ran: compare with the ticket as it was
    edited = bool(topic.title) and b.before is not None and b.before.title != topic.title
    if topic.category_id != t.category_id and not topic.is_private_message:
        b.emit("category_changed", old=t.category_id, new=topic.category_id)
        b.set(category_id=topic.category_id)
    old_tags, new_tags = set(t.tags), set(topic.tags)   # sets: linear, not n × m
    for tag in topic.tags:
        if tag not in old_tags:
            b.emit("tag_added", tag=tag)
    for tag in t.tags:
        if tag not in new_tags:
            b.emit("tag_removed", tag=tag)
    visibility = visibility_of(topic)
    if visibility != t.visibility:
        b.emit("visibility_changed", old=t.visibility, new=visibility)
    b.set(tags=topic.tags, visibility=visibility)
    if topic.closed != t.closed:
        b.set(closed=topic.closed)
        b.emit("topic_closed" if topic.closed else "topic_reopened")
    if topic.accepted_post_id and topic.accepted_post_id != t.accepted_post_id:
        b.set(stage="resolved", accepted_post_id=topic.accepted_post_id,
              resolved_at=t.resolved_at or b.now)
        b.emit("solution_accepted")
    elif b.event.extra.get("has_accepted_answer") is False and t.accepted_post_id is not None:
        # reconcile saw the topic without an accepted answer: the solution was unaccepted
        b.set(stage="open", accepted_post_id=None, resolved_at=None)
        b.emit("solution_unaccepted", old=t.accepted_post_id)
    if b.event.name == "topic_edited" and (edited or b.changes):
        b.emit("topic_edited", old=b.before.title if b.before else None, new=topic.title)


def _on_topic_destroyed(b: _Builder, staff: StaffPolicy) -> str:
    if not b.ticket.has_topic and b.event.topic is not None:
        _on_topic(b, staff)   # first seen deleted: the payload still describes the topic
    b.set(deleted=True, has_topic=True)
    return ""


def _on_post_created(b: _Builder, staff: StaffPolicy) -> str:
    post = b.event.post
    assert post is not None
    _take_topic_fields_from_post(b, post)
    if post.post_number == 1:
        b.set(has_first_post=True, body=post.raw, author=post.author.username,
              author_id=post.author.id, created_at=b.ticket.created_at or post.created_at)
        return ""
    if post.post_type not in (1,):
        return f"post type {post.post_type} (not a regular reply): no status change"
    t = b.ticket
    if staff.bot and (post.author.username or "").lower() == staff.bot.lower():  # username_lower
        b.emit("post_created", post=post)
        return "syncd's own post: the ticket's status does not change"
    if staff.is_staff(post.author) and post.author.username != t.author:
        if t.stage == "open":
            b.set(stage="answered")
        if t.first_response_at is None:
            b.set(first_response_at=post.created_at or b.now)
    elif t.author and post.author.username == t.author and t.stage in ("answered", "resolved"):
        b.set(stage="open")
    b.emit("post_created", post=post)
    return ""


def _take_topic_fields_from_post(b: _Builder, post: Post) -> None:
    t = b.ticket
    if not t.has_topic:
        b.set(title=t.title or post.topic_title or "", slug=t.slug or post.topic_slug,
              category_id=t.category_id if t.category_id is not None else post.category_id)
        if post.topic_archetype == "private_message":
            b.set(visibility="private")


def _on_post_edited(b: _Builder, staff: StaffPolicy) -> str:
    post = b.event.post
    assert post is not None
    if post.post_number == 1 and (b.ticket.has_topic or b.ticket.has_first_post):
        b.set(body=post.raw, has_first_post=True)
        return "first post edited"
    return ""


def _on_post_liked(b: _Builder, staff: StaffPolicy) -> str:
    post, liker = b.event.post, b.event.actor
    assert post is not None
    _take_topic_fields_from_post(b, post)
    if post.post_number != 1:
        return "like on a reply: the ticket counts likes of the question only"
    if liker is None or liker.id in b.ticket.likers:
        return "this liker was already counted"
    b.set(likers=b.ticket.likers | {liker.id}, likes=b.ticket.likes + 1)
    b.emit("post_liked", post=post, old=b.ticket.likes - 1, new=b.ticket.likes)
    return ""


def _on_likes_counted(b: _Builder, staff: StaffPolicy) -> str:
    count = b.event.likes
    if count is None or count == b.ticket.likes:
        return "like count unchanged"
    likers = frozenset(b.event.likers) if b.event.likers is not None else b.ticket.likers
    old = b.ticket.likes
    b.set(likes=count, likers=likers)
    if count > old:
        b.emit("post_liked", old=old, new=count)
    return f"likes corrected from {old} to {count}"


def _solution_guard(b: _Builder) -> str | None:
    seq = _seq(b.event)
    if seq and b.event.source == "webhook" and seq < b.ticket.solution_seq:
        return "stale solution event (an older event id than one applied); ignored"
    b.set(solution_seq=max(seq, b.ticket.solution_seq))
    return None


def _on_accepted(b: _Builder, staff: StaffPolicy) -> str:
    post = b.event.post
    assert post is not None
    _take_topic_fields_from_post(b, post)
    stale = _solution_guard(b)
    if stale:
        return stale
    if b.ticket.accepted_post_id == post.id and b.ticket.stage == "resolved":
        return "this answer was already accepted"
    replaced = b.ticket.accepted_post_id
    b.set(stage="resolved", accepted_post_id=post.id, resolved_at=b.event.occurred_at or b.now)
    b.emit("solution_accepted", post=post, old=replaced, new=post.id)
    return f"replaces accepted post {replaced}" if replaced else ""


def _on_unaccepted(b: _Builder, staff: StaffPolicy) -> str:
    post = b.event.post
    assert post is not None
    stale = _solution_guard(b)
    if stale:
        return stale
    if b.ticket.accepted_post_id != post.id:
        return f"post {post.id} is not the accepted answer; nothing to unaccept"
    b.set(stage="open", accepted_post_id=None, resolved_at=None)
    b.emit("solution_unaccepted", post=post, old=post.id)
    return ""


def _on_announce_due(b: _Builder, staff: StaffPolicy) -> str:
    if b.before is None or b.ticket.announced:
        return "nothing to announce"
    b._announce()
    return "announced without its first post (it did not arrive in time)"


def _count_votes(b: _Builder, count: int) -> None:
    old = b.ticket.votes
    if count == old:
        return
    b.set(votes=count)
    b.emit("topic_voted" if count > old else "topic_unvoted", old=old, new=count)


def _on_votes(b: _Builder, staff: StaffPolicy) -> str:
    """The count Discourse sends is the count after the vote: it also corrects drift."""
    if b.before is None:
        return "a vote on a topic syncd has not seen"
    count = b.event.extra["vote_count"]
    if count == b.ticket.votes:
        return "vote count unchanged"
    _count_votes(b, count)
    return ""


def _on_assigned(b: _Builder, staff: StaffPolicy) -> str:
    if b.before is None:
        return "an assignment on a topic syncd has not seen"
    name, kind = b.event.extra["assignee"], b.event.extra["assignee_type"]
    old = b.ticket.assignee
    if old == name and b.ticket.assignee_type == kind:
        return f"already assigned to {name}"
    b.set(assignee=name, assignee_type=kind)
    b.emit("assigned", old=old, new=name)
    return ""


def _on_unassigned(b: _Builder, staff: StaffPolicy) -> str:
    if b.before is None:
        return "an unassignment on a topic syncd has not seen"
    old = b.ticket.assignee
    if old is None:
        return "the ticket was not assigned"
    b.set(assignee=None, assignee_type=None)
    b.emit("unassigned", old=old, new=None)
    return ""


def changes_named(changes: Iterable[Change], name: str) -> list[Change]:
    return [c for c in changes if c.name == name]
