"""Issue 18, finding 4: tags are bounded as Discourse bounds them, and diffed in linear time."""
from __future__ import annotations

from syncd.core.events import MAX_TAG_LENGTH, MAX_TAGS_PER_TOPIC, Event, parse_tags
from syncd.core.tickets import Ticket, apply

from conftest import sample, sample_body, signed_sample
from test_hostile_ingest import env, post  # noqa: F401  (the fixture)


def test_tags_are_bounded_in_number_and_length():
    """More than MAX_TAGS_PER_TOPIC tags are cut, long names cut at MAX_TAG_LENGTH, like
    Discourse's clean_tag; duplicates are kept once."""
    many = [f"t{i}" for i in range(1000)]
    assert parse_tags(many) == tuple(many[:MAX_TAGS_PER_TOPIC])
    assert parse_tags(["x" * 20000]) == ("x" * MAX_TAG_LENGTH,)
    assert parse_tags(["a", {"name": "a"}, "b"]) == ("a", "b")


def test_tags_as_one_long_string_are_not_one_tag_a_character():
    """tags: "aaaa…" (a string, not a list) gives no tags, not 20,000 one-letter ones."""
    assert parse_tags("a" * 20000) == ()


def test_an_edit_with_thousands_of_tags_makes_a_bounded_number_of_changes():
    """topic_edited with 90 new tags (under the door's limit of 100) yields at most
    MAX_TAGS_PER_TOPIC tag_added changes."""
    headers, _ = sample("topic_edited")
    body = sample_body("topic_edited")
    body["topic"]["tags"] = [f"tag-{i}" for i in range(90)]
    before = Ticket(id=body["topic"]["id"], has_topic=True, tags=("old",),
                    category_id=body["topic"].get("category_id"))
    event = Event.from_delivery(headers, body)
    changes = apply(before, event, "2026-03-02T09:00:00.000000Z").changes
    added = [c for c in changes if c.name == "tag_added"]
    assert len(added) == MAX_TAGS_PER_TOPIC
    assert [c.tag for c in changes if c.name == "tag_removed"] == ["old"]


def test_sixteen_thousand_tags_are_refused_at_the_door(env):  # noqa: F811
    """A delivery with 16k tags is a 400 at once, never minutes under the write lock."""
    store, writer, client = env
    body = sample_body("topic_edited")
    body["topic"]["tags"] = [f"tag-{i}" for i in range(16000)]
    r = post(client, *signed_sample("topic_edited", body=body))
    assert r.status_code == 400 and "tags" in r.get_json()["error"]
