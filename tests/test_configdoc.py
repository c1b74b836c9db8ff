"""docs/configuration.md is generated from config.SCHEMA and cannot drift from it."""
from __future__ import annotations

from click.testing import CliRunner

from syncd import config
from syncd.cli import main
from syncd.configdoc import entries, reference

from conftest import ROOT

DOC = ROOT / "docs" / "configuration.md"


def test_configuration_reference_is_current():
    """The committed reference is exactly what the schema generates (regenerate on change)."""
    assert DOC.read_text(encoding="utf-8") == reference(), (
        "docs/configuration.md is out of date: run "
        "`.venv/bin/python -m syncd.configdoc > docs/configuration.md`")


def test_every_key_has_a_description_and_is_documented():
    """Each schema entry is (check, default, description) and appears in the reference."""
    text = reference()
    leaves = list(entries(config.SCHEMA)) + list(entries(config.CHANNEL_SCHEMA, ("channels", "NAME")))
    missing = [dotted for dotted, _, _, description in leaves if not description.strip()]
    assert not missing, f"keys without a description in config.SCHEMA: {missing}"
    for dotted, *_ in leaves:
        assert f"| `{dotted}` |" in text


def test_issue_keys_are_documented():
    """The keys admins could not find before (issue 10) are in the reference."""
    text = DOC.read_text(encoding="utf-8")
    for key in ("log_format", "server.threads", "server.max_body_bytes",
                "discourse.timeout_seconds", "discourse.delivery_share",
                "discourse.reconcile_share", "outbox.max_attempts", "reconcile.on_start",
                "channels.NAME.messages_per_minute", "backup.every"):
        assert f"`{key}`" in text, key
    assert "- `log`:" in text


def test_config_reference_command_prints_the_reference():
    """`syncd config reference` prints the same text as the generator."""
    result = CliRunner().invoke(main, ["config", "reference"])
    assert result.exit_code == 0 and result.output == reference()


def test_reference_names_what_each_key_takes():
    """The value column comes from the checks themselves (no hand-kept list)."""
    text = reference()
    assert "| `server.port` | `8080` | a port number |" in text
    assert "an http(s) URL, or empty" in text


def test_config_show_prints_settings_in_effect_with_secrets_masked(tmp_path):
    """`syncd config show`: defaults filled in, URLs masked, secrets as (set), restart keys noted."""
    cfg = tmp_path / "config.yaml"
    cfg.write_text("discourse: {url: 'https://forum.example.edu', api_key: 'SECRETKEY123',"
                   " webhook_secret: 'super-secret-value-1'}\n"
                   "channels: {staff: {type: gchat, url: 'https://chat.googleapis.com/v1/"
                   "spaces/AAAA/messages?key=K1&token=T1'}}\n")
    out = CliRunner().invoke(main, ["--config", str(cfg), "config", "show"])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert "discourse.api_key = (set)  (restart to change)" in lines
    assert "channels.staff.url = https://chat.googleapis.com/v1/spaces/AAAA/***" \
           "?key=***&token=***" in lines
    assert "server.port = 8080  (restart to change)" in lines and "timezone = UTC" in lines
    assert "SECRETKEY123" not in out.output and "super-secret" not in out.output
