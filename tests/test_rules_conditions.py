"""Every rule condition, table-driven: compile the YAML value, check it against facts."""
from __future__ import annotations

import pytest

from syncd.core.events import Actor
from syncd.rules.conditions import CONDITIONS, Facts, Invalid, LoadContext, holds
from syncd.rules.loader import load_rules
from syncd.core.tickets import Change, Ticket

CTX = LoadContext(channels=("staff",), categories={"support": 5, "grades": 8})
T = Ticket(id=1, title="Exam grades missing", body="My marks for CS101 are not shown",
           category_id=8, tags=("grades", "cs101"), priority="high", likes=4,
           visibility="public", stage="answered")
STAFF = Actor(7, "bob", staff=True, trust_level=4)
USER = Actor(42, "alice", staff=False, trust_level=1)
GROUPED = Actor(9, "dan", staff=None, trust_level=2, primary_group="support-team")

CASES = [
    # (condition, value, ticket changes, change, expected)
    ("category", "grades", {}, None, True),
    ("category", ["support", 9], {}, None, False),
    ("category", 8, {}, None, True),
    ("tags_any", ["printer", "cs101"], {}, None, True),
    ("tags_any", "printer", {}, None, False),
    ("tags_all", ["grades", "cs101"], {}, None, True),
    ("tags_all", ["grades", "printer"], {}, None, False),
    ("tags_none", ["wontfix"], {}, None, True),
    ("tags_none", ["cs101"], {}, None, False),
    ("title_matches", r"(?i)\bgrades?\b", {}, None, True),
    ("title_matches", [r"printer", r"Exam"], {}, None, True),
    ("title_matches", r"exam", {}, None, False),          # case matters unless (?i)
    ("body_matches", r"CS\d+", {}, None, True),
    ("body_matches", r"refund", {}, None, False),
    ("status", "answered", {}, None, True),
    ("status", ["open", "resolved"], {}, None, False),
    ("status", "closed", {"closed": True}, None, True),
    ("priority", ["high", "urgent"], {}, None, True),
    ("priority", "normal", {}, None, False),
    ("priority_at_least", "normal", {}, None, True),
    ("priority_at_least", "high", {}, None, True),
    ("priority_at_least", "urgent", {}, None, False),
    ("likes_at_least", 4, {}, None, True),
    ("likes_at_least", 5, {}, None, False),
    ("visibility", "public", {}, None, True),
    ("visibility", ["private", "unlisted"], {}, None, False),
    ("actor_is_staff", True, {}, Change("post_created", actor=STAFF), True),
    ("actor_is_staff", True, {}, Change("post_created", actor=USER), False),
    ("actor_is_staff", False, {}, Change("post_created", actor=USER), True),
    ("actor_is_staff", True, {}, Change("post_created", actor=GROUPED), True),
    ("actor_is_staff", True, {}, Change("post_created", actor=None), False),
    ("actor_trust_level_at_least", 2, {}, Change("post_created", actor=STAFF), True),
    ("actor_trust_level_at_least", 2, {}, Change("post_created", actor=USER), False),
    ("tag", "urgent", {}, Change("tag_added", tag="urgent"), True),
    ("tag", ["urgent", "vip"], {}, Change("tag_removed", tag="other"), False),
    ("tag", "urgent", {}, Change("post_created"), False),
]


@pytest.mark.parametrize("name,value,ticket_kw,change,expected", CASES)
def test_condition(name, value, ticket_kw, change, expected):
    """Each condition holds exactly when its documented meaning says so."""
    from dataclasses import replace
    param = CONDITIONS[name].compile(value, CTX)
    facts = Facts(replace(T, **ticket_kw), change or Change("topic_created"), "grades",
                  ("support-team",))
    assert CONDITIONS[name].check(param, facts) is expected


BAD = [
    ("title_matches", "(unclosed", "bad regular expression"),
    ("category", "nope", "unknown category 'nope' (known: grades, support)"),
    ("priority_at_least", "hgih", "must be one of low, normal, high, urgent"),
    ("status", ["open", "shut"], "'shut' is not one of"),
    ("likes_at_least", -1, "whole number"),
    ("actor_is_staff", "yes", "true or false"),
]


@pytest.mark.parametrize("name,value,message", BAD)
def test_condition_rejects_bad_values(name, value, message):
    """A bad condition value is refused at compile time with a readable reason."""
    with pytest.raises(Invalid, match=message.replace("(", r"\(").replace(")", r"\)")):
        CONDITIONS[name].compile(value, CTX)


def _conds(tmp_path, text):
    f = tmp_path / "r.yaml"
    f.write_text("rules:\n  - name: r\n    on: topic_created\n    if:\n" + text
                 + "    then: [close_topic]\n")
    return load_rules(f, ["staff"], {"grades": 8, "support": 5}).rules[0].conditions


@pytest.mark.parametrize("text,expected", [
    ("      any:\n        - {priority: low}\n        - {tags_any: [cs101]}\n", True),
    ("      any:\n        - {priority: low}\n        - {likes_at_least: 9}\n", False),
    ("      not: {category: support}\n", True),
    ("      not: {category: grades, priority: high}\n", False),
    ("      not: {any: [{priority: low}, {likes_at_least: 9}]}\n", True),
])
def test_any_and_not_combine(tmp_path, text, expected):
    """any: holds when one mapping holds; not: when its mapping does not."""
    facts = Facts(T, Change("topic_created"), "grades")
    assert holds(_conds(tmp_path, text), facts) is expected

