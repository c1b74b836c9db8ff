"""`syncd rules test` on every recorded delivery in webhooks/ against the default rules."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from syncd.cli import main
from syncd.core.tickets import Ticket

ROOT = Path(__file__).resolve().parent.parent
WEBHOOKS = ROOT / "webhooks"
SAMPLES = sorted(WEBHOOKS.glob("*.json"))
# The ticket of the samples' story once topic_created and its first post are in.
STORY = Ticket(id=1234, title="Printer jams on duplex jobs", slug="printer-jams-on-duplex-jobs",
               category_id=5, tags=("printer",), author="alice", author_id=42,
               created_at="2026-03-02T09:14:07.512Z", body="The printer jams on every duplex job.")


@pytest.fixture
def config(tmp_path):
    text = (ROOT / "config.example.yaml").read_text()
    text = text.replace("rules: ./rules", f"rules: {ROOT / 'rules'}")
    text = text.replace("${SYNCD_DB:-./data/syncd.db}", str(tmp_path / "never-opened.db"))
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def run(config, event, ticket: dict | None = None, *extra, tmp_path=None):
    args = ["--config", str(config), "rules", "test", "--event", str(event), "--json",
            "--now", "2026-03-02T12:00:00Z", *extra]
    if ticket is not None:
        tfile = Path(config).parent / "ticket.json"
        tfile.write_text(json.dumps(ticket))
        args += ["--ticket", str(tfile)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    lines = [json.loads(l) for l in result.stdout.splitlines() if l.strip()]
    return [(l["rule"], [a["kind"] for a in l["actions"]]) for l in lines], lines


def story(**kw) -> dict:
    from dataclasses import replace
    return replace(STORY, **kw).as_dict()


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_every_sample_runs(config, sample):
    """Every recorded delivery runs through rules test without error, with or without a ticket."""
    run(config, sample)
    run(config, sample, story())


def test_topic_created_pings_staff_and_acknowledges(config):
    """A new ticket pings the staff (with its time, in the configured zone) and gets a reply."""
    fired, lines = run(config, WEBHOOKS / "topic_created.json")
    assert fired == [("new-ticket-pings-staff", ["notify", "notify"]),   # staff, subscribers
                     ("acknowledge-new-ticket", ["reply"])]
    notify = lines[0]["actions"][0]["params"]
    assert notify["channel"] == "staff" and "2026-03-02 14:44 IST" in notify["text"]
    assert notify["ticket"]["category"] == "support" and notify["private"] is False
    assert notify["ticket"]["url"] == "https://forum.example.com/t/printer-jams-on-duplex-jobs/1234"
    assert lines[1]["actions"][0]["params"]["raw"].startswith("Thanks @alice")


def test_grades_topic_becomes_private(config, tmp_path):
    """A topic in a personal-data category is made private and the staff told (bare body)."""
    body = json.loads((WEBHOOKS / "topic_created.json").read_text())["body"]
    body["topic"]["category_id"] = 8
    path = tmp_path / "grades.json"
    path.write_text(json.dumps(body))
    fired, lines = run(config, path)
    assert fired[0] == ("personal-data-is-private", ["set_visibility", "notify"])
    assert lines[0]["actions"][0]["params"] == {"visibility": "private"}


@pytest.mark.parametrize("likes,expected", [
    (1, []),
    (2, [("three-likes-make-it-high", ["set_priority"]), ("escalate-high", ["notify"])]),
])
def test_third_like_raises_priority_and_escalates(config, likes, expected):
    """The third like (carol's) makes the ticket high, which escalates."""
    fired, lines = run(config, WEBHOOKS / "post_liked.json", story(likes=likes))
    assert fired == expected
    if expected:
        assert lines[1]["actions"][0]["params"]["channel"] == "escalations"


def test_accepted_solution_messages_author_and_notes_staff(config):
    """Accepting a solution messages the author privately and notes it for the staff."""
    fired, lines = run(config, WEBHOOKS / "accepted_solution.json", story(likes=1))
    assert fired == [("solution-thanks-author", ["message_author"]),
                     ("solution-note-for-staff", ["notify"])]
    assert lines[0]["actions"][0]["params"]["username"] == "alice"


def test_popular_solution_is_promoted_to_faq(config):
    """A solved ticket with five likes is promoted to the FAQ category."""
    fired, lines = run(config, WEBHOOKS / "accepted_solution.json", story(likes=5))
    assert ("promote-popular-solutions", ["promote_faq", "notify"]) in fired
    promote = next(l for l in lines if l["rule"] == "promote-popular-solutions")["actions"][0]
    assert promote["params"]["category"] == "faq" and promote["params"]["category_id"] == 10
    assert promote["params"]["accepted_post_id"] == 5678


def test_urgent_tag_escalates(config, tmp_path):
    """A moderator adding the urgent tag makes the ticket urgent and escalates it."""
    data = json.loads((WEBHOOKS / "topic_edited.json").read_text())
    data["body"]["topic"]["tags"].append({"id": 99, "name": "urgent", "slug": "urgent"})
    path = tmp_path / "tagged.json"
    path.write_text(json.dumps(data))
    fired, _ = run(config, path, story())
    assert fired == [("urgent-tag-from-moderators", ["set_priority"]),
                     ("escalate-urgent", ["notify", "notify"])]   # add_tags skipped: already tagged


def test_urgent_words_in_new_topic(config, tmp_path):
    """Urgent words in a new topic's title make it urgent and escalate it."""
    data = json.loads((WEBHOOKS / "topic_created.json").read_text())
    data["body"]["topic"]["title"] = "URGENT: exam tomorrow and the portal is down"
    path = tmp_path / "urgent.json"
    path.write_text(json.dumps(data))
    fired, _ = run(config, path)
    assert ("urgent-words-in-title", ["set_priority"]) in fired
    assert ("escalate-urgent", ["notify", "notify", "add_tags"]) in fired


def test_event_name_override_and_human_output(config, tmp_path):
    """--event-name overrides the inferred event; without --json the output is for people."""
    body = json.loads((WEBHOOKS / "topic_created.json").read_text())["body"]
    path = tmp_path / "body.json"
    path.write_text(json.dumps(body))
    result = CliRunner().invoke(main, ["--config", str(config), "rules", "test", "--event",
                                       str(path), "--event-name", "topic_edited"])
    assert result.exit_code == 0 and "no rule matched" in result.output


def test_works_without_a_config_file(tmp_path, monkeypatch):
    """Without a config file, rules test falls back to the defaults."""
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(main, ["--config", str(tmp_path / "none.yaml"), "rules", "test",
                                       "--event", str(WEBHOOKS / "topic_created.json"), "--json"])
    assert result.exit_code == 0, result.output
    assert "new-ticket-pings-staff" in result.stdout


def test_bad_rules_exit_2_with_file_and_line(config, tmp_path):
    """A broken rules file: exit 2, one file:line line per problem."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - name: x\n    on: topic_created\n    then:\n      - set_prio: high\n")
    result = CliRunner().invoke(main, ["--config", str(config), "rules", "test", "--event",
                                       str(WEBHOOKS / "topic_created.json"), "--rules", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:5: unknown action 'set_prio'" in result.output


def test_schema_command_prints_the_shipped_schema():
    """`syncd rules schema` prints the JSON Schema that ships in the package."""
    result = CliRunner().invoke(main, ["rules", "schema"])
    assert json.loads(result.output)["title"] == "syncd rules file"


@pytest.mark.parametrize("args", [["rules"], ["rules", "test"], ["rules", "schema"]])
def test_commands_have_help_with_example(args):
    """Every rules command answers -h with an example."""
    result = CliRunner().invoke(main, args + ["-h"])
    assert result.exit_code == 0 and "Example:" in result.output


def test_a_ticket_file_with_wrong_types_is_a_clear_error(tmp_path):
    """--ticket with likes "x": exit 2 naming the field, no traceback."""
    from click.testing import CliRunner
    from syncd.cli import main
    ticket = tmp_path / "t.json"
    ticket.write_text('{"id": 1234, "likes": "x", "priority": "asap"}')
    out = CliRunner().invoke(main, ["--config", str(tmp_path / "none.yaml"), "rules", "test",
                                    "--event", "webhooks/post_liked.json", "--ticket", str(ticket)])
    assert out.exit_code == 2
    assert "'likes' must be a whole number" in out.output and "'priority' must be one of" in out.output


def test_an_event_file_syncd_cannot_read_is_exit_2(tmp_path):
    """A body whose root key is not topic/post/like/solved: exit 2 with the reason."""
    from click.testing import CliRunner
    from syncd.cli import main
    event = tmp_path / "e.json"
    event.write_text('{"foo": 1}')
    out = CliRunner().invoke(main, ["--config", str(tmp_path / "none.yaml"), "rules", "test",
                                    "--event", str(event)])
    assert out.exit_code == 2 and "not 'foo'" in out.output
