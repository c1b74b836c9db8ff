"""End to end: `syncd serve` as a subprocess, a burst of deliveries, SIGKILL, restart."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from syncd.store.db import open_db

from conftest import ROOT, SECRET, sample_body, signed_sample

BURST = 400


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(tmp_path: Path, port: int) -> Path:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"database: {tmp_path / 'syncd.db'}\n"
        f"rules: {ROOT / 'rules'}\n"
        f"server: {{host: 127.0.0.1, port: {port}}}\n"
        "log_format: json\n"
        "discourse:\n"
        f"  webhook_secret: {SECRET}\n"
        "  categories: [support]\n"
        "  category_map: {support: 5, hardware: 7, grades: 8, payments: 9, faq: 10, academic: 11}\n"
        "channels:\n  staff: {type: gchat, url: ''}\n  escalations: {type: gchat, url: ''}\n"
        "  faculty: {type: gchat, url: ''}\n")
    return cfg


def start(cfg: Path, log_path: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log = open(log_path, "ab")
    return subprocess.Popen([sys.executable, "-m", "syncd", "--config", str(cfg), "serve"],
                            cwd=ROOT, stdout=log, stderr=log, env=env)


def wait_ready(port: int, proc: subprocess.Popen, log_path: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, log_path.read_text()[-3000:]
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise AssertionError("syncd serve did not become ready:\n" + log_path.read_text()[-3000:])


def delivery(topic_id: int) -> tuple[dict, bytes]:
    body = sample_body("topic_created")
    body["topic"]["id"] = topic_id
    body["topic"]["title"] = f"Question {topic_id}"
    return signed_sample("topic_created", event_id=str(10_000 + topic_id), body=body)


def send(port: int, topic_id: int) -> tuple[int, int | None]:
    headers, raw = delivery(topic_id)
    try:
        r = requests.post(f"http://127.0.0.1:{port}/webhooks/discourse", data=raw,
                          headers=headers, timeout=5)
        return topic_id, r.status_code
    except requests.RequestException:
        return topic_id, None


def test_every_acknowledged_delivery_survives_sigkill(tmp_path):
    """Every delivery that got a 202 before SIGKILL is a ticket after the restart."""
    port = free_port()
    cfg, log_path = write_config(tmp_path, port), tmp_path / "serve.log"
    proc = start(cfg, log_path)
    try:
        wait_ready(port, proc, log_path)
        with ThreadPoolExecutor(max_workers=8) as pool:
            futures = [pool.submit(send, port, 2000 + i) for i in range(BURST)]
            deadline = time.monotonic() + 30   # kill mid-burst: once a few were acknowledged
            while sum(f.done() for f in futures) < 10 and time.monotonic() < deadline:
                time.sleep(0.005)
            os.kill(proc.pid, signal.SIGKILL)
            results = [f.result() for f in futures]
        proc.wait(10)
        acked = {tid for tid, status in results if status == 202}
        assert acked, "no delivery was acknowledged before the kill: raise BURST"
        proc = start(cfg, log_path)
        wait_ready(port, proc, log_path)
        deadline, missing = time.monotonic() + 30, acked
        while missing and time.monotonic() < deadline:
            db = open_db(tmp_path / "syncd.db", migrate_now=False)
            have = {r[0] for r in db.conn.execute("SELECT id FROM tickets")}
            db.conn.close()
            missing = acked - have
            time.sleep(0.2)
        assert not missing, f"{len(missing)} acknowledged deliveries lost: {sorted(missing)[:10]}"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_sigterm_drains_and_exits(tmp_path):
    """SIGTERM stops serve cleanly with exit status 0."""
    port = free_port()
    cfg, log_path = write_config(tmp_path, port), tmp_path / "serve.log"
    proc = start(cfg, log_path)
    wait_ready(port, proc, log_path)
    assert send(port, 3000)[1] == 202
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0, log_path.read_text()[-3000:]
    lines = [json.loads(l) for l in log_path.read_text().splitlines() if l.startswith("{")]
    assert any(l.get("event") == "stopped" for l in lines)


def rules_loaded(port: int) -> int:
    return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).json()["rules_loaded"]


def test_sighup_reloads_rules_and_keeps_the_old_ones_on_error(tmp_path):
    """SIGHUP with a broken rules file keeps serving the old rules; a good file is taken."""
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    port = free_port()
    cfg, log_path = write_config(tmp_path, port), tmp_path / "serve.log"
    cfg.write_text(cfg.read_text().replace(f"rules: {ROOT / 'rules'}", f"rules: {rules}"))
    proc = start(cfg, log_path)
    try:
        wait_ready(port, proc, log_path)
        before = rules_loaded(port)
        (rules / "90-broken.yaml").write_text("rules:\n  - name: x\n    on: topic_creatd\n")
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 15
        while "rules_reload_failed" not in log_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "rules_reload_failed" in log_path.read_text()
        assert proc.poll() is None and rules_loaded(port) == before
        (rules / "90-broken.yaml").write_text(
            "rules:\n  - name: extra\n    on: topic_created\n    then:\n      - notify: staff\n")
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while rules_loaded(port) != before + 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert rules_loaded(port) == before + 1
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
