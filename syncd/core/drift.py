"""What reconcile concludes from one topic-list entry and the stored ticket. Pure.

Discourse's category lists (``TopicListItemSerializer``) show, per topic: title, category,
tags, closed, archived, visible, bumped_at, posts_count, like_count (every post's likes),
``op_like_count`` only when the first post was preloaded (not in a plain category list),
discourse-solved's ``has_accepted_answer`` and discourse-topic-voting's ``vote_count`` (only in
categories where voting is on). ``plan`` compares an entry with the ticket
and with the fingerprint reconcile remembered last time, and says what to fetch and feed;
the ``*_event`` functions build the synthetic events (source ``reconcile``) that go
through the same state machine and rules as webhooks. Standard library only.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping

from syncd.core.events import Actor, Event, Topic, parse_post, parse_topic
from syncd.core.tickets import Ticket, visibility_of

SOURCE = "reconcile"


@dataclass(frozen=True)
class Listed:
    """One topic as a category list shows it."""

    topic: Topic
    bumped_at: str | None
    pinned: bool
    like_count: int
    posts_count: int
    op_like_count: int | None
    has_accepted_answer: bool | None

    @property
    def fingerprint(self) -> tuple[str | None, int, int]:
        return (self.bumped_at, self.like_count, self.posts_count)


@dataclass(frozen=True)
class Plan:
    """What to do about one listed topic. ``quiet`` plans cost nothing."""

    topic_id: int
    new: bool = False            # never seen: fetch the topic view, feed snapshot + post #1
    snapshot: bool = False       # topic fields differ: feed a topic_snapshot
    need_view: bool = False      # the topic view is needed (new, or the accepted post's id)
    count_likes: bool = False    # fetch the first post's likers
    likes: int | None = None     # the first post's exact like count, known without a fetch

    @property
    def quiet(self) -> bool:
        return not (self.new or self.snapshot or self.need_view or self.count_likes
                    or self.likes is not None)


@dataclass(frozen=True)
class Page:
    """One page of a topic list: its topics, and whether Discourse offers another."""

    topics: tuple[Listed, ...]
    more: bool


def read_page(data: Mapping[str, Any]) -> Page:
    """A ``/c/{slug}/{id}/l/latest.json`` (or ``/latest.json``) answer."""
    users = {u.get("id"): u for u in data.get("users") or () if isinstance(u, Mapping)}
    tl = data.get("topic_list") or {}
    items = tuple(listed(e, users) for e in tl.get("topics") or () if isinstance(e, Mapping))
    return Page(items, bool(tl.get("more_topics_url")))


def listed(entry: Mapping[str, Any], users: Mapping[Any, Mapping] | None = None) -> Listed:
    """One ``TopicListItemSerializer`` entry; the author is ``posters[0]``."""
    topic = parse_topic(entry)
    author = _original_poster(entry, users or {})
    if author is not None:
        topic = replace(topic, author=author)
    solved = entry.get("has_accepted_answer")
    return Listed(
        topic=topic, bumped_at=entry.get("bumped_at"), pinned=bool(entry.get("pinned")),
        like_count=int(entry.get("like_count") or 0),
        posts_count=int(entry.get("posts_count") or 0),
        op_like_count=_int(entry.get("op_like_count")),
        has_accepted_answer=None if solved is None else bool(solved))


def _original_poster(entry: Mapping[str, Any], users: Mapping[Any, Mapping]) -> Actor | None:
    """The creator is ``posters[0]`` (``TopicPostersSummary#user_ids`` puts ``topic.user_id``
    first and only ever moves the *last* poster). ``description`` is translated text
    ("Original Poster" in English only), so it is never read."""
    posters = [p for p in entry.get("posters") or () if isinstance(p, Mapping)]
    if not posters or posters[0].get("user_id") is None:
        return None
    first = posters[0]
    user = users.get(first.get("user_id")) or {}
    return Actor(_int(first.get("user_id")), user.get("username"), user.get("name"))


def topic_differs(item: Listed, ticket: Ticket) -> bool:
    """Would a snapshot of this entry change the ticket (beyond likes)?"""
    t = item.topic
    return (t.title != ticket.title or t.category_id != ticket.category_id
            or set(t.tags) != set(ticket.tags) or t.closed != ticket.closed
            or ticket.deleted or visibility_of(t) != ticket.visibility
            or _solved_differs(item, ticket)
            or (t.vote_count is not None and t.vote_count != ticket.votes))


def _solved_differs(item: Listed, ticket: Ticket) -> bool:
    if item.has_accepted_answer is None:   # discourse-solved is off: nothing to compare
        return False
    return item.has_accepted_answer != (ticket.accepted_post_id is not None)


def plan(item: Listed, ticket: Ticket | None, seen: tuple | None) -> Plan:
    """Compare a listed topic with its ticket and the fingerprint seen last time."""
    tid = item.topic.id
    if ticket is None:
        return Plan(tid, new=True, snapshot=True, need_view=True,
                    count_likes=item.like_count > 0)
    snapshot = topic_differs(item, ticket)
    need_view = bool(item.has_accepted_answer) and ticket.accepted_post_id is None
    count, exact = _likes_plan(item, ticket, seen)
    return Plan(tid, snapshot=snapshot, need_view=need_view, count_likes=count, likes=exact)


def _likes_plan(item: Listed, ticket: Ticket, seen: tuple | None) -> tuple[bool, int | None]:
    """(fetch the likers?, the exact count when the list alone tells it)."""
    if item.like_count == 0:            # no likes anywhere in the topic
        return False, (0 if ticket.likes else None)
    if item.op_like_count is not None:
        return item.op_like_count != ticket.likes, None
    if ticket.likes > item.like_count:  # more than the whole topic has: some were undone
        return True, None
    if seen is not None:
        return int(seen[1]) != item.like_count, None
    # First look at a ticket webhooks made: trust it when it accounts for every like.
    return ticket.likes != item.like_count, None


def snapshot_event(item: Listed, ticket: Ticket | None, accepted_post_id: int | None,
                   at: str | None = None) -> Event:
    """A ``topic_snapshot`` carrying the listed state; solved state as far as it is known."""
    topic = item.topic
    if item.has_accepted_answer:
        known = accepted_post_id or (ticket.accepted_post_id if ticket else None)
        topic = replace(topic, accepted_post_id=known)
    extra = {} if item.has_accepted_answer is None else \
        {"has_accepted_answer": item.has_accepted_answer}
    return Event(name="topic_snapshot", kind="topic", topic_id=topic.id,
                 category_id=topic.category_id, occurred_at=at or item.bumped_at,
                 actor=None, topic=topic, source=SOURCE, extra=extra)


def first_post_event(view: Mapping[str, Any]) -> Event | None:
    """``post_created`` for post #1 from a ``/t/{id}.json?include_raw=1`` answer."""
    post = _post_numbered(view, 1)
    if post is None:
        return None
    fields = {"topic_id": view.get("id"), "topic_title": view.get("title"),
              "topic_slug": view.get("slug"), "category_id": view.get("category_id"),
              "topic_archetype": view.get("archetype"), **post}
    p = parse_post(fields)
    return Event(name="post_created", kind="post", topic_id=p.topic_id,
                 category_id=p.category_id, occurred_at=p.created_at, actor=p.author, post=p,
                 source=SOURCE)


def likes_event(topic_id: int, category_id: int | None, count: int,
                likers: tuple[int, ...] | None, at: str | None = None) -> Event:
    """``likes_counted``: the first post's exact like count (and who, when fetched)."""
    return Event(name="likes_counted", kind="likes", topic_id=topic_id, category_id=category_id,
                 occurred_at=at, source=SOURCE, likes=count, likers=likers)


def first_post_of(view: Mapping[str, Any]) -> tuple[int | None, int]:
    """(post id, like count) of post #1 in a topic view (``actions_summary`` id 2)."""
    post = _post_numbered(view, 1)
    if post is None:
        return None, 0
    count = post.get("like_count")
    if count is None:
        count = next((a.get("count", 0) for a in post.get("actions_summary") or ()
                      if a.get("id") == 2), 0)
    return _int(post.get("id")), int(count or 0)


def accepted_in_view(view: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """(post id, post number) of the accepted answer, as far as the view shows them."""
    for post in _posts(view):
        if post.get("accepted_answer") is True:
            return _int(post.get("id")), _int(post.get("post_number"))
    info = view.get("accepted_answer")
    number = _int(info.get("post_number")) if isinstance(info, Mapping) else None
    return None, number


def liker_ids(data: Mapping[str, Any]) -> tuple[tuple[int, ...], int]:
    """(liker ids, total) from ``/post_action_users.json``."""
    users = data.get("post_action_users") or ()
    ids = tuple(int(u["id"]) for u in users if isinstance(u, Mapping) and u.get("id") is not None)
    total = data.get("total_rows_post_action_users")
    return ids, int(total) if total is not None else len(ids)


def _posts(view: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [p for p in (view.get("post_stream") or {}).get("posts") or ()
            if isinstance(p, Mapping)]


def _post_numbered(view: Mapping[str, Any], number: int) -> Mapping[str, Any] | None:
    return next((p for p in _posts(view) if p.get("post_number") == number), None)


def _int(value: Any) -> int | None:
    if value is None or value == "" or value is False:
        return None
    return int(value)
