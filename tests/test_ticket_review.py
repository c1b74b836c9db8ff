"""Dry-run text can be reviewed: `syncd ticket ID` shows the whole rendered text of each action."""
from __future__ import annotations

import io
import json

from click.testing import CliRunner

from syncd import logs
from syncd.cli import main
from syncd.outbox.workers import make_workers
from syncd.processor import Processor
from syncd.rules.reloader import RulesHolder
from syncd.service import prepare
from syncd.store import deliveries
from syncd.store.db import transaction

from syncd.config import load_settings

from conftest import SECRET, signed_sample

LONG = "Thanks for asking. " * 30          # 570 characters: longer than any log cut
RULES = ("rules:\n  - name: welcome\n    on: topic_created\n    then:\n"
         f"      - reply: \"{LONG}#{{{{ ticket.id }}}} {{{{ ticket.title }}}}\"\n"
         "      - notify:\n          channel: staff\n"
         f"          text: \"{LONG}(notify)\"\n")


def processed(tmp_path):
    (tmp_path / "rules.yaml").write_text(RULES)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"database: {tmp_path / 'syncd.db'}\nrules: {tmp_path / 'rules.yaml'}\n"
                   f"discourse: {{webhook_secret: {SECRET}, category_map: {{support: 5}}}}\n"
                   "channels:\n  staff: {type: gchat}\n"
                   "processor: {announce_within_hours: 100000}\n")   # the sample is from March
    settings = load_settings(str(cfg), env={})
    store, _ = prepare(settings)
    for name in ("topic_created", "post_created"):
        headers, raw = signed_sample(name)
        with transaction(store.db()) as conn:
            deliveries.store(conn, headers, raw, 1234)
    processor = Processor(settings, store, RulesHolder(tmp_path / "rules.yaml", ["staff"]))
    for _ in range(5):
        if not processor.run_once():
            break
    return settings, store


def test_ticket_json_shows_the_whole_text_of_each_action(tmp_path):
    """--json: each action with its params and the whole text it sends."""
    settings, _ = processed(tmp_path)
    out = CliRunner().invoke(main, ["--config", settings.path, "ticket", "1234", "--json"])
    assert out.exit_code == 0, out.output
    actions = {a["kind"]: a for a in json.loads(out.stdout)["actions"]}
    assert actions["reply"]["text"].startswith(LONG) and "#1234 " in actions["reply"]["text"]
    assert actions["notify"]["text"] == LONG + "(notify)"
    assert actions["notify"]["params"]["channel"] == "staff"


def test_ticket_text_output_shows_the_whole_text(tmp_path):
    """Without --json the text is printed under its action, whole."""
    settings, _ = processed(tmp_path)
    out = CliRunner().invoke(main, ["--config", settings.path, "ticket", "1234"])
    assert out.exit_code == 0, out.output
    assert LONG.strip() in out.output and "(notify)" in out.output


def test_log_cut_points_at_the_command(tmp_path):
    """A dry-run Discourse action's long text is cut in the log with where to read it whole."""
    settings, store = processed(tmp_path)
    stream = io.StringIO()
    logs.configure("json", stream=stream)
    worker = make_workers(settings, store)[0]
    for _ in range(4):
        worker.run_once()
    line = next(json.loads(x) for x in stream.getvalue().splitlines()
                if "dry_run_discourse_action" in x)
    assert "(cut: `syncd ticket 1234 --json` shows it whole)" in line["params"]["raw"]
