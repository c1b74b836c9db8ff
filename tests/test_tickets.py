"""The ticket state machine: lifecycle, merging, out-of-order and duplicate deliveries."""
from __future__ import annotations

from dataclasses import replace

import pytest

from syncd.core.events import Actor, Event, Post, Topic
from syncd.core.tickets import StaffPolicy, Ticket, apply

NOW = "2026-03-02T12:00:00.000000Z"
ALICE = Actor(42, "alice", staff=False, trust_level=1)
BOB = Actor(57, "bob", staff=True, trust_level=3)
CAROL = Actor(61, "carol", staff=False)
DAVE = Actor(70, "dave", staff=None, primary_group="support-team")
STAFF = StaffPolicy(frozenset({"support-team"}))


def topic(event_id=1, name="topic_created", **kw) -> Event:
    fields = dict(id=1234, title="Printer jams", slug="printer-jams", category_id=5,
                  tags=("printer",), closed=False, archived=False, visible=True,
                  archetype="regular", created_at="2026-03-02T09:14:07.512Z", author=ALICE)
    fields.update(kw)
    t = Topic(**fields)
    return Event(name=name, kind="topic", topic_id=t.id, category_id=t.category_id,
                 occurred_at="2026-03-02T09:14:07.512Z", actor=ALICE, topic=t,
                 event_id=str(event_id))


def post(number=1, author=ALICE, name="post_created", post_id=None, event_id=2, **kw) -> Event:
    p = Post(id=post_id or 5000 + number, topic_id=1234, post_number=number, post_type=1,
             raw=kw.pop("raw", f"post {number}"), created_at="2026-03-02T10:00:00.000Z",
             author=author, topic_title="Printer jams", topic_slug="printer-jams",
             category_id=5, topic_archetype="regular", **kw)
    actor = author if name != "post_liked" else CAROL
    return Event(name=name, kind="post", topic_id=1234, category_id=5,
                 occurred_at=p.created_at, actor=actor, post=p, event_id=str(event_id))


def like(liker=CAROL, number=1, event_id=3) -> Event:
    return replace(post(number, name="post_liked", event_id=event_id), actor=liker)


def solved(post_id=5002, name="accepted_solution", event_id=4) -> Event:
    return replace(post(2, BOB, name=name, post_id=post_id, event_id=event_id))


def run(events, ticket=None):
    """Apply events in order; return the final ticket and every change name."""
    names = []
    for ev in events:
        tr = apply(ticket, ev, NOW, STAFF)
        ticket = tr.ticket
        names += [c.name for c in tr.changes]
    return ticket, names


def test_topic_then_first_post_announces_once():
    """topic_created then post #1 makes one ticket, announced once, with the body."""
    t, names = run([topic(), post(1, raw="It jams")])
    assert t.body == "It jams" and t.announced and names.count("topic_created") == 1


def test_first_post_then_topic_announces_once():
    """post #1 before topic_created: still one ticket, announced once, body kept."""
    t, names = run([post(1, raw="It jams"), topic()])
    assert t.body == "It jams" and t.title == "Printer jams" and t.tags == ("printer",)
    assert names == ["topic_created"]


def test_topic_alone_waits_for_first_post():
    """A topic without its first post is a ticket but not yet announced."""
    t, names = run([topic()])
    assert t is not None and not t.announced and names == []


def test_announce_due_announces_without_body():
    """The grace timer announces a ticket whose first post never came."""
    t, _ = run([topic()])
    timer = Event(name="announce_due", kind="timer", topic_id=1234, category_id=None,
                  occurred_at=None, source="timer")
    t2, names = run([timer], t)
    assert names == ["topic_created"] and t2.announced


@pytest.mark.parametrize("events, status, first_response", [
    ([topic(), post(1), post(2, BOB)], "answered", True),
    ([topic(), post(1), post(2, DAVE)], "answered", True),        # staff by group
    ([topic(), post(1), post(2, CAROL)], "open", False),          # another student
    ([topic(), post(1), post(2, BOB), post(3, ALICE, event_id=5)], "open", True),
    ([topic(), post(1), solved()], "resolved", False),
    ([topic(), post(1), solved(), post(3, ALICE, event_id=5)], "open", False),
    ([topic(), post(1), solved(), solved(name="unaccepted_solution", event_id=6)], "open", False),
    ([topic(), post(1), topic(5, "topic_closed_status_updated", closed=True)], "closed", False),
    ([topic(), post(1), topic(5, "topic_destroyed", deleted=True)], "deleted", False),
])
def test_status_lifecycle(events, status, first_response):
    """Status follows the contract's lifecycle."""
    t, _ = run(events)
    assert t.status == status
    assert (t.first_response_at is not None) == first_response


def test_reopen_returns_to_conversation_status():
    """Closing and reopening a topic restores its conversation status."""
    t, names = run([topic(), post(1), post(2, BOB),
                    topic(5, "topic_closed_status_updated", closed=True),
                    topic(6, "topic_closed_status_updated", closed=False)])
    assert t.status == "answered"
    assert "topic_closed" in names and "topic_reopened" in names


def test_likes_count_distinct_likers_of_first_post():
    """Likes count distinct likers of post #1; a like of a reply does not count."""
    t, names = run([topic(), post(1), like(CAROL), like(CAROL, event_id=9),
                    like(BOB, event_id=10), like(DAVE, number=2, event_id=11)])
    assert t.likes == 2 and names.count("post_liked") == 2


def test_accepting_another_answer_replaces_the_first():
    """A second accepted_solution replaces the first without an unaccept."""
    t, _ = run([topic(), post(1), solved(5002, event_id=4), solved(5003, event_id=5)])
    assert t.accepted_post_id == 5003 and t.status == "resolved"


def test_late_unaccept_of_replaced_answer_is_ignored():
    """Unaccepting an answer that is no longer the accepted one changes nothing."""
    t, _ = run([topic(), post(1), solved(5002, event_id=4), solved(5003, event_id=5),
                solved(5002, "unaccepted_solution", event_id=6)])
    assert t.accepted_post_id == 5003 and t.status == "resolved"


def test_stale_unaccept_arriving_after_a_newer_accept_is_ignored():
    """Out of order: an unaccept with an older event id than the accept is stale."""
    t, _ = run([topic(), post(1), solved(5002, event_id=8),
                solved(5002, "unaccepted_solution", event_id=7)])
    assert t.status == "resolved"


def test_topic_edited_derives_tag_and_category_changes():
    """topic_edited compares with the stored ticket: tag_added, tag_removed, category_changed."""
    t, names = run([topic(), post(1),
                    topic(7, "topic_edited", category_id=7, tags=("hardware", "urgent"))])
    assert t.category_id == 7 and t.tags == ("hardware", "urgent")
    assert {"category_changed", "tag_added", "tag_removed", "topic_edited"} <= set(names)
    assert names.count("tag_added") == 2


def test_stale_topic_snapshot_is_ignored():
    """A topic_edited with an older event id than the last applied one changes nothing."""
    t, _ = run([topic(1), post(1), topic(9, "topic_edited", tags=("urgent",)),
                topic(8, "topic_edited", tags=())])
    assert t.tags == ("urgent",)


@pytest.mark.parametrize("dupe", [topic(), post(1), like(), solved()])
def test_duplicates_are_idempotent(dupe):
    """Applying the same event twice leaves the ticket as applying it once."""
    once, _ = run([topic(), post(1), dupe])
    twice, names = run([dupe], once)
    assert replace(twice, updated_at=None) == replace(once, updated_at=None)
    assert "post_liked" not in names and "solution_accepted" not in names


def test_unlisted_and_private_visibility():
    """visible=false is unlisted; a private message is private."""
    t, _ = run([topic(visible=False), post(1)])
    assert t.visibility == "unlisted"
    t2, _ = run([topic(6, "topic_visible_status_updated", visible=True)], t)
    assert t2.visibility == "public"
    t3, _ = run([topic(7, "topic_edited", archetype="private_message", category_id=None)], t2)
    assert t3.visibility == "private" and t3.category_id == 5


def test_events_without_topic_make_no_ticket():
    """A like of a reply on an unknown topic makes no ticket."""
    tr = apply(None, Event("user_created", "user", None, None, None), NOW)
    assert tr.ticket is None


def test_ticket_round_trips_through_dict():
    """Ticket.from_dict(as_dict()) keeps the fields the CLI prints."""
    t, _ = run([topic(), post(1), post(2, BOB)])
    back = Ticket.from_dict(t.as_dict())
    assert back.status == t.status and back.tags == t.tags and back.body == t.body


def test_reply_before_topic_is_kept():
    """A staff reply delivered before topic_created still answers the ticket."""
    t, names = run([post(2, BOB, event_id=5), topic(), post(1)])
    assert t.status == "answered" and t.first_response_at is not None
    assert names.count("topic_created") == 1


def test_like_before_topic_is_counted():
    """A like delivered before the topic and its first post is counted once."""
    t, names = run([like(CAROL), topic(), post(1), like(CAROL, event_id=9)])
    assert t.likes == 1 and t.announced


def test_edit_of_an_unknown_topics_reply_makes_no_ticket():
    """post_edited of a topic never seen (a reply) makes no ticket."""
    tr = apply(None, post(3, ALICE, name="post_edited"), NOW, STAFF)
    assert tr.ticket is None


def test_a_title_only_edit_is_a_topic_edited_change():
    """Retitling alone (no tag or category change) yields topic_edited with old and new."""
    t, _ = run([topic(), post(1)])
    t2, names = run([topic(9, "topic_edited", title="URGENT: printer on fire")], t)
    assert names == ["topic_edited"] and t2.title == "URGENT: printer on fire"


def test_syncds_own_reply_does_not_answer_the_ticket():
    """The bot's acknowledgement is a post_created but leaves the ticket open."""
    bot = Actor(-1, "system", staff=True)
    policy = StaffPolicy(frozenset({"support-team"}), bot="system")
    t = None
    for ev in [topic(), post(1), post(2, bot, event_id=5)]:
        tr = apply(t, ev, NOW, policy)
        t = tr.ticket
    assert t.status == "open" and t.first_response_at is None
