"""Parsing deliveries into events: every recorded sample, both tag formats, bad input."""
from __future__ import annotations

import json

import pytest

from syncd.errors import PayloadError
from syncd.core.events import Event, parse_tags

from conftest import WEBHOOKS, sample

SAMPLES = sorted(p.stem for p in WEBHOOKS.glob("*.json"))


@pytest.mark.parametrize("name", SAMPLES)
def test_every_sample_parses(name):
    """Each recorded delivery parses into an Event naming its topic (ping names none)."""
    headers, raw = sample(name)
    ev = Event.from_delivery(headers, raw)
    assert ev.name == headers["X-Discourse-Event"]
    assert ev.instance == "https://forum.example.com"
    if name == "ping":
        assert ev.topic_id is None
    else:
        assert ev.topic_id == 1234


def test_topic_fields():
    """topic_created gives title, category, tags, author and visibility."""
    ev = Event.from_delivery(*sample("topic_created"))
    t = ev.topic
    assert (t.title, t.category_id, t.tags, t.author.username) == \
        ("Printer jams on duplex jobs", 5, ("printer",), "alice")
    assert t.visible and not t.closed and not t.is_private_message


def test_like_names_the_liker_and_the_post():
    """post_liked: the actor is the liker, the post is the liked one."""
    ev = Event.from_delivery(*sample("post_liked"))
    assert ev.actor.username == "carol" and ev.post.post_number == 1


def test_solution_carries_the_answer_post():
    """accepted_solution carries the answer post and its author's staff flag."""
    ev = Event.from_delivery(*sample("accepted_solution"))
    assert ev.post.id == 5678 and ev.post.author.staff is True


@pytest.mark.parametrize("raw, expected", [
    ([{"id": 12, "name": "printer", "slug": "printer"}], ("printer",)),
    (["printer", "ticket-open"], ("printer", "ticket-open")),
    (None, ()),
    ([{"id": 1, "slug": "only-slug"}], ("only-slug",)),
])
def test_tags_in_both_formats(raw, expected):
    """Tags as {id,name,slug} objects (current) or plain names (older sites)."""
    assert parse_tags(raw) == expected


def test_old_style_tags_in_a_delivery():
    """A topic payload with plain-name tags parses the same."""
    headers, raw = sample("topic_created")
    body = json.loads(raw)
    body["topic"]["tags"] = ["printer"]
    assert Event.from_delivery(headers, json.dumps(body)).topic.tags == ("printer",)


@pytest.mark.parametrize("headers, body, why", [
    ({"X-Discourse-Event-Type": "topic"}, b"{}", "missing"),
    ({"X-Discourse-Event": "topic_created", "X-Discourse-Event-Type": "topic"}, b"not json",
     "not JSON"),
    ({"X-Discourse-Event": "topic_created", "X-Discourse-Event-Type": "topic"}, b"[1]",
     "JSON object"),
    ({"X-Discourse-Event": "topic_created", "X-Discourse-Event-Type": "topic"}, b'{"post": {}}',
     "no 'topic' key"),
    ({"X-Discourse-Event": "topic_created", "X-Discourse-Event-Type": "topic"},
     b'{"topic": {"title": "no id"}}', "missing or has a bad field"),
])
def test_bad_deliveries_say_what_is_wrong(headers, body, why):
    """Malformed deliveries raise PayloadError with the reason."""
    with pytest.raises(PayloadError, match=why):
        Event.from_delivery(headers, body)


def test_unknown_event_types_parse_without_a_topic():
    """An event type syncd does not read parses into an Event with no topic."""
    ev = Event.from_delivery({"X-Discourse-Event": "user_created",
                              "X-Discourse-Event-Type": "user"}, b'{"user": {"id": 1}}')
    assert ev.topic_id is None and ev.name == "user_created"
