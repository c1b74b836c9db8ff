"""Channel types are plugins: the ``syncd.channels`` entry-point group holds the built-in
ones and a separate package's (tests/plugins/syncd-echo-channel, installed by make install)."""
from __future__ import annotations

import importlib.metadata
import json

import pytest

from standins import StandIn
from standins.outbox import channel_settings, done, drain, notify, outbox_rows, workers
from syncd import channels
from syncd.errors import ConfigError

BUILT_IN = {"gchat", "log", "slack", "teams", "email", "trello", "sqs", "s3", "webhook"}


class EchoServer(StandIn):
    def __init__(self):
        super().__init__()
        self.lines, self.status = [], 200

    def handle(self, method, path, query, headers, body):
        if self.status != 200:
            return self.status, {}, b"no"
        self.lines.append(json.loads(body)["line"])
        return 200, {"Content-Type": "application/json"}, {"ok": len(self.lines)}


def _entry_points():
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=channels.GROUP)}


def test_every_built_in_type_registers_through_the_entry_point_group():
    """syncd's own types are entry points of the syncd distribution, like any plugin's."""
    eps = _entry_points()
    assert BUILT_IN <= set(eps), "run `make install`: syncd's entry points are not installed"
    assert all(eps[name].dist.metadata["Name"] == "syncd" for name in BUILT_IN)
    assert BUILT_IN <= set(channels.types())
    assert {channels.ORIGIN[name] for name in BUILT_IN} == {"syncd"}


def test_a_separate_package_adds_the_echo_type():
    """The test plugin's package provides `echo`; syncd lists it with the others."""
    eps = _entry_points()
    assert "echo" in eps, "run `make install`: it installs tests/plugins/syncd-echo-channel"
    assert eps["echo"].dist.metadata["Name"] == "syncd-echo-channel"
    assert "echo" in channels.types() and channels.ORIGIN["echo"] == "syncd-echo-channel"


def test_the_plugin_delivers_through_the_outbox(tmp_path):
    """An echo channel is validated with its own CONFIG and sends from the outbox."""
    with EchoServer() as echo:
        settings = channel_settings(tmp_path, f"  e: {{type: echo, url: '{echo.base_url}/x', prefix: hi}}")
        assert settings.channels["e"].options == {"prefix": "hi"}
        notify(settings, 42, "e")
        drain(workers(settings), lambda: done(settings))
        assert echo.lines == ["hi: #42 Printer 42 on fire"]
        assert outbox_rows(settings)[0]["result"] == {"echoed": {"ok": 1}}


def test_the_plugins_classify_sorts_its_own_errors(tmp_path):
    """What send lets out goes through the plugin's classify: 400 dead, 503 retried."""
    with EchoServer() as echo:
        settings = channel_settings(tmp_path, f"  e: {{type: echo, url: '{echo.base_url}/x'}}")
        echo.status = 503
        notify(settings, 1, "e")
        ws = workers(settings)
        ws[0].run_once()
        assert outbox_rows(settings)[0]["status"] == "pending"
        echo.status = 400
        drain(ws, lambda: done(settings))
        row = outbox_rows(settings)[0]
        assert row["status"] == "dead" and "the echo server refused it (400)" in row["last_error"]


def test_the_plugins_config_errors_name_the_line_and_the_valid_keys(tmp_path):
    """A bad value of a plugin's own key, and an unknown key, are file:line errors."""
    with pytest.raises(ConfigError) as err:
        channel_settings(tmp_path, "  e: {type: echo, prefix: ''}\n  f: {type: echo, colour: red}")
    text = str(err.value)
    assert "config.yaml:7: 'channels.e.prefix' must be a word" in text
    assert "config.yaml:8: unknown key 'colour' in channels.f" in text and "prefix" in text


def test_a_broken_plugin_is_reported_not_fatal(tmp_path, monkeypatch):
    """A plugin that cannot be imported leaves the others working; using it says why."""
    broken = importlib.metadata.EntryPoint(name="pager", value="no_such_module_xyz:Pager",
                                           group=channels.GROUP)
    real = importlib.metadata.entry_points
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda **kw: list(real(**kw)) + [broken])
    monkeypatch.setattr(channels, "REGISTRY", dict(channels.REGISTRY))
    monkeypatch.setattr(channels, "BROKEN", {})
    channels.reload()
    assert "slack" in channels.types() and "pager" not in channels.types()
    with pytest.raises(ConfigError) as err:
        channel_settings(tmp_path, "  p: {type: pager}")
    assert "its plugin failed to load" in str(err.value) and "no_such_module_xyz" in str(err.value)


def test_check_lists_each_channel_with_its_state(tmp_path):
    """describe() (syncd check) says configured or dry-run, and the extra a type needs."""
    from syncd.config import describe
    settings = channel_settings(tmp_path, "  a: {type: slack}\n  b: {type: s3, bucket: x}\n"
                                          "  c: {type: trello}")
    lines = [line for line in describe(settings) if line.startswith("channel ")]
    assert lines == ["channel a: slack, dry-run (not configured)",
                     "channel b: s3, configured, needs syncd[aws] (installed)",
                     "channel c: trello, dry-run (not configured)"]
