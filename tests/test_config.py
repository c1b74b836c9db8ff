"""Configuration: the example validates, env interpolation, errors with file:line."""
from __future__ import annotations

import pytest

from syncd.config import load_settings, settings_from_text
from syncd.errors import ConfigError

from conftest import ROOT


def test_example_config_validates():
    """config.example.yaml loads with an empty environment (dry-run everywhere)."""
    s = load_settings(str(ROOT / "config.example.yaml"), env={})
    assert s.discourse.dry_run and all(ch.dry_run for ch in s.channels.values())
    assert s.timezone == "Asia/Kolkata"
    assert s.discourse.categories == ("support", "hardware", "grades", "payments", "academic")


def test_environment_interpolation_with_defaults():
    """${VAR} reads the environment; ${VAR:-default} falls back; numbers stay numbers."""
    s = settings_from_text("database: ${DB:-./x.db}\nserver:\n  port: ${PORT}\n"
                           "discourse: {url: '${URL}'}\n",
                           env={"PORT": "9001", "URL": "https://forum.example.com/"})
    assert s.database == "./x.db" and s.server.port == 9001
    assert s.discourse.url == "https://forum.example.com" and not s.discourse.dry_run


def test_unset_variable_without_default_is_an_error_with_line():
    """An unset ${VAR} names the file, the line and the variable."""
    with pytest.raises(ConfigError) as err:
        settings_from_text("timezone: UTC\ndatabase: ${NOPE}\n", "c.yaml", env={})
    assert err.value.problems == [
        "c.yaml:2: environment variable NOPE is not set (set it, or write ${NOPE:-default})"]


@pytest.mark.parametrize("text, expected", [
    ("timezone: Mars/Base\n", "c.yaml:1: 'timezone' must be an IANA time zone"),
    ("server:\n  hots: x\n", "c.yaml:2: unknown key 'hots' in server (valid: "),
    ("server: {port: 70000}\n", "c.yaml:1: 'server.port' must be a port number"),
    ("discourse:\n  url: forum.example.com\n", "c.yaml:2: 'discourse.url' must be an http(s) URL"),
    ("channels:\n  staff: {type: pager}\n", "c.yaml:2: unknown channel type 'pager'"),
    ("discourse:\n  categories: support\n", "c.yaml:2: 'discourse.categories' must be a list"),
    ("databse: x\n", "c.yaml:1: unknown key 'databse' in the top level"),
    ("a: [1\n", "c.yaml:2: not valid YAML"),
    ("server: {port: 1}\nserver: {port: 2}\n", "c.yaml:2: key 'server' appears twice"),
])
def test_config_problems_name_file_and_line(text, expected):
    """Each kind of mistake gives one line with file, line and key."""
    with pytest.raises(ConfigError) as err:
        settings_from_text(text, "c.yaml", env={})
    assert any(p.startswith(expected) for p in err.value.problems), err.value.problems


def test_every_problem_is_reported_at_once():
    """Several mistakes: all of them are listed."""
    with pytest.raises(ConfigError) as err:
        settings_from_text("timezone: X/Y\nserver: {port: -1}\nfoo: 1\n", "c.yaml", env={})
    assert len(err.value.problems) == 3


def test_secrets_are_never_echoed():
    """A bad secret or chat URL is reported without its value."""
    with pytest.raises(ConfigError) as err:
        settings_from_text("discourse: {webhook_secret: short-pw}\n"
                           "channels: {staff: {url: 'ftp://chat.example/key=SECRETKEY'}}\n",
                           "c.yaml", env={})
    text = str(err.value)
    assert "short-pw" not in text and "SECRETKEY" not in text and "hidden" in text


def test_missing_file_is_a_clear_error(tmp_path):
    """A missing config file names the path."""
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(str(tmp_path / "nope.yaml"))
