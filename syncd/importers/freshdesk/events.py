"""``--run-rules``: an imported topic as the events Discourse would have sent for it.

A ``topic_created`` and the first post's ``post_created`` (source ``import``), so the
processor makes and announces the ticket and the rules run as for a new topic.
"""
from __future__ import annotations

from syncd.core.events import Actor, Event, Post, Topic
from syncd.core.tickets import Ticket


def import_events(ticket: Ticket) -> list[Event]:
    actor = Actor(None, ticket.author)
    topic = Topic(id=ticket.id, title=ticket.title, slug=None, category_id=ticket.category_id,
                  tags=ticket.tags, closed=False, archived=False, visible=True,
                  archetype="regular", created_at=ticket.created_at, author=actor)
    post = Post(id=0, topic_id=ticket.id, post_number=1, post_type=1, raw=ticket.body,
                created_at=ticket.created_at, author=actor, topic_title=ticket.title,
                topic_slug=None, category_id=ticket.category_id, topic_archetype="regular")
    common = {"topic_id": ticket.id, "category_id": ticket.category_id,
              "occurred_at": ticket.created_at, "actor": actor, "source": "import"}
    return [Event(name="topic_created", kind="topic", topic=topic, **common),
            Event(name="post_created", kind="post", post=post, **common)]
