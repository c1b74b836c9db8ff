"""The whole pipeline against stand-ins of Discourse and Chat: a topic posted in the forum
becomes a card, a reply, a move and tags, each exactly once, and the webhook echo of
syncd's own changes fires no rule."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from standins.discourse import DiscourseStandIn
from standins.gchat import ChatStandIn

from syncd.discourse.editor import EditorLookup, http_getter
from syncd.store import similar
from syncd.store import tickets as ticketstore
from syncd.inbox.http import Receiver, create_app
from syncd.clock import utcnow
from syncd.config import load_settings
from syncd.outbox.workers import make_workers
from syncd.processor import Processor
from syncd.replay import signed
from syncd.service import load_rules_holder, prepare

from conftest import SECRET, sample

TRIAGE = """
  - name: triage
    on: topic_created
    then:
      - notify: staff
      - reply: "Thanks @{{ ticket.author }}, we are on it."
      - move_to_category: hardware
      - add_tags: [ticket-open]
"""
WATCHERS = """
  - name: moved-by-someone
    on: category_changed
    once: false
    then:
      - notify: {channel: staff, text: "#{{ ticket.id }} was moved"}
  - name: tagged-by-someone
    on: tag_added
    once: false
    then:
      - notify: {channel: staff, text: "#{{ ticket.id }} tagged {{ event.tag }}"}
  - name: tagged-by-staff
    on: tag_added
    once: false
    if: {actor_is_staff: true}
    then:
      - notify: {channel: staff, text: "staff tagged {{ event.tag }}"}
"""
RULES = "rules:" + TRIAGE + WATCHERS
VERSIONS = ["3.4.2", "2026.2.0-latest"]


def build(tmp_path, forum, chat, rules=RULES):
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "10-test.yaml").write_text(rules)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"database: {tmp_path / 'syncd.db'}\nrules: {tmp_path / 'rules'}\n"
        f"discourse:\n  url: {forum.base_url}\n  api_key: test-api-key\n"
        f"  api_username: system\n  webhook_secret: {SECRET}\n"
        "  api_calls_per_minute: 100000\n  categories: [support, hardware]\n"
        "  category_map: {support: 5, hardware: 7, faq: 10}\n"
        f"channels:\n  staff: {{type: gchat, url: '{chat.url}', messages_per_minute: 60000}}\n")
    settings = load_settings(str(cfg), env={})
    store, secret = prepare(settings)
    client = create_app(Receiver(settings, store, secret)).test_client()
    processor = Processor(settings, store, load_rules_holder(settings, store), similar)
    processor.enrich = EditorLookup(http_getter(settings))   # as serve wires it
    workers = make_workers(settings, store)
    for w in workers:
        w.sleep = lambda s: None
    return store, client, processor, workers


def deliver(client, name, body=None, event_id=None, version=None):
    headers, raw = sample(name)
    if body is not None:
        raw = json.dumps(body, separators=(",", ":")).encode()
    if event_id is not None:
        headers = {**headers, "X-Discourse-Event-Id": str(event_id)}
    if version is not None:   # every delivery names the forum's version
        headers = {**headers, "User-Agent": f"Discourse/{version}"}
    answer = client.post("/webhooks/discourse", data=raw, headers=signed(headers, raw, SECRET))
    assert answer.status_code in (200, 202), answer.get_json()
    return answer


def run(processor, workers, store, rounds=50):
    """Process and deliver until nothing is left (bounded)."""
    now = utcnow()
    for _ in range(rounds):
        busy = processor.run_once(now)
        busy = any([w.run_once(now=now) for w in workers]) or busy
        left = store.db().conn.execute(
            "SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending')").fetchone()[0]
        if not busy and not left:
            return
        now += timedelta(seconds=10)
    raise AssertionError("the pipeline did not settle")


def edited(forum, last_poster="system", **changes):
    """A topic_edited delivery showing the stand-in's topic as it is now."""
    body = json.loads(sample("topic_edited")[1])
    topic = forum.topics[1234]
    body["topic"].update(category_id=topic["category_id"], tags=forum._tags_view(topic),
                         title="Printer jams on duplex jobs", **changes)
    body["topic"]["last_poster"]["username"] = last_poster
    return body


@pytest.mark.parametrize("version", VERSIONS)
def test_topic_to_card_reply_move_and_tags_once_and_echo_fires_nothing(tmp_path, version):
    """One card, one reply, one move and one tag; the echo fires no rule; a moderator's move
    does; on a pre-2026 forum (tags as names) and a 2026 one (tag objects)."""
    with DiscourseStandIn(version=version) as forum, ChatStandIn(limit=1000) as chat:
        forum.add_topic(1234, title="Printer jams on duplex jobs", category_id=5,
                        tags=["printer"])
        store, client, processor, workers = build(tmp_path, forum, chat)
        deliver(client, "topic_created", version=version)
        deliver(client, "post_created", version=version)
        run(processor, workers, store)
        assert len(chat.messages) == 1
        assert chat.messages[0]["thread"]["threadKey"].endswith("1234")
        assert len(forum.replies(1234)) == 1
        assert forum.topics[1234]["category_id"] == 7
        assert [t["name"] for t in forum.topics[1234]["tags"]] == ["printer", "ticket-open"]

        # Discourse sends the echo of syncd's own move and tag: nothing may fire.
        deliver(client, "topic_edited", edited(forum), event_id=95001, version=version)
        run(processor, workers, store)
        assert len(chat.messages) == 1, [m.get("text") for m in chat.messages]
        conn = store.db().conn
        changes = [h for h in ticketstore.history(conn, 1234) if h["kind"] == "change"]
        moved = [h for h in changes if h["name"] == "category_changed"]
        assert moved and all(h["detail"].get("by_syncd") for h in moved)

        # A moderator moves it back: that is not syncd's doing, so the rule fires once.
        forum.revise(1234, "bob", category_id=5)
        deliver(client, "topic_edited", edited(forum, last_poster="bob"), event_id=95002,
                version=version)
        run(processor, workers, store)
        texts = [m.get("text", "") for m in chat.messages]
        assert len(chat.messages) == 2 and "was moved" in texts[1]
        assert len(forum.replies(1234)) == 1  # and still exactly one reply
        statuses = conn.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status").fetchall()
        assert dict(statuses) == {"sent": 5}


@pytest.mark.parametrize("version", VERSIONS)
def test_a_moderators_tag_on_a_students_topic_is_the_moderators(tmp_path, version):
    """The topic payload does not say who edited: the editor is read from the first post's
    latest revision (before the delivery's transaction), so a moderator adding a tag while
    the student posted last counts as staff, and the student's own tag does not."""
    with DiscourseStandIn(version=version) as forum, ChatStandIn(limit=1000) as chat:
        forum.add_topic(1234, title="Printer jams on duplex jobs", category_id=5,
                        tags=["printer"])
        store, client, processor, workers = build(tmp_path, forum, chat, "rules:" + WATCHERS)
        deliver(client, "topic_created", version=version)
        deliver(client, "post_created", version=version)
        run(processor, workers, store)
        forum.revise(1234, "bob", tags=["printer", "urgent"])
        deliver(client, "topic_edited", edited(forum, last_poster="alice"), event_id=95010,
                version=version)
        run(processor, workers, store)
        texts = [m.get("text", "") for m in chat.messages]
        assert "staff tagged urgent" in texts, texts
        forum.revise(1234, "alice", tags=["printer", "urgent", "help"])
        deliver(client, "topic_edited", edited(forum, last_poster="alice"), event_id=95011,
                version=version)
        run(processor, workers, store)
        texts = [m.get("text", "") for m in chat.messages]
        assert "#1234 tagged help" in texts and "staff tagged help" not in texts, texts
        from syncd.store import site
        assert site.version(store.db().conn) == version
