"""The forum's version: from every delivery's User-Agent and /about.json, remembered, shown."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from conftest import make_settings, signed_sample
from syncd.cli import main
from syncd.core import version
from syncd.inbox.http import Receiver, create_app
from syncd.processor import Processor
from syncd.replay import signed
from syncd.service import prepare
from syncd.store import site

from conftest import SECRET


@pytest.mark.parametrize("text, numbers, objects", [
    ("3.4.2", (3, 4, 2), False), ("3.6.0.beta1-dev", (3, 6, 0), False),
    ("2.0.0.beta10", (2, 0, 0), False), ("2026.1.0", (2026, 1, 0), True),
    ("2026.2.0-latest", (2026, 2, 0), True), ("2025.12.1", (2025, 12, 1), False),
])
def test_versions_parse_and_choose_the_tag_format(text, numbers, objects):
    """Semver with pre-releases and calendar versions parse; 2026.1 and later take tag objects."""
    assert version.parse(text) == numbers
    assert version.tag_objects(text) is objects


def test_user_agent_names_the_version_and_nothing_else_does():
    """Only ``Discourse/<version>`` counts; an unknown version gets tag names."""
    assert version.from_user_agent("Discourse/2026.3.0-latest") == "2026.3.0-latest"
    assert version.from_user_agent("python-requests/2.31") is None
    assert version.from_user_agent(None) is None and version.tag_objects(None) is False


def _deliver(client, name, agent, event_id):
    headers, raw = signed_sample(name, event_id=event_id)
    headers = signed({**headers, "User-Agent": agent}, raw, SECRET)
    assert client.post("/webhooks/discourse", data=raw, headers=headers).status_code == 202


def test_every_delivery_updates_the_version_shown_by_healthz_and_check(tmp_path):
    """A delivery from Discourse/3.4.2 is remembered when processed; the forum upgrades and the
    next delivery says 2026.2.0-latest; /healthz and `syncd check` show it."""
    settings = make_settings(tmp_path)
    store, secret = prepare(settings)
    client = create_app(Receiver(settings, store, secret)).test_client()
    processor = Processor(settings, store)
    assert client.get("/healthz").get_json()["discourse_version"] is None
    _deliver(client, "topic_created", "Discourse/3.4.2", "1")
    processor.run_once()
    assert client.get("/healthz").get_json()["discourse_version"] == "3.4.2"
    _deliver(client, "post_created", "Discourse/2026.2.0-latest", "2")
    processor.run_once()
    assert site.version_info(store.db().conn)["source"] == "webhook User-Agent"
    assert client.get("/healthz").get_json()["discourse_version"] == "2026.2.0-latest"
    (tmp_path / "rules").mkdir()
    cfg = tmp_path / "check.yaml"
    cfg.write_text(f"database: {tmp_path / 'syncd.db'}\nrules: {tmp_path / 'rules'}\n"
                   f"discourse:\n  webhook_secret: {SECRET}\n")
    out = CliRunner().invoke(main, ["--config", str(cfg), "check"])
    assert "discourse version: 2026.2.0-latest" in out.output, out.output
    assert "tags sent as tag objects" in out.output
