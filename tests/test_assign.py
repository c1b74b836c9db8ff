"""discourse-assign: rules assign tickets, the plugin's webhook keeps ``ticket.assignee``.

Routes, answers and payloads follow discourse/discourse-assign (``config/routes.rb``,
``app/controllers/discourse_assign/assign_controller.rb``, ``lib/assigner.rb``,
``config/locales/server.en.yml``); the stand-in is ``tests/standins/discourse_assign.py``.
"""
from __future__ import annotations

import json

import pytest
from standins.discourse_assign import AssignForumStandIn
from standins.gchat import ChatStandIn

from syncd.config import load_settings
from syncd.core.events import Event
from syncd.core.tickets import Change, Ticket, apply
from syncd.errors import RuleError
from syncd.inbox.http import Receiver, create_app
from syncd.outbox.workers import make_workers
from syncd.processor import Processor
from syncd.replay import signed
from syncd.rules import load_rules
from syncd.rules.conditions import CONDITIONS, Facts, LoadContext
from syncd.service import load_rules_holder, prepare
from syncd.store import tickets as ticketstore

from conftest import ROOT, SECRET, sample
from test_pipeline_e2e import run as settle

NOW = "2026-03-07T10:00:00.000Z"


def test_assign_deliveries_read_as_the_plugin_sends_them():
    """assigned/unassigned name who acted and the group (or user) assigned."""
    ev = Event.from_delivery(*sample("assigned"))
    assert (ev.name, ev.kind, ev.topic_id, ev.actor.username) == ("assigned", "assign", 1234, "bob")
    assert ev.extra == {"assignee": "support-team", "assignee_type": "group"}
    headers, raw = sample("unassigned")
    assert Event.from_delivery(headers, raw).name == "unassigned"
    body = json.loads(sample("assigned")[1])
    a = body["assign"]
    for key in ("assigned_to_group_id", "assigned_to_group_name"):
        a.pop(key)
    a.update(assigned_to_id=61, assigned_to_username="carol")
    ev = Event.from_delivery(headers | {"X-Discourse-Event": "assigned"}, body)
    assert ev.extra == {"assignee": "carol", "assignee_type": "user"}


def test_assignment_is_kept_on_the_ticket_whoever_made_it():
    """assigned sets the assignee and says who had it before; unassigned clears it."""
    t = Ticket(1234, has_topic=True, has_first_post=True, announced=True)
    on = apply(t, Event.from_delivery(*sample("assigned")), NOW)
    assert (on.ticket.assignee, on.ticket.assignee_type) == ("support-team", "group")
    assert [(c.name, c.old, c.new, c.actor.username) for c in on.changes] == \
        [("assigned", None, "support-team", "bob")]
    off = apply(on.ticket, Event.from_delivery(*sample("unassigned")), NOW)
    assert off.ticket.assignee is None
    assert [(c.name, c.old) for c in off.changes] == [("unassigned", "support-team")]
    assert apply(off.ticket, Event.from_delivery(*sample("unassigned")), NOW).changes == ()
    assert on.ticket.as_dict()["assignee"] == "support-team"


def test_assigned_conditions():
    """assigned: true|false and assigned_to (names without case) look at the ticket."""
    ctx = LoadContext()
    t = Ticket(1, assignee="Faculty", assignee_type="group")
    facts = Facts(t, Change("assigned"), None)
    assigned, to = CONDITIONS["assigned"], CONDITIONS["assigned_to"]
    assert assigned.check(assigned.compile(True, ctx), facts)
    assert not assigned.check(assigned.compile(True, ctx), Facts(Ticket(1), Change("x"), None))
    assert to.check(to.compile(["faculty", "deans"], ctx), facts)
    assert not to.check(to.compile("deans", ctx), facts)


def test_assign_actions_are_checked_at_load(tmp_path):
    """assign takes {user} or {group}; anything else is a file:line error."""
    bad = tmp_path / "r.yaml"
    bad.write_text("rules:\n  - name: x\n    on: topic_created\n    then:\n"
                   "      - assign: {team: faculty}\n")
    with pytest.raises(RuleError) as err:
        load_rules(str(bad), [], {})
    assert "r.yaml:5" in str(err.value) and "assign" in str(err.value)
    good = tmp_path / "g.yaml"
    good.write_text("rules:\n  - name: x\n    on: topic_created\n    then:\n"
                    "      - assign: {user: carol}\n      - unassign\n")
    rs = load_rules(str(good), [], {})
    assert [(a.kind, a.params) for a in rs.rules[0].actions] == \
        [("assign", {"type": "user", "name": "carol"}), ("unassign", {})]


# --- end to end: the default rule through the plugin's stand-in -----------------------------

def build(tmp_path, forum, chat):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"database: {tmp_path / 'syncd.db'}\nrules: {ROOT / 'rules' / '70-assign-and-votes.yaml'}\n"
        f"discourse:\n  url: {forum.base_url}\n  api_key: test-api-key\n"
        f"  api_username: system\n  webhook_secret: {SECRET}\n"
        "  api_calls_per_minute: 100000\n  categories: [support, academic]\n"
        "  category_map: {support: 5, academic: 11}\n"
        f"channels:\n  faculty: {{type: gchat, url: '{chat.url}', messages_per_minute: 60000}}\n")
    settings = load_settings(str(cfg), env={})
    store, secret = prepare(settings)
    client = create_app(Receiver(settings, store, secret)).test_client()
    processor = Processor(settings, store, load_rules_holder(settings, store))
    workers = make_workers(settings, store)
    for w in workers:
        w.sleep = lambda s: None
    return store, client, processor, workers


def post(client, headers, raw):
    answer = client.post("/webhooks/discourse", data=raw, headers=signed(headers, raw, SECRET))
    assert answer.status_code == 202, answer.get_json()


def academic(name):
    headers, raw = sample(name)
    body = json.loads(raw)
    root = body[headers["X-Discourse-Event-Type"]]
    root["category_id"] = 11
    if "category_slug" in root:
        root["category_slug"] = "academic"
    return headers, json.dumps(body, separators=(",", ":")).encode()


def hook(forum, i=-1):
    h = forum.hooks[i]
    return h["headers"], h["body"].encode()


def test_an_academic_question_goes_to_faculty_and_the_echo_fires_nothing(tmp_path):
    """The default rule assigns through the plugin once; its webhook is syncd's own; a
    moderator's later assignment shows on the ticket and is not taken for syncd's."""
    with AssignForumStandIn() as forum, ChatStandIn(limit=1000) as chat:
        forum.add_topic(1234, title="Printer jams on duplex jobs", category_id=11)
        store, client, processor, workers = build(tmp_path, forum, chat)
        post(client, *academic("topic_created"))
        post(client, *academic("post_created"))
        settle(processor, workers, store)
        assert forum.assignments == {1234: ("group", "faculty")}
        puts = [b for m, p, b in forum.writes() if p.startswith("/assign/assign")]
        assert puts == [{"target_id": 1234, "target_type": "Topic", "group_name": "faculty",
                         "should_notify": "true"}]
        assert len(chat.messages) == 1 and "Assigned to faculty" in chat.messages[0]["text"]

        post(client, *hook(forum))             # the plugin's webhook of syncd's assignment
        settle(processor, workers, store)
        conn = store.db().conn
        t = ticketstore.load(conn, 1234)
        assert (t.assignee, t.assignee_type) == ("faculty", "group")
        changes = [h for h in ticketstore.history(conn, 1234)
                   if h["kind"] == "change" and h["name"] == "assigned"]
        assert len(changes) == 1 and changes[0]["detail"].get("by_syncd") is True

        # bob reassigns it to carol in the forum: the plugin unassigns, then assigns
        forum._who.name = "bob"
        forum._assign({}, {"target_id": 1234, "target_type": "Topic", "username": "carol"})
        post(client, *hook(forum, -2))
        post(client, *hook(forum, -1))
        settle(processor, workers, store)
        t = ticketstore.load(conn, 1234)
        assert (t.assignee, t.assignee_type) == ("carol", "user")
        mine = [h["detail"].get("by_syncd") for h in ticketstore.history(conn, 1234)
                if h["kind"] == "change" and h["name"] in ("assigned", "unassigned")]
        assert mine == [True, None, None]
        assert len(chat.messages) == 1          # the rule fired once, for the question


def test_refusals_say_what_to_fix_and_a_retry_after_a_crash_is_not_an_error(tmp_path):
    """A group the plugin cannot assign is dead with the fix; "already assigned" on a retry is done."""
    with AssignForumStandIn() as forum, ChatStandIn(limit=1000) as chat:
        forum.add_topic(1234, title="Printer jams on duplex jobs", category_id=11)
        forum.assignable_groups.discard("faculty")
        store, client, processor, workers = build(tmp_path, forum, chat)
        post(client, *academic("topic_created"))
        post(client, *academic("post_created"))
        settle(processor, workers, store)
        row = store.db().conn.execute(
            "SELECT status, last_error FROM outbox WHERE kind = 'assign'").fetchone()
        assert row[0] == "dead"
        assert "can't be assigned" in row[1] and "assign_allowed_on_groups" in row[1]

        from syncd.discourse.gateway import DiscourseGateway
        gateway = DiscourseGateway(load_settings(str(tmp_path / "config.yaml"), env={}))
        forum.assignable_groups.add("faculty")
        expected = []
        first = gateway.do_assign(1234, {"type": "group", "name": "faculty"}, "k",
                                  lambda k, v: expected.append((k, v)), False)
        again = gateway.do_assign(1234, {"type": "group", "name": "faculty"}, "k",
                                  lambda k, v: expected.append((k, v)), True)
        assert first["changed"] is True and again["changed"] is False
        assert expected == [("assigned", "faculty")] * 2


def test_the_plugin_switched_off_is_a_clear_refusal(tmp_path):
    """With discourse-assign off the route is a 404: the action is dead, saying to enable it."""
    with AssignForumStandIn() as forum, ChatStandIn(limit=1000) as chat:
        forum.add_topic(1234, title="Printer jams on duplex jobs", category_id=11)
        forum.enabled = False
        store, client, processor, workers = build(tmp_path, forum, chat)
        post(client, *academic("topic_created"))
        post(client, *academic("post_created"))
        settle(processor, workers, store)
        status, error = store.db().conn.execute(
            "SELECT status, last_error FROM outbox WHERE kind = 'assign'").fetchone()
        assert status == "dead" and "plugin is enabled" in error
