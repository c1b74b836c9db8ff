"""Template names are checked at load against the real fields; a missing name never renders blank."""
from __future__ import annotations

from dataclasses import fields

import pytest

from syncd.core.tickets import Ticket
from syncd.errors import RuleError
from syncd.rules import load_rules
from syncd.rules.actions import template_fields
from syncd.rules.templates import TemplateFailed, compile_template


def write(tmp_path, text: str):
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    return path


def problems_of(tmp_path, text: str) -> list[str]:
    with pytest.raises(RuleError) as err:
        load_rules(write(tmp_path, text), channels=["staff"])
    return err.value.problems


def test_misspelt_ticket_field_is_a_load_error_with_file_line_and_hint(tmp_path):
    """`{{ ticket.titel }}` fails at load, on the text's line, suggesting 'title'."""
    problems = problems_of(tmp_path, (
        "rules:\n"
        "  - name: ping\n"
        "    on: topic_created\n"
        "    then:\n"
        "      - notify:\n"
        "          channel: staff\n"
        "          text: 'New: {{ ticket.titel }}'\n"))
    path = tmp_path / "rules.yaml"
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:7: ")
    assert "unknown field 'titel' (did you mean 'title'?)" in problems[0]


@pytest.mark.parametrize("text, bad, hint", [
    ("{{ event.actr }}", "actr", "actor"),
    ("{{ rule.nme }}", "nme", "name"),
    ("{{ ticket['prority'] }}", "prority", "priority"),
    ("{% if ticket.stauts == 'open' %}x{% endif %}", "stauts", "status"),
    ("{% for t in similar %}{{ t.titl }}{% endfor %}", "titl", "title"),
])
def test_every_variable_and_form_is_checked(tmp_path, text, bad, hint):
    """event, rule, subscripts, conditions and loops over similar are all checked."""
    problems = problems_of(tmp_path, (
        "rules:\n  - name: r\n    on: topic_created\n    then:\n"
        f"      - reply: \"{text}\"\n"))
    assert f"unknown field '{bad}' (did you mean '{hint}'?)" in problems[0]


def test_real_fields_load(tmp_path):
    """Every real field of ticket, event, rule and a similar ticket loads without a problem."""
    ticket = " ".join("{{ ticket.%s }}" % f for f in sorted(template_fields()["ticket"]))
    write(tmp_path, ("rules:\n  - name: r\n    on: topic_created\n    then:\n"
                     f"      - reply: \"{ticket} {{{{ event.actor }}}} {{{{ rule.name }}}} "
                     "{% for t in similar %}{{ t.url }}{% endfor %}\"\n"))
    assert len(load_rules(tmp_path / "rules.yaml")) == 1


def test_fields_follow_the_ticket_dataclass():
    """The allowed names come from the ticket as templates see it (as_dict), not a hand list."""
    as_dict = set(Ticket(id=1).as_dict())
    assert as_dict <= template_fields()["ticket"]
    assert "category" in template_fields()["ticket"]     # added by the planner
    assert {f.name for f in fields(Ticket)} & as_dict >= {"title", "priority", "tags"}


def test_undefined_name_at_render_is_an_error_not_a_blank():
    """A name missing at render time (data without the field) raises, never renders ''."""
    t = compile_template("Hello {{ ticket.requester }}")
    with pytest.raises(TemplateFailed, match="UndefinedError"):
        t.render({"ticket": {"id": 1}, "event": {}, "rule": {}, "similar": []})


def test_none_values_still_render():
    """A field that exists but is empty (None) still renders, and can be tested."""
    t = compile_template("{{ ticket.resolved_at or 'not yet' }}|{{ ticket.url }}")
    assert t.render({"ticket": {"resolved_at": None, "url": None}}) == "not yet|None"


def test_a_field_added_to_the_ticket_appears_by_itself(tmp_path, monkeypatch):
    """A new field in Ticket.as_dict (another branch's 'assignee') is allowed with no list to edit."""
    from syncd.rules import actions
    original = Ticket.as_dict
    monkeypatch.setattr(Ticket, "as_dict", lambda self: {**original(self), "assignee": None})
    monkeypatch.setattr(actions, "_FIELDS", None)
    write(tmp_path, "rules:\n  - name: r\n    on: topic_created\n    then:\n"
                    "      - reply: 'for {{ ticket.assignee }}'\n")
    assert len(load_rules(tmp_path / "rules.yaml")) == 1
    monkeypatch.setattr(actions, "_FIELDS", None)


def test_scheduled_rule_event_is_a_summary_but_ticket_names_are_still_checked(tmp_path):
    """A scheduled rule's event has summary fields (event.total): not refused; ticket typos are."""
    text = ("rules:\n  - name: morning\n    on: {schedule: \"daily 10:00\"}\n    then:\n"
            "      - notify: {channel: staff, text: \"{{ event.total }} open\"}\n")
    assert len(load_rules(write(tmp_path, text), channels=["staff"])) == 1
    problems = problems_of(tmp_path, text.replace("open", "{{ ticket.titel }}"))
    assert "unknown field 'titel' (did you mean 'title'?)" in problems[0]
