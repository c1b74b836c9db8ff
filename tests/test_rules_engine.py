"""evaluate(): order, once per ticket, stop, echoes of syncd's own changes, categories."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from syncd.core.events import Actor
from syncd.rules import evaluate, load_rules
from syncd.core.tickets import Change, Ticket

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)
T = Ticket(id=1234, title="Printer jams", category_id=5, tags=("printer",), likes=3)


def rules(tmp_path, text):
    (tmp_path / "r.yaml").write_text("rules:\n" + text)
    return load_rules(str(tmp_path / "r.yaml"), ["staff"], {"support": 5})


TWO = """  - name: a
    on: [topic_created, post_liked]
    then: [close_topic]
  - name: b
    on: topic_created
    if: {likes_at_least: 3}
    then: [{set_priority: high}]
"""


def test_fires_in_order_with_actions(tmp_path):
    """Matching rules fire in file order; each firing carries its compiled actions."""
    fired = evaluate(rules(tmp_path, TWO), Change("topic_created"), T, NOW)
    assert [(f.rule_name, f.event_name) for f in fired] == [("a", "topic_created"),
                                                             ("b", "topic_created")]
    assert [a.kind for a in fired[1].actions] == ["set_priority"]


def test_only_rules_listening_to_the_event(tmp_path):
    """A rule fires only for the events named in its on:."""
    fired = evaluate(rules(tmp_path, TWO), Change("post_liked"), T, NOW)
    assert [f.rule_name for f in fired] == ["a"]
    assert evaluate(rules(tmp_path, TWO), Change("topic_edited"), T, NOW) == []


def test_once_per_ticket_unless_once_false(tmp_path):
    """A rule in ticket.fired_rules does not fire again; once: false fires every time."""
    rs = rules(tmp_path, TWO + "    once: false\n")
    done = replace(T, fired_rules=frozenset({"a", "b"}))
    assert [f.rule_name for f in evaluate(rs, Change("topic_created"), done, NOW)] == ["b"]


def test_stop_ends_evaluation(tmp_path):
    """stop: true on a firing rule ends evaluation for that event."""
    rs = rules(tmp_path, TWO.replace("    then: [close_topic]\n",
                                     "    then: [close_topic]\n    stop: true\n", 1))
    fired = evaluate(rs, Change("topic_created"), T, NOW)
    assert [f.rule_name for f in fired] == ["a"] and fired[0].stop


def test_changes_made_by_syncd_fire_nothing(tmp_path):
    """The webhook echo of syncd's own change (by_syncd) never makes a rule fire."""
    assert evaluate(rules(tmp_path, TWO), Change("topic_created", by_syncd=True), T, NOW) == []


def test_category_condition_uses_the_slug_map(tmp_path):
    """category compares slugs through the id -> slug map given to evaluate."""
    rs = rules(tmp_path, "  - name: c\n    on: topic_created\n    if: {category: support}\n"
                         "    then: [close_topic]\n")
    assert evaluate(rs, Change("topic_created"), T, NOW) == []
    assert len(evaluate(rs, Change("topic_created"), T, NOW, categories={5: "support"})) == 1


def test_actor_is_staff_reads_the_change_actor(tmp_path):
    """actor_is_staff looks at who made the change, with the staff groups as staff too."""
    rs = rules(tmp_path, "  - name: s\n    on: post_created\n    if: {actor_is_staff: true}\n"
                         "    then: [close_topic]\n")
    grouped = Change("post_created", actor=Actor(9, "dan", primary_group="support-team"))
    assert evaluate(rs, Change("post_created", actor=Actor(7, "bob", staff=True)), T, NOW)
    assert evaluate(rs, grouped, T, NOW) == []
    assert evaluate(rs, grouped, T, NOW, staff_groups=("support-team",))


def test_accepts_a_plain_list_of_rules(tmp_path):
    """evaluate works on any iterable of rules, not only a RuleSet."""
    rs = rules(tmp_path, TWO)
    assert len(evaluate(list(rs.rules), Change("topic_created"), T, NOW)) == 2
