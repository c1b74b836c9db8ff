"""Loading rules files: order, and every problem reported at once as file:line: message."""
from __future__ import annotations

import pytest

from syncd.errors import RuleError
from syncd.rules import load_rules

CHANNELS = ("staff", "escalations")
CATS = {"support": 5, "grades": 8, "payments": 9, "faq": 10}
GOOD = """rules:
  - name: ping
    on: topic_created
    then:
      - notify: staff
"""


def problems(tmp_path, text: str, name: str = "20-x.yaml", categories=CATS) -> list[str]:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(RuleError) as info:
        load_rules(str(path), CHANNELS, categories)
    return info.value.problems


def test_loads_a_folder_in_name_order(tmp_path):
    """A folder's *.yaml files load in name order, rules in file order; others are ignored."""
    (tmp_path / "20-b.yaml").write_text(GOOD.replace("ping", "b1") + GOOD[7:].replace("ping", "b2"))
    (tmp_path / "10-a.yaml").write_text(GOOD.replace("ping", "a"))
    (tmp_path / "notes.txt").write_text("not rules")
    rs = load_rules(str(tmp_path), CHANNELS, CATS)
    assert [r.name for r in rs.rules] == ["a", "b1", "b2"] and len(rs) == 3
    assert [f.rsplit("/", 1)[1] for f in rs.files] == ["10-a.yaml", "20-b.yaml"]
    assert rs.rules[0].once and not rs.rules[0].stop


def test_unknown_action_lists_valid_ones(tmp_path):
    """A typo in an action names the line, the action and the valid names."""
    text = GOOD.replace("- notify: staff", "- set_prio: high")
    [line] = problems(tmp_path, text)
    assert line.startswith(f"{tmp_path}/20-x.yaml:5: unknown action 'set_prio' "
                           "(did you mean 'set_priority'? valid: set_priority, set_status,")


def test_unknown_condition_and_key_and_event(tmp_path):
    """Unknown condition, rule key and event are each reported on their own line."""
    text = ("rules:\n  - name: r\n    on: topic_create\n    iff: {}\n    if:\n"
            "      titel_matches: x\n    then: [close_topic]\n")
    lines = problems(tmp_path, text)
    f = f"{tmp_path}/20-x.yaml"
    assert (f"{f}:4: unknown key 'iff' (did you mean 'if'? "
            "valid: name, description, on, if, then, once, stop)") in lines
    assert any(l.startswith(f"{f}:3: unknown event 'topic_create' (did you mean 'topic_created'?")
               for l in lines)
    assert any(l.startswith(f"{f}:6: unknown condition 'titel_matches' (did you mean "
                            "'title_matches'?") for l in lines)


def test_bad_regex(tmp_path):
    """A regex that does not compile is a load error naming its line."""
    text = GOOD.replace("    then:", "    if:\n      title_matches: '(?i)(marks'\n    then:")
    [line] = problems(tmp_path, text)
    assert line.startswith(f"{tmp_path}/20-x.yaml:5: title_matches: bad regular expression "
                           "'(?i)(marks': missing ), unterminated subpattern")


def test_template_syntax_error(tmp_path):
    """A template that does not parse is a load error, not a surprise at 3 a.m."""
    text = GOOD.replace("- notify: staff", "- reply: 'Hello {{ ticket.author }'")
    [line] = problems(tmp_path, text)
    assert line.startswith(f"{tmp_path}/20-x.yaml:5: reply: template syntax error on line 1 "
                           "of the template:")


def test_template_unknown_variable(tmp_path):
    """A template naming a variable that does not exist is refused at load time."""
    text = GOOD.replace("- notify: staff", "- reply: 'Hello {{ tiket.author }}'")
    assert problems(tmp_path, text) == [
        f"{tmp_path}/20-x.yaml:5: reply: unknown variable 'tiket' in template "
        "(valid: event, rule, similar, ticket)"]


def test_unknown_channel(tmp_path):
    """notify names a configured channel, in both the short and the long form."""
    text = GOOD.replace("- notify: staff", "- notify: stafff\n      - notify: {channel: ops}")
    assert problems(tmp_path, text) == [
        f"{tmp_path}/20-x.yaml:5: notify: unknown channel 'stafff' (channels: escalations, staff)",
        f"{tmp_path}/20-x.yaml:6: notify: unknown channel 'ops' (channels: escalations, staff)"]


def test_unknown_category_only_with_a_known_map(tmp_path):
    """A category slug missing from a known map is an error; with no map it is accepted."""
    text = GOOD.replace("    then:", "    if: {category: [grades, homework]}\n    then:")
    assert problems(tmp_path, text) == [
        f"{tmp_path}/20-x.yaml:4: category: unknown category 'homework' "
        "(known: faq, grades, payments, support)"]
    (tmp_path / "ok.yaml").write_text(text)
    assert len(load_rules(str(tmp_path / "ok.yaml"), CHANNELS, {})) == 1


def test_missing_then_and_on_and_name(tmp_path):
    """A rule without then, on or name says which one is missing."""
    text = "rules:\n  - name: r\n    on: topic_created\n  - description: x\n    then: [close_topic]\n"
    f = f"{tmp_path}/20-x.yaml"
    assert problems(tmp_path, text) == [
        f"{f}:2: rule 'r' has no 'then': list the actions it takes",
        f"{f}:4: this rule has no 'name' (every rule needs a unique name)",
        f"{f}:4: this rule has no 'on': name the event(s) it listens to"]


def test_duplicate_name_across_files(tmp_path):
    """A rule name used twice, even in two files, names both places."""
    (tmp_path / "10-a.yaml").write_text(GOOD)
    (tmp_path / "20-b.yaml").write_text("# same name\n" + GOOD)
    with pytest.raises(RuleError) as info:
        load_rules(str(tmp_path), CHANNELS, CATS)
    assert info.value.problems == [
        f"{tmp_path}/20-b.yaml:3: duplicate rule name 'ping' (first defined at "
        f"{tmp_path}/10-a.yaml:2)"]


def test_empty_file_and_empty_list(tmp_path):
    """An empty file, or an empty rules list, is a warning (contract): no rules, no error."""
    for name, text, expected in [
            ("20-x.yaml", "# nothing yet\n", "20-x.yaml:1: empty rules file: no rules from it"),
            ("30-y.yaml", "rules:\n#  - name: off\n", "30-y.yaml:1: 'rules' is empty: tickets "
                                                     "are tracked")]:
        path = tmp_path / name
        path.write_text(text)
        ruleset = load_rules(str(path), CHANNELS, CATS)
        assert len(ruleset) == 0
        assert ruleset.warnings[0].startswith(f"{tmp_path}/{expected}"), ruleset.warnings


def test_not_yaml(tmp_path):
    """A file that is not YAML names the line where parsing failed."""
    [line] = problems(tmp_path, "rules:\n  - name: r\n    on: [topic_created\n")
    assert line.startswith(f"{tmp_path}/20-x.yaml:") and "not valid YAML" in line


def test_not_a_mapping_of_rules(tmp_path):
    """A file that is YAML but not a rules mapping says what shape is expected."""
    assert problems(tmp_path, "- name: r\n") == [
        f"{tmp_path}/20-x.yaml:1: a rules file is a mapping with a 'rules:' list"]


def test_value_shapes_are_readable(tmp_path):
    """Schema errors read as sentences, never 'not valid under any of the given schemas'."""
    text = ("rules:\n  - name: r\n    on: topic_created\n    once: maybe\n    then:\n"
            "      - set_priority: urgnt\n      - notify: {chanel: staff}\n"
            "      - promote_faq: {category: faq, mode: cut}\n      - [reply]\n")
    lines = problems(tmp_path, text)
    f = f"{tmp_path}/20-x.yaml"
    assert f"{f}:6: set_priority: 'urgnt' is not one of ['low', 'normal', 'high', 'urgent']" in lines
    assert any(l.startswith(f"{f}:7: notify: ") and "'chanel'" in l for l in lines)
    assert f"{f}:8: promote_faq: 'cut' is not one of ['move', 'copy']" in lines
    assert f"{f}:9: each action is a mapping with one key, e.g. '- set_priority: high'" in lines
    assert f"{f}:4: 'once' must be true or false, not 'maybe'" in lines
    assert not any("any of the given schemas" in l for l in lines)


def test_every_problem_at_once(tmp_path):
    """Problems in several files are all reported in one error."""
    (tmp_path / "10-a.yaml").write_text(GOOD.replace("staff", "nobody"))
    (tmp_path / "20-b.yaml").write_text("rules: 5\n")
    with pytest.raises(RuleError) as info:
        load_rules(str(tmp_path), CHANNELS, CATS)
    assert len(info.value.problems) == 2


def test_missing_path(tmp_path):
    """A rules path that does not exist is one clear problem."""
    with pytest.raises(RuleError, match="rules file or folder not found"):
        load_rules(str(tmp_path / "nope"), CHANNELS, CATS)
