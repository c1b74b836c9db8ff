"""decide(): fired_rules, derived changes and their cascade bound, budget, template errors."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from syncd.rules import DecideContext, decide, load_rules
from syncd.core.tickets import Change, Ticket

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)
T = Ticket(id=9, title="Exam tomorrow, portal down", author="alice", category_id=5)


def rules(tmp_path, text):
    (tmp_path / "r.yaml").write_text("rules:\n" + text)
    return load_rules(str(tmp_path / "r.yaml"), ["staff", "escalations"], {"support": 5})


CHAIN = """  - name: keyword
    on: topic_created
    if: {title_matches: '(?i)exam tomorrow'}
    then: [{set_priority: urgent}]
  - name: escalate
    on: priority_changed
    if: {priority: urgent}
    then:
      - notify: {channel: escalations, text: '{{ event.old }} -> {{ event.new }}'}
"""


def test_set_priority_derives_priority_changed_that_rules_see(tmp_path):
    """set_priority yields a priority_changed change, evaluated like any other."""
    d = decide(rules(tmp_path, CHAIN), T, [Change("topic_created")], NOW, DecideContext())
    assert d.ticket.priority == "urgent"
    assert [c.name for c in d.changes] == ["topic_created", "priority_changed"]
    assert [f.rule_name for f in d.firings] == ["keyword", "escalate"]
    assert d.actions[0].params["text"] == "normal -> urgent"
    assert d.actions[0].event == "priority_changed"
    assert d.ticket.fired_rules == {"keyword", "escalate"}


def test_fired_rules_carry_over(tmp_path):
    """A rule already fired on this ticket does not fire again in a later decide."""
    d1 = decide(rules(tmp_path, CHAIN), T, [Change("topic_created")], NOW, DecideContext())
    d2 = decide(rules(tmp_path, CHAIN), d1.ticket, [Change("topic_created")], NOW, DecideContext())
    assert d2.firings == () and d2.actions == ()


def test_by_syncd_changes_fire_nothing(tmp_path):
    """The echo of syncd's own change is recorded but fires no rule."""
    d = decide(rules(tmp_path, CHAIN), T, [Change("topic_created", by_syncd=True)], NOW)
    assert [c.name for c in d.changes] == ["topic_created"] and d.firings == ()


def test_two_rules_cannot_loop(tmp_path):
    """Two once:false rules that undo each other stop at the cascade bound with a note."""
    rs = rules(tmp_path, """  - name: up
    on: [topic_created, priority_changed]
    once: false
    if: {priority: [normal, high]}
    then: [{set_priority: urgent}]
  - name: down
    on: priority_changed
    once: false
    if: {priority: urgent}
    then: [{set_priority: high}]
""")
    d = decide(rs, T, [Change("topic_created")], NOW, DecideContext())
    assert any("cascade stopped" in n for n in d.notes)
    assert len(d.changes) <= 6


def test_budget_drops_actions_with_a_note(tmp_path):
    """Beyond the ticket's hourly budget, outgoing actions are dropped and a note says so."""
    rs = rules(tmp_path, """  - name: noisy
    on: topic_created
    then: [{notify: staff}, {notify: staff}, {notify: escalations}]
""")
    d = decide(rs, T, [Change("topic_created")], NOW, DecideContext(budget_left=2))
    assert len(d.actions) == 2
    assert d.notes == ("action budget for ticket 9 exhausted: 1 action(s) dropped "
                       "(limit per ticket per hour)",)


def test_template_error_is_a_note_and_a_fallback(tmp_path):
    """A template that fails at render time never crashes: a note and a fallback text."""
    rs = rules(tmp_path, """  - name: broken
    description: We got your question.
    on: topic_created
    then:
      - notify: {channel: staff, text: '{{ ticket.title.__class__ }}'}
      - reply: '{{ ticket.tags.pop() }}'
""")
    d = decide(rs, T, [Change("topic_created")], NOW, DecideContext())
    assert d.actions[0].params["text"] == "broken: topic_created on #9 Exam tomorrow, portal down"
    assert d.actions[1].params == {"raw": "We got your question."}
    assert len(d.notes) == 2 and all("template failed" in n for n in d.notes)


def test_similar_lookup_failure_is_a_note(tmp_path):
    """If finding similar tickets fails, the event is still decided, with a note."""
    rs = rules(tmp_path, "  - name: s\n    on: topic_created\n    then: [suggest_similar]\n")
    def broken(ticket, limit):
        raise RuntimeError("no index")
    d = decide(rs, T, [Change("topic_created")], NOW, DecideContext(similar=broken))
    assert d.actions == () and "no index" in d.notes[0]


PRIVATE_LATER = """  - name: ping-first
    on: topic_created
    then:
      - notify: staff
  - name: then-private
    on: topic_created
    then:
      - set_visibility: private
      - promote_faq: {category: support, mode: copy}
"""


def test_a_ticket_made_private_is_private_for_every_planned_action(tmp_path):
    """A notify planned before set_visibility: private carries no body; no FAQ promotion."""
    decision = decide(rules(tmp_path, PRIVATE_LATER), T, [Change("topic_created")], NOW)
    assert [a.kind for a in decision.actions] == ["notify", "set_visibility"]
    assert decision.actions[0].params["private"] is True
    assert any("not promoted" in n for n in decision.notes)


CASE = """  - name: mixed-case
    on: topic_created
    if: {tags_any: [Urgent]}
    then:
      - add_tags: [Urgent, Exams]
"""


def test_tags_compare_without_case(tmp_path):
    """'Urgent' in a rule matches Discourse's lowercased 'urgent'; only the missing tag is
    added, lowercased as Discourse will store it."""
    ticket = replace(T, tags=("urgent",))
    decision = decide(rules(tmp_path, CASE), ticket, [Change("topic_created")], NOW)
    assert [(a.kind, a.params) for a in decision.actions] == [("add_tags", {"tags": ["exams"]})]
