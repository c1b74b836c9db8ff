"""The command line: every command has help with an example; the pipeline commands work."""
from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner

from syncd.cli import main

from conftest import ROOT, SECRET, WEBHOOKS


def walk(group: click.Group, prefix=()):
    for name, cmd in sorted(group.commands.items()):
        yield prefix + (name,), cmd
        if isinstance(cmd, click.Group):
            yield from walk(cmd, prefix + (name,))


COMMANDS = [path for path, _ in walk(main)]


def test_contract_commands_exist():
    """Every command the contract lists is there."""
    for path in [("serve",), ("check",), ("tickets",), ("ticket",), ("replay",), ("backup",),
                 ("rules", "test"), ("rules", "schema"), ("outbox",), ("outbox", "retry"),
                 ("sync",)]:
        assert path in COMMANDS, f"syncd {' '.join(path)} is missing"


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) for p in COMMANDS])
def test_every_command_has_help_with_an_example(path):
    """`-h` works for every command and shows an Example."""
    result = CliRunner().invoke(main, [*path, "-h"])
    assert result.exit_code == 0, result.output
    assert "Example:" in result.output


@pytest.fixture
def config(tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"database: {tmp_path / 'syncd.db'}\nrules: {ROOT / 'rules'}\n"
                   f"discourse:\n  webhook_secret: {SECRET}\n  categories: [support]\n"
                   "  category_map: {support: 5, hardware: 7, grades: 8, payments: 9, faq: 10,"
                   " academic: 11}\n"
                   "channels:\n  staff: {type: gchat, url: ''}\n"
                   "  escalations: {type: gchat, url: ''}\n  faculty: {type: gchat, url: ''}\n")
    return str(cfg)


def run(config, *args):
    return CliRunner().invoke(main, ["--config", config, *args], catch_exceptions=False)


def test_replay_then_tickets_and_ticket(config):
    """replay feeds the samples through the pipeline; tickets and ticket show the result."""
    files = [str(WEBHOOKS / f"{n}.json") for n in
             ("topic_created", "post_created", "post_created_reply", "post_liked", "ping")]
    out = run(config, "replay", *files)
    assert out.exit_code == 0, out.output
    assert "topic_created.json: 202" in out.output and "ping.json: 200" in out.output
    again = run(config, "replay", files[0])
    assert '"duplicate"' in again.output
    listed = run(config, "tickets", "--json")
    ticket = json.loads(listed.output.splitlines()[0])
    for key in ("id", "title", "url", "category_id", "tags", "status", "priority", "visibility",
                "likes", "author", "created_at", "updated_at", "first_response_at",
                "resolved_at"):
        assert key in ticket
    assert (ticket["id"], ticket["status"], ticket["likes"]) == (1234, "answered", 1)
    assert "1234" in run(config, "tickets", "--status", "answered").output
    assert run(config, "tickets", "--status", "resolved").output.strip() == "no tickets"
    shown = run(config, "ticket", "1234")
    assert "post_liked" in shown.output and "history:" in shown.output


def test_ticket_that_does_not_exist_is_a_clear_error(config):
    """`syncd ticket 9` for an unknown id: exit 2 and what to do."""
    out = CliRunner().invoke(main, ["--config", config, "ticket", "9"])
    assert out.exit_code == 2 and "syncd tickets" in out.output


def test_backup_writes_a_copy_and_refuses_to_overwrite(config, tmp_path):
    """backup writes a database copy; a second backup to the same file is refused."""
    run(config, "replay", str(WEBHOOKS / "topic_created.json"))
    target = tmp_path / "b" / "copy.db"
    assert run(config, "backup", str(target)).exit_code == 0 and target.exists()
    again = CliRunner().invoke(main, ["--config", config, "backup", str(target)])
    assert again.exit_code == 2 and "exists" in again.output


def test_config_with_a_typo_exits_2_with_file_and_line(tmp_path):
    """A config typo: exit 2, one line naming file, line and key."""
    cfg = tmp_path / "config.yaml"
    cfg.write_text("timezone: UTC\nserver:\n  prot: 8080\n")
    out = CliRunner().invoke(main, ["--config", str(cfg), "tickets"])
    assert out.exit_code == 2
    assert f"{cfg}:3: unknown key 'prot' in server" in out.output


def test_check_summarises_a_good_config(config):
    """check prints the summary, the rules count and ok."""
    out = run(config, "check")
    assert out.exit_code == 0, out.output
    assert "rules:" in out.output and out.output.strip().endswith("ok")


def test_check_lists_every_rules_problem_and_exits_2(config, tmp_path):
    """check with broken rules: exit 2 and file:line problems."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "10-bad.yaml").write_text("rules:\n  - name: x\n    on: topic_created\n"
                                       "    then:\n      - set_prio: high\n")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(open(config).read().replace(str(ROOT / "rules"), str(rules)))
    out = CliRunner().invoke(main, ["--config", str(cfg), "check"])
    assert out.exit_code == 2 and "10-bad.yaml:5" in out.output and "set_prio" in out.output


def test_rules_test_says_when_serve_would_ignore_the_delivery(config, tmp_path):
    """A topic outside the ticket categories: rules test adds a note that serve ignores it."""
    body = json.loads((WEBHOOKS / "topic_created.json").read_text())
    body["body"]["topic"]["category_id"] = 42
    event = tmp_path / "elsewhere.json"
    event.write_text(json.dumps(body))
    out = run(config, "rules", "test", "--event", str(event))
    assert "serve would ignore this delivery: category 42" in out.output


def test_rules_test_uses_categories_remembered_in_the_database(tmp_path):
    """With category_map empty, slugs syncd learnt from Discourse still match offline."""
    from syncd.store import categories
    from syncd.store.db import open_db, transaction
    cfg = tmp_path / "config.yaml"
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: grades-private\n    on: topic_created\n"
                     "    if: {category: grades}\n    then:\n      - set_visibility: private\n")
    cfg.write_text(f"database: {tmp_path / 'syncd.db'}\nrules: {rules}\n"
                   "discourse:\n  categories: []\n  category_map: {}\n")
    with transaction(open_db(tmp_path / "syncd.db")) as conn:
        categories.remember(conn, {"grades": 8}, "discourse")
    body = json.loads((WEBHOOKS / "topic_created.json").read_text())
    body["body"]["topic"]["category_id"] = 8
    event = tmp_path / "grades.json"
    event.write_text(json.dumps(body))
    out = CliRunner().invoke(main, ["--config", str(cfg), "rules", "test", "--event", str(event)])
    assert out.exit_code == 0 and "grades-private" in out.output, out.output
