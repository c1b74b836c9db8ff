"""Who edited a topic: read from the first post's latest revision, before the transaction."""
from __future__ import annotations

import json
from dataclasses import replace

from conftest import make_settings, online, sample
from standins.discourse import DiscourseStandIn
from syncd.core.events import Event
from syncd.discourse.editor import EditorLookup, http_getter
from syncd.processor import Processor
from syncd.service import prepare
from syncd.store import echoes
from syncd.store.db import transaction


def _setup(tmp_path, forum):
    s = online(make_settings(tmp_path), forum.base_url)
    settings = replace(s, discourse=replace(s.discourse, api_key="test-api-key"))
    store, _ = prepare(settings)
    processor = Processor(settings, store)
    with transaction(store.db()) as conn:
        processor.process_event(conn, Event.from_delivery(*sample("topic_created")), None)
    return store, EditorLookup(http_getter(settings))


def _edited(**changes):
    headers, raw = sample("topic_edited")
    body = json.loads(raw)
    body["topic"].update(category_id=5, title="Printer jams on duplex jobs", **changes)
    return Event.from_delivery(headers, body)


def test_the_editor_is_the_revisions_user_with_staff_from_the_user_card(tmp_path):
    """A tag added by bob (a moderator) while alice posted last: the event's actor is bob, staff."""
    with DiscourseStandIn() as forum:
        forum.add_topic(1234, title="Printer jams on duplex jobs", tags=["printer"])
        store, lookup = _setup(tmp_path, forum)
        forum.revise(1234, "bob", tags=["printer", "urgent"])
        event = lookup(store.db().conn, _edited(tags=["printer", "urgent"]))
        assert (event.actor.username, event.actor.staff) == ("bob", True)
        assert event.extra["actor_source"] == "revision"


def test_an_expected_echo_or_a_plain_edit_costs_no_call(tmp_path):
    """syncd's own tag (an expected echo) and an edit that changes no tag or category ask
    Discourse nothing."""
    with DiscourseStandIn() as forum:
        forum.add_topic(1234, title="Printer jams on duplex jobs", tags=["printer"])
        store, lookup = _setup(tmp_path, forum)
        with transaction(store.db()) as conn:
            echoes.expect(conn, 1234, "tag_added", "urgent")
        lookup(store.db().conn, _edited(tags=["printer", "urgent"]))
        lookup(store.db().conn, _edited(tags=["printer"]))
        assert forum.log == []


def test_a_forum_that_cannot_answer_leaves_the_payloads_actor(tmp_path):
    """Discourse down: the lookup gives up at once, the delivery goes on with the last poster."""
    with DiscourseStandIn() as forum:
        forum.add_topic(1234, title="Printer jams on duplex jobs", tags=["printer"])
        store, lookup = _setup(tmp_path, forum)
        forum.down = True
        before = _edited(tags=["printer", "urgent"])
        event = lookup(store.db().conn, before)
        assert event.actor == before.actor and event.extra["actor_source"] == "last_poster"
        calls = len(forum.log)
        lookup(store.db().conn, before)     # paused: the next delivery does not wait again
        assert len(forum.log) == calls
