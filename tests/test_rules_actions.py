"""Every action, table-driven through decide(): the exact params the outbox workers read."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from syncd.core.events import Actor
from syncd.rules import DecideContext, decide, load_rules
from syncd.core.tickets import Change, Ticket

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)
CATS = {"support": 5, "grades": 8, "faq": 10}
T = Ticket(id=1234, title="Printer jams", url="https://f.example/t/p/1234", category_id=5,
           tags=("printer",), author="alice", author_id=42, likes=6, stage="resolved",
           accepted_post_id=5678, created_at="2026-03-02T09:14:07.512Z")
CHANGE = Change("solution_accepted", actor=Actor(57, "bob"), at="2026-03-02T10:00:00.000Z")
SIMILAR = [{"id": 7, "title": "Duplex jam fixed", "url": "https://f.example/t/d/7"}]


def ctx(**kw):
    base = dict(tz=ZoneInfo("Asia/Kolkata"), categories={i: s for s, i in CATS.items()},
                category_ids=CATS, similar=lambda t, n: SIMILAR[:n], budget_left=30,
                staff_groups=("staff",))
    return DecideContext(**{**base, **kw})


def run(tmp_path, then: str, ticket=T, change=CHANGE, **kw):
    (tmp_path / "r.yaml").write_text("rules:\n  - name: r\n    description: Desc.\n"
                                     "    on: solution_accepted\n    then:\n" + then)
    rs = load_rules(str(tmp_path / "r.yaml"), ["staff", "escalations"], CATS)
    return decide(rs, ticket, [change], NOW, ctx(**kw))


TICKET_JSON = {**T.as_dict(), "category": "support"}
CASES = [
    ("- notify: staff", "notify",
     {"channel": "staff", "text": None, "ticket": TICKET_JSON,
      "event": {"name": "solution_accepted", "at": "2026-03-02T10:00:00.000Z"}, "private": False}),
    ("- notify: {channel: escalations, text: '{{ ticket.title }} at {{ event.at | localtime }}'}",
     "notify", {"channel": "escalations", "text": "Printer jams at 2026-03-02 15:30 IST",
                "text_marked": "\ue000Printer jams\ue001 at \ue0002026-03-02 15:30 IST\ue001",
                "ticket": TICKET_JSON, "event": {"name": "solution_accepted",
                                                 "at": "2026-03-02T10:00:00.000Z"},
                "private": False}),
    ("- reply: 'Thanks @{{ ticket.author }} ({{ event.actor }}, {{ rule.description }})'",
     "reply", {"raw": "Thanks @alice (bob, Desc.)"}),
    ("- message_author: 'Solved: {{ ticket.title }}'", "message_author",
     {"username": "alice", "title": "About your topic: Printer jams", "raw": "Solved: Printer jams"}),
    ("- message_author: {title: 'T {{ ticket.id }}', text: hi}", "message_author",
     {"username": "alice", "title": "T 1234", "raw": "hi"}),
    ("- set_visibility: private", "set_visibility", {"visibility": "private"}),
    ("- move_to_category: grades", "move_to_category", {"category": "grades", "category_id": 8}),
    ("- move_to_category: {category: 11}", "move_to_category", {"category": None, "category_id": 11}),
    ("- add_tags: [printer, solved]", "add_tags", {"tags": ["solved"]}),
    ("- remove_tags: printer", "remove_tags", {"tags": ["printer"]}),
    ("- close_topic", "close_topic", {}),
    ("- close_topic: {}", "close_topic", {}),
    ("- promote_faq: {category: faq, mode: copy}", "promote_faq",
     {"category": "faq", "category_id": 10, "mode": "copy", "accepted_post_id": 5678,
      "private": False, "title": "Printer jams"}),
    ("- promote_faq: faq", "promote_faq",
     {"category": "faq", "category_id": 10, "mode": "move", "accepted_post_id": 5678,
      "private": False, "title": "Printer jams"}),
    ("- suggest_similar", "suggest_similar",
     {"raw": "These resolved tickets may help:\n\n- [Duplex jam fixed](https://f.example/t/d/7)\n",
      "similar": SIMILAR}),
    ("- suggest_similar: {limit: 1, text: '{% for s in similar %}#{{ s.id }}{% endfor %}'}",
     "suggest_similar", {"raw": "#7", "similar": SIMILAR}),
]


@pytest.mark.parametrize("then,kind,params", CASES)
def test_outgoing_action_params(tmp_path, then, kind, params):
    """Each outgoing action becomes one planned action with exactly these params."""
    d = run(tmp_path, "      " + then + "\n")
    assert [(a.kind, a.params) for a in d.actions] == [(kind, params)]
    assert d.actions[0].rule == "r" and d.actions[0].event == "solution_accepted"
    json.dumps(d.actions[0].params)   # JSON-serialisable, as the outbox stores it


@pytest.mark.parametrize("then,ticket_kw,note", [
    ("- set_visibility: public", {}, None),
    ("- move_to_category: support", {}, None),
    ("- add_tags: printer", {}, None),
    ("- remove_tags: solved", {}, None),
    ("- close_topic", {"closed": True}, None),
    ("- promote_faq: faq", {"visibility": "private"}, "is private; not promoted"),
    ("- message_author: hi", {"author": None}, None),
])
def test_actions_with_nothing_to_do_are_skipped(tmp_path, then, ticket_kw, note):
    """An action that would change nothing (or must not run) plans nothing."""
    from dataclasses import replace
    d = run(tmp_path, "      " + then + "\n", ticket=replace(T, **ticket_kw))
    assert d.actions == ()
    assert (note is None) == (not d.notes) and (note is None or note in d.notes[0])


def test_suggest_similar_without_matches_is_a_note(tmp_path):
    """suggest_similar finds nothing: no reply, a note says why."""
    d = run(tmp_path, "      - suggest_similar\n", similar=lambda t, n: [])
    assert d.actions == () and "no similar resolved tickets" in d.notes[0]


def test_reply_template_can_list_similar_tickets(tmp_path):
    """A reply template that uses `similar` gets the similar resolved tickets."""
    d = run(tmp_path, "      - reply: '{% for s in similar %}{{ s.url }}{% endfor %}'\n")
    assert d.actions[0].params == {"raw": "https://f.example/t/d/7"}


@pytest.mark.parametrize("then,expected", [
    ("- set_priority: urgent", {"priority": "urgent"}),
    ("- set_status: open", {"stage": "open", "closed": False, "resolved_at": None}),
    ("- set_status: closed", {"closed": True, "stage": "resolved"}),
])
def test_state_actions_change_the_ticket(tmp_path, then, expected):
    """State actions change the ticket in decide and plan nothing for the outbox."""
    d = run(tmp_path, "      " + then + "\n")
    assert d.actions == ()
    assert {k: getattr(d.ticket, k) for k in expected} == expected


def test_set_status_resolved_stamps_resolved_at(tmp_path):
    """set_status: resolved sets the stage and a resolved time."""
    from dataclasses import replace
    d = run(tmp_path, "      - set_status: resolved\n", ticket=replace(T, stage="open"))
    assert d.ticket.status == "resolved" and d.ticket.resolved_at == "2026-03-02T09:30:00.000000Z"
    assert [c.name for c in d.changes] == ["solution_accepted", "status_changed"]
