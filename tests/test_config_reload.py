"""serve reloads the config with the rules; /healthz and /readyz say how the last reload went."""
from __future__ import annotations

import json

from syncd.config import load_settings
from syncd.inbox.http import Receiver, create_app
from syncd.outbox.workers import health, make_workers
from syncd.reload import ConfigReloader, apply, effective, merged_state, restart_needed, fingerprint
from syncd.rules.reloader import RulesHolder
from syncd.service import Service, prepare

from conftest import SECRET

RULES = ("rules:\n  - name: ping\n    on: topic_created\n    then:\n      - notify: staff\n")
DEAN_RULE = ("  - name: tell-the-dean\n    on: topic_created\n    then:\n      - notify: dean\n")


def write_config(tmp_path, channels: str = "  staff: {type: log}\n", port: int = 8080,
                 extra: str = ""):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"database: {tmp_path / 'syncd.db'}\nrules: {tmp_path / 'rules.yaml'}\n"
                   f"server: {{host: 127.0.0.1, port: {port}}}\n"
                   f"discourse: {{webhook_secret: {SECRET}}}\n"
                   f"channels:\n{channels}{extra}")
    return cfg


def running(tmp_path):
    """A serve's parts, wired as serve wires them (no threads: the test drives each step)."""
    cfg = write_config(tmp_path)
    (tmp_path / "rules.yaml").write_text(RULES)
    settings = load_settings(str(cfg), env={})
    store, secret = prepare(settings)
    service = Service(settings, store)
    service.rules = RulesHolder(tmp_path / "rules.yaml", list(settings.channels))
    service.workers = list(make_workers(settings, store))
    receiver = Receiver(settings, store, secret, delivery_health=health)
    reloader = ConfigReloader(settings, service.rules,
                              apply=lambda new, changed: apply(service, receiver, new, changed),
                              env={})
    receiver.admin_state = lambda: merged_state(reloader)
    return cfg, service, receiver, reloader, create_app(receiver).test_client()


def test_new_channel_and_rule_take_effect_without_a_restart(tmp_path):
    """A channel added to config.yaml and a rule using it load together on the next step."""
    cfg, service, receiver, reloader, client = running(tmp_path)
    (tmp_path / "rules.yaml").write_text(RULES + DEAN_RULE)
    assert service.rules.reload() is False          # the rules alone: 'dean' is unknown
    write_config(tmp_path, "  staff: {type: log}\n  dean: {type: log}\n")
    reloader.run_once()                             # the config file changed
    assert reloader.last["result"] == "ok" and reloader.last["problems"] == []
    assert [r.name for r in service.rules.current] == ["ping", "tell-the-dean"]
    assert all("dean" in w.notifiers and "dean" in w.settings.channels for w in service.workers)
    assert "dean" in receiver.settings.channels
    body = client.get("/healthz").get_json()
    assert body["status"] == "ok" and body["reload"]["result"] == "ok"
    assert client.get("/readyz").status_code == 200


def test_sighup_reloads_even_without_a_file_change(tmp_path):
    """request() (the SIGHUP handler) makes the next step reload."""
    _, _, _, reloader, _ = running(tmp_path)
    reloader.run_once()
    assert reloader.last["at"] is None              # nothing changed, nothing asked
    reloader.request(1, None)
    reloader.run_once()
    assert reloader.last["at"] is not None and reloader.last["result"] == "ok"


def test_a_bad_config_keeps_the_running_one_and_shows_in_healthz(tmp_path):
    """A reload that fails keeps everything; /healthz is degraded with the problem, /readyz 503."""
    cfg, service, receiver, reloader, client = running(tmp_path)
    cfg.write_text(cfg.read_text() + "timezone: Mars/Base\n")
    reloader.run_once()
    assert reloader.last["result"] == "failed"
    assert any("'timezone' must be" in p for p in reloader.last["problems"])
    assert receiver.settings.timezone == "UTC"
    body = client.get("/healthz")
    assert body.status_code == 200
    data = body.get_json()
    assert data["status"] == "degraded" and data["reload"]["result"] == "failed"
    assert any("config reload failed" in r for r in data["reasons"])
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.get_json()["status"] == "not ready"


def test_rules_that_differ_from_the_files_make_healthz_degraded(tmp_path):
    """A broken rules file: the old rules run, /healthz says degraded with the problem."""
    _, service, _, _, client = running(tmp_path)
    (tmp_path / "rules.yaml").write_text(RULES.replace("notify: staff", "notify: nobody"))
    service.rules.reload()
    data = client.get("/healthz").get_json()
    assert data["status"] == "degraded" and data["rules_current"] is False
    assert data["reload"]["rules"]["result"] == "failed" and data["reload"]["rules"]["at"]
    assert any("unknown channel 'nobody'" in p for p in data["rules_problems"])
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert any("running rules differ from the files" in r for r in ready.get_json()["reasons"])


def test_restart_only_keys_are_named_and_kept(tmp_path):
    """A changed server.port keeps the running one and is reported as needing a restart."""
    cfg, service, receiver, reloader, client = running(tmp_path)
    write_config(tmp_path, port=9999, extra="processor: {actions_per_ticket_per_hour: 5}\n")
    reloader.run_once()
    assert reloader.last["restart_needed"] == ["server.port"]
    assert receiver.settings.server.port == 8080                       # kept
    assert receiver.settings.processor.actions_per_ticket_per_hour == 5   # live
    data = client.get("/healthz").get_json()
    assert data["status"] == "degraded"
    assert "restart needed for: server.port" in data["reasons"]


def test_command_line_overrides_are_not_changes():
    """serve --port 9000 over a file saying 8080: a reload does not ask for a restart."""
    from dataclasses import replace
    from syncd.config import settings_from_text
    base = settings_from_text("server: {port: 8080}\n", env={})
    running_ = replace(base, server=replace(base.server, port=9000))
    settings, live, restart = effective(running_, base, base)
    assert restart == [] and settings.server.port == 9000


def test_check_says_which_keys_need_a_restart(tmp_path):
    """`syncd check` compares the file with what the running serve started with."""
    from click.testing import CliRunner
    from syncd.cli import main
    from syncd.reload import remember_running
    cfg, service, *_ = running(tmp_path)
    remember_running(service.store, service.settings)
    write_config(tmp_path, port=9999)
    out = CliRunner().invoke(main, ["--config", str(cfg), "check"])
    assert out.exit_code == 0, out.output
    assert "restart needed" in out.output and "server.port" in out.output
    assert restart_needed(json.loads(json.dumps(fingerprint(service.settings))),
                          load_settings(str(cfg), env={})) == ["server.port"]


def test_removing_a_channel_that_rules_still_use_keeps_everything(tmp_path):
    """A config whose channels the rules do not fit is not applied half-way: all is kept."""
    cfg, service, receiver, reloader, client = running(tmp_path)
    write_config(tmp_path, "  other: {type: log}\n")        # 'staff' gone, a rule still uses it
    reloader.run_once()
    assert reloader.last["result"] == "failed"
    assert any("unknown channel 'staff'" in p for p in reloader.last["problems"])
    assert "staff" in receiver.settings.channels and all("staff" in w.notifiers
                                                           for w in service.workers)
    assert [r.name for r in service.rules.current] == ["ping"]
    assert client.get("/readyz").status_code == 503
