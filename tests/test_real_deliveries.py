"""Deliveries real forums sent (published by other projects as their test fixtures, see
tests/fixtures/real/SOURCES.md) and a few built from Discourse and plugin source where no
real one was found: each goes through the receiver and the processor, and the ticket's
fields are checked against the payload."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import SECRET, WEBHOOKS, make_settings
from syncd.core.events import parse_tags
from syncd.inbox.http import Receiver, create_app
from syncd.processor import Processor
from syncd.replay import read_recording, signed
from syncd.service import prepare
from syncd.store import tickets as ticketstore

REAL = Path(__file__).resolve().parent / "fixtures" / "real"
FILES = sorted(p.name for p in REAL.glob("*.json"))
PLUGIN_KINDS = {"assign", "topic_voting"}   # about a topic syncd must know already


def _feed(tmp_path, name):
    settings = make_settings(tmp_path, categories="[]")   # every category holds tickets
    store, secret = prepare(settings)
    client = create_app(Receiver(settings, store, secret)).test_client()
    headers, raw = read_recording(REAL / name)
    if headers["X-Discourse-Event-Type"] in PLUGIN_KINDS:   # its topic first (topic 1234)
        first_h, first_raw = read_recording(WEBHOOKS / "topic_created.json")
        client.post("/webhooks/discourse", data=first_raw,
                    headers=signed(first_h, first_raw, SECRET))
    answer = client.post("/webhooks/discourse", data=raw, headers=signed(headers, raw, SECRET))
    processor = Processor(settings, store)
    for _ in range(5):
        if not processor.run_once():
            break
    payload = json.loads(raw)[headers["X-Discourse-Event-Type"]]
    return store, answer, headers["X-Discourse-Event"], headers["X-Discourse-Event-Type"], payload


def test_every_source_is_listed_in_sources_md():
    """Each fixture has its line in SOURCES.md (repository, path, commit, licence, version)."""
    sources = (REAL / "SOURCES.md").read_text()
    assert FILES and all(f"`{name}`" in sources for name in FILES), FILES


@pytest.mark.parametrize("name", FILES)
def test_a_real_delivery_becomes_the_ticket_its_payload_describes(tmp_path, name):
    """Through the whole pipeline; the ticket agrees with the payload field by field."""
    store, answer, event, kind, p = _feed(tmp_path, name)
    assert answer.status_code == 202, answer.get_json()
    conn = store.db().conn
    failed = conn.execute("SELECT error FROM deliveries WHERE status != 'processed'").fetchall()
    assert failed == []
    topic_id = p["id"] if kind == "topic" else (p["post"] if kind == "like" else p)["topic_id"]
    ticket = ticketstore.load(conn, topic_id)
    if kind == "topic":
        assert ticket is not None
        assert ticket.title == p["title"] and ticket.category_id == p["category_id"]
        assert ticket.tags == parse_tags(p.get("tags"))
        assert ticket.closed is bool(p["closed"])
        assert ticket.deleted is (event == "topic_destroyed")
        assert ticket.visibility == ("public" if p["visible"] else "unlisted")
        if p.get("created_by"):
            assert ticket.author == p["created_by"]["username"]
    elif kind == "post":
        if event == "post_created":   # edits and deletions of unknown topics make no ticket
            assert ticket is not None
        if ticket is not None and p["post_number"] == 1 and event in ("post_created",
                                                                     "post_edited"):
            assert ticket.author == p["username"] and ticket.body == (p.get("raw") or "")
        if ticket is not None and event == "post_created" and p["post_number"] > 1:
            assert ticket.category_id == p.get("category_id", ticket.category_id)
    elif kind == "like":
        post = p["post"]
        assert ticket is not None
        assert ticket.likes == (1 if post["post_number"] == 1 else 0)
        assert ticket.likers == (frozenset({p["user"]["id"]}) if post["post_number"] == 1
                                 else frozenset())
    elif event == "accepted_solution":
        assert ticket is not None and ticket.accepted_post_id == p["id"]
        assert ticket.status == "resolved"
    elif event == "unaccepted_solution":
        assert ticket is None or ticket.accepted_post_id is None
    elif kind == "topic_voting":
        assert ticket.votes == p["vote_count"]
    elif event == "assigned":
        assert ticket.assignee == (p.get("assigned_to_username") or p["assigned_to_group_name"])


def test_localised_tag_objects_keep_the_real_tag_name(tmp_path):
    """A 2026 tag object whose name is a translation carries the tag in original_name."""
    store, *_ = _feed(tmp_path, "topic_created__tag-objects-2026__built.json")
    assert ticketstore.load(store.db().conn, 1234).tags == ("printer", "printer-help")


def test_a_forum_without_tagging_sends_no_tags_key_and_that_is_no_tags(tmp_path):
    """No ``tags`` key (``TopicTagsMixin#include_tags?`` false: tagging off, or no visible
    tags): a ticket with no tags."""
    store, answer, *_ = _feed(tmp_path, "topic_created__no-tags-key__built.json")
    assert answer.status_code == 202
    assert ticketstore.load(store.db().conn, 1234).tags == ()


def _story(tmp_path, names):
    settings = make_settings(tmp_path, categories="[]")
    store, secret = prepare(settings)
    client = create_app(Receiver(settings, store, secret)).test_client()
    processor = Processor(settings, store)
    for name in names:
        headers, raw = read_recording(REAL / name)
        assert client.post("/webhooks/discourse", data=raw,
                           headers=signed(headers, raw, SECRET)).status_code == 202
        while processor.run_once():
            pass
    return store.db().conn


def test_fedoras_topic_then_its_retagging(tmp_path):
    """ask.fedoraproject.org topic 31739: created tagged nvidia+silverblue, then edited to
    f37+silverblue two seconds later; the ticket follows, and the history says so."""
    conn = _story(tmp_path, ["topic_created__discourse2fedmsg-messages.json",
                             "topic_edited__discourse2fedmsg-messages.json"])
    ticket = ticketstore.load(conn, 31739)
    assert set(ticket.tags) == {"f37", "silverblue"}
    names = [(h["name"], h["detail"].get("tag")) for h in ticketstore.history(conn, 31739)
             if h["kind"] == "change"]
    assert ("tag_added", "f37") in names and ("tag_removed", "nvidia") in names


def test_fuellabs_first_post_edited_then_topic_closed_and_reopened(tmp_path):
    """FuelLabs topic 22: the first post, its edit, a close and a reopen (the same event
    name, closed false): the ticket has the edited body and is open again."""
    conn = _story(tmp_path, ["post_created__forum-notifier.json", "post_edited__forum-notifier.json",
                             "topic_closed_status_updated__forum-notifier.json"])
    edited = json.loads(read_recording(REAL / "post_edited__forum-notifier.json")[1])["post"]
    ticket = ticketstore.load(conn, 22)
    assert ticket.body == edited["raw"] and ticket.closed is True
    conn = _story(tmp_path / "again", ["post_created__forum-notifier.json",
                                       "topic_closed_status_updated__forum-notifier.json",
                                       "topic_closed_status_updated-reopen__forum-notifier.json"])
    assert ticketstore.load(conn, 22).closed is False
