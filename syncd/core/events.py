"""Discourse deliveries as frozen dataclasses.

``Event.from_delivery(headers, body)`` is the only place that knows Discourse's payload
shapes (WebHookTopicViewSerializer, WebHookPostSerializer, WebHookLikeSerializer and
discourse-solved's payload, see ``webhooks/README.md``). Everything after it reads these
dataclasses. Standard library only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Mapping   # not typing.Mapping: isinstance() is 5x faster
from typing import Any

from syncd.errors import PayloadError
from syncd.core import validate

# X-Discourse-Event names syncd reads, by the payload's root key (X-Discourse-Event-Type).
TOPIC_EVENTS = {
    "topic_created", "topic_edited", "topic_revised", "topic_destroyed", "topic_recovered",
}
TOPIC_STATUS_PREFIX, TOPIC_STATUS_SUFFIX = "topic_", "_status_updated"
POST_EVENTS = {"post_created", "post_edited", "post_destroyed", "post_recovered"}
LIKE_EVENTS = {"post_liked"}
SOLVED_EVENTS = {"accepted_solution", "unaccepted_solution"}
# Plugins: discourse-topic-voting (kind ``topic_voting``) and discourse-assign (``assign``).
VOTE_EVENTS = {"topic_upvote", "topic_unvote"}
ASSIGN_EVENTS = {"assigned", "unassigned"}
# Synthetic events syncd makes itself (reconcile, the first-post grace timer).
SYNTHETIC_EVENTS = {"topic_snapshot", "likes_counted", "announce_due"}

REQUIRED_HEADERS = ("X-Discourse-Event", "X-Discourse-Event-Type", "X-Discourse-Event-Id")


@dataclass(frozen=True)
class Actor:
    """Who did something. ``staff`` is None when the payload does not say."""

    id: int | None
    username: str | None
    name: str | None = None
    staff: bool | None = None
    trust_level: int | None = None
    primary_group: str | None = None

    @classmethod
    def from_basic_user(cls, data: Mapping[str, Any] | None) -> "Actor | None":
        if not isinstance(data, Mapping):
            return None
        return cls(id=_int(data.get("id")), username=data.get("username"), name=data.get("name"))


@dataclass(frozen=True)
class Topic:
    """A topic as WebHookTopicViewSerializer (or a topic list entry) shows it."""

    id: int
    title: str
    slug: str | None
    category_id: int | None
    tags: tuple[str, ...]
    closed: bool
    archived: bool
    visible: bool
    archetype: str
    created_at: str | None
    author: Actor | None
    like_count: int | None = None
    posts_count: int | None = None
    deleted: bool = False
    accepted_post_id: int | None = None
    external_id: str | None = None     # set by the API client that made it (intake-<id>)
    vote_count: int | None = None     # discourse-topic-voting; None where voting is off

    @property
    def is_private_message(self) -> bool:
        return self.archetype == "private_message"


@dataclass(frozen=True)
class Post:
    """A post as WebHookPostSerializer shows it (also inside likes and solutions)."""

    id: int
    topic_id: int
    post_number: int
    post_type: int
    raw: str
    created_at: str | None
    author: Actor
    topic_title: str | None
    topic_slug: str | None
    category_id: int | None
    topic_archetype: str | None
    deleted: bool = False
    category_slug: str | None = None


@dataclass(frozen=True)
class Event:
    """One thing that happened in Discourse, as syncd reads it.

    ``name`` is Discourse's event name (``topic_created``, ``post_liked``,
    ``topic_closed_status_updated``, ``accepted_solution`` ...) or a synthetic one.
    """

    name: str
    kind: str
    topic_id: int | None
    category_id: int | None
    occurred_at: str | None
    actor: Actor | None = None
    topic: Topic | None = None
    post: Post | None = None
    source: str = "webhook"
    event_id: str | None = None
    instance: str | None = None
    likes: int | None = None
    likers: tuple[int, ...] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_delivery(cls, headers: Mapping[str, str], body: bytes | str | Mapping[str, Any],
                      source: str = "webhook") -> "Event":
        """Parse one delivery. Raises ``PayloadError`` with what is wrong."""
        h = {k.lower(): v for k, v in headers.items()}
        name, kind = h.get("x-discourse-event"), h.get("x-discourse-event-type")
        if not name or not kind:
            raise PayloadError("missing X-Discourse-Event or X-Discourse-Event-Type header")
        data = parse_body(body) if not isinstance(body, Mapping) else body
        validate.check_event_kind(name, kind, kind_of(name))
        if kind not in data:
            raise PayloadError(f"body has no '{kind}' key (X-Discourse-Event-Type is {kind!r})")
        payload = data[kind]
        parser = _PARSERS.get(kind)
        if parser is None:
            return cls(name=name, kind=kind, topic_id=None, category_id=None, occurred_at=None,
                       source=source, event_id=h.get("x-discourse-event-id"),
                       instance=h.get("x-discourse-instance"))
        if not isinstance(payload, Mapping):
            raise PayloadError(f"'{kind}' must be an object")
        validate.check_payload(kind, payload)
        try:
            ev = parser(name, kind, payload)
        except (KeyError, TypeError, ValueError) as exc:
            raise PayloadError(f"{kind} payload is missing or has a bad field: {exc}") from exc
        return _replace(ev, source=source, event_id=h.get("x-discourse-event-id"),
                        instance=h.get("x-discourse-instance"))


def parse_body(body: bytes | str) -> dict[str, Any]:
    """The body is JSON whatever Content-Type the webhook is set to."""
    data = validate.load_json(body)
    if not isinstance(data, dict):
        raise PayloadError("body must be a JSON object")
    return data


def kind_of(name: str) -> str | None:
    """The payload kind an event name carries (None: a name syncd does not read)."""
    if name in TOPIC_EVENTS or is_status_event(name):
        return "topic"
    if name in POST_EVENTS:
        return "post"
    if name in LIKE_EVENTS:
        return "like"
    if name in SOLVED_EVENTS:
        return "solved"
    if name in VOTE_EVENTS:
        return "topic_voting"
    if name in ASSIGN_EVENTS:
        return "assign"
    return None


def is_status_event(name: str) -> bool:
    return name.startswith(TOPIC_STATUS_PREFIX) and name.endswith(TOPIC_STATUS_SUFFIX)


# Tags are bounded as Discourse bounds them (config/site_settings.yml, ``tags:`` section:
# ``max_tags_per_topic`` defaults to 5, ``max_tag_length`` to 20; DiscourseTagging cuts a
# name at max_tag_length). A site may raise both, so syncd allows well above the defaults:
# more tags than this are dropped, longer names cut, as Discourse itself would.
MAX_TAGS_PER_TOPIC = 30
MAX_TAG_LENGTH = 100


def parse_tags(raw: Any) -> tuple[str, ...]:
    """Tags in every format Discourse has sent (``TopicTagsMixin`` over the years): missing,
    plain names, ``{name, description}``, ``{id, name, slug}``, and 2026's ``{id, name,
    slug, original_name}`` where ``name`` is the localised display name and
    ``original_name`` (present only when they differ) the tag itself. Without duplicates,
    at most ``MAX_TAGS_PER_TOPIC`` of at most ``MAX_TAG_LENGTH`` characters. Linear in the
    number of tags."""
    if not raw or not isinstance(raw, (list, tuple)):
        return ()
    names: dict[str, None] = {}
    for tag in raw:
        if isinstance(tag, Mapping):
            tag = tag.get("original_name") or tag.get("name") or tag.get("slug")
        if isinstance(tag, str) and tag:
            names.setdefault(tag[:MAX_TAG_LENGTH], None)
            if len(names) >= MAX_TAGS_PER_TOPIC:
                break
    return tuple(names)


def parse_topic(p: Mapping[str, Any]) -> Topic:
    accepted = p.get("accepted_answer")
    return Topic(
        id=int(p["id"]),
        title=str(p.get("title") or p.get("fancy_title") or ""),
        slug=p.get("slug"),
        category_id=_int(p.get("category_id")),
        tags=parse_tags(p.get("tags")),
        closed=bool(p.get("closed")),
        archived=bool(p.get("archived")),
        visible=p.get("visible", True) is not False,
        archetype=p.get("archetype") or "regular",
        created_at=p.get("created_at"),
        author=Actor.from_basic_user(p.get("created_by")) or Actor(_int(p.get("user_id")), None),
        like_count=_int(p.get("like_count")),
        posts_count=_int(p.get("posts_count")),
        deleted=p.get("deleted_at") is not None,
        accepted_post_id=_int(accepted.get("post_id")) if isinstance(accepted, Mapping) else None,
        external_id=p.get("external_id") if isinstance(p.get("external_id"), str) else None,
        vote_count=_int(p.get("vote_count")),
    )


def parse_post(p: Mapping[str, Any]) -> Post:
    staff = p.get("staff")
    if staff is None and ("admin" in p or "moderator" in p):
        staff = bool(p.get("admin") or p.get("moderator"))
    author = Actor(id=_int(p.get("user_id")), username=p.get("username"), name=p.get("name"),
                   staff=None if staff is None else bool(staff),
                   trust_level=_int(p.get("trust_level")),
                   primary_group=p.get("primary_group_name"))
    return Post(
        id=int(p["id"]),
        topic_id=int(p["topic_id"]),
        post_number=int(p.get("post_number") or 0),
        post_type=int(p.get("post_type") or 1),
        raw=str(p.get("raw") or ""),
        created_at=p.get("created_at"),
        author=author,
        topic_title=p.get("topic_title"),
        topic_slug=p.get("topic_slug"),
        category_id=_int(p.get("category_id")),
        topic_archetype=p.get("topic_archetype"),
        deleted=p.get("deleted_at") is not None or bool(p.get("user_deleted")),
        category_slug=p.get("category_slug"),
    )


def _topic_event(name: str, kind: str, p: Mapping[str, Any]) -> Event:
    topic = parse_topic(p)
    # Edits and status changes: the last poster is the best the payload says of who acted
    # (closing or unlisting adds a small-action post by the moderator).
    actor = topic.author if name == "topic_created" else \
        (Actor.from_basic_user(p.get("last_poster")) or topic.author)
    return Event(name=name, kind=kind, topic_id=topic.id, category_id=topic.category_id,
                 occurred_at=p.get("last_posted_at") or topic.created_at, actor=actor, topic=topic)


def _post_event(name: str, kind: str, p: Mapping[str, Any]) -> Event:
    post = parse_post(p)
    when = p.get("updated_at") if name != "post_created" else post.created_at
    return Event(name=name, kind=kind, topic_id=post.topic_id, category_id=post.category_id,
                 occurred_at=when or post.created_at, actor=post.author, post=post)


def _like_event(name: str, kind: str, p: Mapping[str, Any]) -> Event:
    post = parse_post(p["post"])
    liker = Actor.from_basic_user(p.get("user"))
    if liker is None or liker.id is None:
        raise ValueError("like.user.id")
    return Event(name=name, kind=kind, topic_id=post.topic_id, category_id=post.category_id,
                 occurred_at=None, actor=liker, post=post)


def _vote_event(name: str, kind: str, p: Mapping[str, Any]) -> Event:
    """discourse-topic-voting's ``{topic_id, topic_slug, voter_id, vote_count}``
    (``app/controllers/discourse_topic_voting/votes_controller.rb``): the count after the vote."""
    count = _int(p["vote_count"])
    if count is None or count < 0:
        raise ValueError("topic_voting.vote_count")
    return Event(name=name, kind=kind, topic_id=int(p["topic_id"]), category_id=None,
                 occurred_at=None, actor=Actor(_int(p.get("voter_id")), None),
                 extra={"vote_count": count})


def _assign_event(name: str, kind: str, p: Mapping[str, Any]) -> Event:
    """discourse-assign's payload (``lib/assigner.rb``): who acted (``assigned_by_*`` or
    ``unassigned_by_*``) and the user (``*_to_username``) or group (``*_to_group_name``)."""
    side = "unassigned" if name == "unassigned" or p.get("type") == "unassigned" else "assigned"
    user, group = p.get(f"{side}_to_username"), p.get(f"{side}_to_group_name")
    if not user and not group:
        raise ValueError(f"assign.{side}_to_username or {side}_to_group_name")
    by = Actor(_int(p.get(f"{side}_by_id")), p.get(f"{side}_by_username"))
    return Event(name=side, kind=kind, topic_id=int(p["topic_id"]), category_id=None,
                 occurred_at=None, actor=by,
                 extra={"assignee": str(user or group), "assignee_type": "user" if user else "group"})


_PARSERS = {
    "topic": _topic_event,
    "post": _post_event,
    "like": _like_event,
    "solved": _post_event,
    "topic_voting": _vote_event,
    "assign": _assign_event,
}


def _replace(ev: Event, **changes: Any) -> Event:
    """``replace`` for an Event its parser has just made and nobody else holds: set the
    fields in place (``dataclasses.replace`` re-runs ``__init__`` over every field)."""
    for name, value in changes.items():
        object.__setattr__(ev, name, value)
    return ev


def _int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    return int(value)
