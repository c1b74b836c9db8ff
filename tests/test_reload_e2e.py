"""`syncd serve` as a subprocess: JSON log lines on stdout, reloads on file change and SIGHUP."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import requests

from conftest import ROOT, SECRET
from test_serve_e2e import free_port

RULES = "rules:\n  - name: ping\n    on: topic_created\n    then:\n      - notify: staff\n"
DEAN = "  - name: dean\n    on: topic_created\n    then:\n      - notify: dean\n"


def config_text(tmp_path, port: int, channels: str, extra: str = "") -> str:
    return (f"database: {tmp_path / 'syncd.db'}\nrules: {tmp_path / 'rules.yaml'}\n"
            f"server: {{host: 127.0.0.1, port: {port}}}\nlog_format: json\n"
            f"discourse: {{webhook_secret: {SECRET}, category_map: {{support: 5}}}}\n"
            f"channels:\n{channels}{extra}")


def poll(port: int, path: str, test, seconds: float = 30.0):
    """GET path until test(response) holds (a deadline, not a fixed sleep)."""
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        try:
            last = requests.get(f"http://127.0.0.1:{port}{path}", timeout=2)
            if test(last):
                return last
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{path} never matched; last: {last and last.text}")


def test_serve_reloads_config_and_rules_and_logs_json_on_stdout(tmp_path):
    """A new channel plus its rule load without a restart; a bad config on SIGHUP shows in /readyz."""
    port = free_port()
    cfg = tmp_path / "config.yaml"
    cfg.write_text(config_text(tmp_path, port, "  staff: {type: log}\n"))
    (tmp_path / "rules.yaml").write_text(RULES)
    out, err = open(tmp_path / "stdout", "wb"), open(tmp_path / "stderr", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "syncd", "--config", str(cfg), "serve"],
                            cwd=ROOT, stdout=out, stderr=err,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        poll(port, "/healthz", lambda r: r.status_code == 200)
        assert poll(port, "/readyz", lambda r: True).status_code == 200
        # A channel in the config and a rule that uses it, written together.
        cfg.write_text(config_text(tmp_path, port, "  staff: {type: log}\n  dean: {type: log}\n"))
        (tmp_path / "rules.yaml").write_text(RULES + DEAN)
        poll(port, "/healthz", lambda r: r.json()["rules_loaded"] == 2
             and r.json()["status"] == "ok")
        # A broken config, announced with SIGHUP: kept running, reported.
        cfg.write_text(config_text(tmp_path, port, "  staff: {type: log}\n  dean: {type: log}\n",
                                   "timezone: Mars/Base\n"))
        proc.send_signal(signal.SIGHUP)
        health = poll(port, "/healthz", lambda r: r.json()["status"] == "degraded").json()
        assert health["reload"]["result"] == "failed" and health["rules_loaded"] == 2
        assert poll(port, "/readyz", lambda r: r.status_code == 503).json()["reasons"]
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        out.close()
        err.close()
    assert code == 0
    lines = [json.loads(x) for x in (tmp_path / "stdout").read_text().splitlines() if x.strip()]
    events = [x["event"] for x in lines]
    assert "listening" in events and "config_reloaded" in events
    assert "config_reload_failed" in events
