"""YAML traps in rules and config: a value cut at ' #', an unquoted {{, errors on the right line."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from syncd.cli import main
from syncd.errors import ConfigError, RuleError
from syncd.processor import Processor
from syncd.rules import load_rules
from syncd.rules.reloader import RulesHolder
from syncd.service import prepare
from syncd.store import deliveries, tickets as ticketstore
from syncd.store.db import transaction
from syncd.yamlsrc import load

from conftest import make_settings, signed_sample

RULE = "rules:\n  - name: ping\n    on: topic_created\n    then:\n      - notify:\n" \
       "          channel: staff\n"


def rules_file(tmp_path, text: str):
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    return path


def test_value_cut_by_a_comment_is_a_warning_on_its_line(tmp_path):
    """`text: New ticket #{{ ticket.id }}` loads, with a warning naming the line and the cut."""
    path = rules_file(tmp_path, RULE + "          text: New ticket #{{ ticket.id }}\n")
    ruleset = load_rules(path, ["staff"])
    [warning] = ruleset.warnings
    assert warning.startswith(f"{path}:7: the value ends before ' #'")
    assert "'New ticket'" in warning and '"New ticket #{{ ticket.id }}"' in warning


def test_an_ordinary_comment_is_not_a_trap():
    """A comment after two spaces, or '# ' with a space, is what the admin meant."""
    src = load("a: x  # note\nb: y # note\nc: '#1'\nd: z #\n", "c.yaml")
    assert src.warnings == [] and src.data["c"] == "#1"


def test_unquoted_braces_are_an_error_with_a_hint(tmp_path):
    """`text: {{ ticket.title }}` names its line and says to quote it."""
    path = rules_file(tmp_path, RULE + "          text: {{ ticket.title }}\n")
    with pytest.raises(RuleError) as err:
        load_rules(path, ["staff"])
    [problem] = err.value.problems
    assert problem.startswith(f"{path}:7: ") and "quote a value that starts with {{" in problem


def test_braces_followed_by_text_point_at_the_braces_line():
    """PyYAML reports a later line; the problem names the line the mistake is on."""
    text = "rules:\n  - name: a\n    text: {{ ticket.title\n      }} more\n    b: 1\n"
    with pytest.raises(ConfigError) as err:
        load(text, "r.yaml")
    [problem] = err.value.problems
    assert problem.startswith("r.yaml:3: not valid YAML") and "quote a value" in problem


def test_unclosed_quote_points_where_it_opens():
    """An unclosed quote is reported where the value starts, not at the end of the file."""
    with pytest.raises(ConfigError) as err:
        load('a: 1\nb: "hello\nc: 3\nd: 4\n', "c.yaml")
    assert err.value.problems[0].startswith("c.yaml:2: not valid YAML: this quoted value is never closed")


def test_colon_in_a_value_says_to_quote_it():
    """`text: Note: x` is the other classic: the hint says to quote a value with ': '."""
    with pytest.raises(ConfigError) as err:
        load("rules:\n  - text: Note: the printer\n", "r.yaml")
    assert "quote a value that contains ': '" in err.value.problems[0]


def _config(tmp_path, rules_text: str):
    rules = tmp_path / "rules.yaml"
    rules.write_text(rules_text)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"database: {tmp_path / 'syncd.db'}\nrules: {rules}\n"
                   "channels:\n  staff: {type: log}\n")
    return cfg


def test_check_prints_warnings_and_still_passes(tmp_path):
    """`syncd check` shows the ' #' warning and exits 0."""
    cfg = _config(tmp_path, RULE + "          text: New ticket #{{ ticket.id }}\n")
    out = CliRunner().invoke(main, ["--config", str(cfg), "check"])
    assert out.exit_code == 0, out.output
    assert "warning: " in out.output and ":7: the value ends before ' #'" in out.output


def test_check_with_every_rule_commented_out_warns_and_passes(tmp_path):
    """An empty rules list is a warning (contract), so check exits 0."""
    cfg = _config(tmp_path, "rules:\n#  - name: ping\n#    on: topic_created\n")
    out = CliRunner().invoke(main, ["--config", str(cfg), "check"])
    assert out.exit_code == 0, out.output
    assert "'rules' is empty" in out.output and "rules: 0 loaded" in out.output


def test_empty_rules_still_track_tickets(tmp_path):
    """With every rule commented out, serve's processor still makes tickets (no actions)."""
    path = rules_file(tmp_path, "rules:\n#  - name: off\n")
    settings = make_settings(tmp_path)
    store, _ = prepare(settings)
    holder = RulesHolder(path, ["staff"])
    assert holder.current is not None and len(holder.current) == 0
    headers, raw = signed_sample("topic_created")
    with transaction(store.db()) as conn:
        deliveries.store(conn, headers, raw, 1234)
    processor = Processor(settings, store, holder)
    for _ in range(5):
        if not processor.run_once():
            break
    ticket = ticketstore.load(store.db().conn, 1234)
    assert ticket is not None and ticket.title
    assert ticketstore.actions(store.db().conn, 1234) == []


def test_rules_test_shows_the_cut_warning_too(tmp_path):
    """`syncd rules test` prints the ' #' warning before what the rules would do."""
    from conftest import WEBHOOKS
    rules = rules_file(tmp_path, RULE + "          text: New ticket #{{ ticket.id }}\n")
    out = CliRunner().invoke(main, ["--config", str(tmp_path / "none.yaml"), "rules", "test",
                                    "--rules", str(rules), "--event",
                                    str(WEBHOOKS / "topic_created.json")])
    assert out.exit_code == 0, out.output
    assert "warning: " in out.stderr and ":7: the value ends before ' #'" in out.stderr
