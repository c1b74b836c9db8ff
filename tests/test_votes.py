"""discourse-topic-voting: votes count on the ticket, as plus-ones with likes, for rules too.

Payloads follow discourse/discourse-topic-voting ``app/controllers/discourse_topic_voting/
votes_controller.rb`` (``{topic_id, topic_slug, voter_id, vote_count}``, the count after the
vote) and ``plugin.rb`` (``vote_count`` on topic list items only where voting is on).
"""
from __future__ import annotations

import json

from syncd.core import drift
from syncd.core.events import Event
from syncd.core.tickets import Ticket, apply
from syncd.inbox.http import Receiver, create_app
from syncd.processor import Processor
from syncd.rules.reloader import RulesHolder
from syncd.service import prepare
from syncd.store import deliveries
from syncd.store import tickets as ticketstore
from syncd.store.db import transaction

from conftest import ROOT, make_settings, sample, signed_sample

NOW = "2026-03-07T10:00:00.000Z"


def vote(count: int, name: str = "topic_upvote", topic_id: int = 1234) -> Event:
    headers, raw = sample(name)
    body = json.loads(raw)
    body["topic_voting"].update(vote_count=count, topic_id=topic_id)
    return Event.from_delivery(headers, body)


def test_a_vote_delivery_reads_as_the_plugin_sends_it():
    """topic_upvote names the topic, the voter's id and the count after the vote."""
    headers, raw = sample("topic_upvote")
    ev = Event.from_delivery(headers, raw)
    assert (ev.name, ev.kind, ev.topic_id) == ("topic_upvote", "topic_voting", 1234)
    assert ev.actor.id == 63 and ev.extra["vote_count"] == 1


def test_votes_follow_the_count_discourse_sends_and_derive_events():
    """A vote sets ``votes`` to Discourse's count (drift corrected) and says which way it went."""
    t = Ticket(1234, has_topic=True, has_first_post=True, announced=True, likes=2)
    up = apply(t, vote(3), NOW)
    assert up.ticket.votes == 3 and up.ticket.plus_ones == 5
    assert [(c.name, c.old, c.new) for c in up.changes] == [("topic_voted", 0, 3)]
    down = apply(up.ticket, vote(2, "topic_unvote"), NOW)
    assert down.ticket.votes == 2
    assert [(c.name, c.old, c.new) for c in down.changes] == [("topic_unvoted", 3, 2)]
    again = apply(down.ticket, vote(2), NOW)
    assert again.changes == () and again.note == "vote count unchanged"


def test_a_vote_on_a_topic_syncd_never_saw_makes_no_ticket():
    """Votes alone do not make a ticket: the topic's own delivery (or reconcile) does."""
    assert apply(None, vote(1), NOW).ticket is None


def test_the_receiver_accepts_votes_on_tickets_and_explains_others(tmp_path):
    """A vote on a known ticket is stored (202); on an unknown topic it is ignored with why."""
    settings = make_settings(tmp_path)
    store, secret = prepare(settings)
    client = create_app(Receiver(settings, store, secret)).test_client()
    headers, raw = signed_sample("topic_upvote")
    answer = client.post("/webhooks/discourse", data=raw, headers=headers)
    assert answer.status_code == 200
    assert answer.get_json() == {"status": "ignored",
                                 "reason": "topic 1234 is not a ticket syncd knows"}
    for name in ("topic_created", "post_created"):
        h, r = signed_sample(name)
        assert client.post("/webhooks/discourse", data=r, headers=h).status_code == 202
    h, r = signed_sample("topic_upvote", event_id="99001")
    assert client.post("/webhooks/discourse", data=r, headers=h).status_code == 202


def test_five_plus_ones_from_likes_and_votes_make_the_ticket_high(tmp_path):
    """The default rule counts likes and votes together: 3 likes + 2 votes → high priority."""
    settings = make_settings(tmp_path)
    store, _ = prepare(settings)
    holder = RulesHolder(str(ROOT / "rules" / "70-assign-and-votes.yaml"), ["faculty"],
                         {"support": 5, "academic": 11})
    processor = Processor(settings, store, holder)
    bodies = [("topic_created", None), ("post_created", None)]
    for liker in (61, 62, 64):
        like = json.loads(sample("post_liked")[1])
        like["like"]["user"]["id"] = liker
        bodies.append(("post_liked", like))
    up = json.loads(sample("topic_upvote")[1])
    up["topic_voting"]["vote_count"] = 2
    bodies.append(("topic_upvote", up))
    with transaction(store.db()) as conn:
        for n, (name, body) in enumerate(bodies):
            h, r = signed_sample(name, body=body, event_id=str(91000 + n))
            deliveries.store(conn, h, r, 1234)
    for _ in range(20):
        if not processor.run_once():
            break
    t = ticketstore.load(store.db().conn, 1234)
    assert (t.likes, t.votes, t.plus_ones, t.priority) == (3, 2, 5, "high")
    assert "five-plus-ones-make-it-high" in t.fired_rules


def test_reconcile_reads_vote_counts_from_topic_lists():
    """A list entry's vote_count differing from the ticket's makes a snapshot that corrects it."""
    entry = {"id": 1234, "title": "Printer jams", "category_id": 5, "tags": [],
             "closed": False, "visible": True, "archetype": "regular", "posts_count": 1,
             "like_count": 0, "bumped_at": NOW, "vote_count": 4}
    item = drift.listed(entry)
    t = Ticket(1234, title="Printer jams", category_id=5, has_topic=True, has_first_post=True,
               announced=True, votes=1)
    assert drift.plan(item, t, None).snapshot
    after = apply(t, drift.snapshot_event(item, t, None), NOW)
    assert after.ticket.votes == 4
    assert [c.name for c in after.changes] == ["topic_voted"]
    no_voting = drift.listed({k: v for k, v in entry.items() if k != "vote_count"})
    assert not drift.plan(no_voting, t, None).snapshot   # voting off there: nothing to compare
