"""End to end: `syncd serve` with a seconds-long SLA on 24x7 sends sla_warning and then
sla_breached to the escalations space once each, across a SIGKILL in between."""
from __future__ import annotations

import os
import signal
import subprocess
from datetime import datetime, timezone

import requests

from syncd.channels import markup
from standins import wait_for
from standins.gchat import ChatStandIn
from syncd.store.db import open_db

from conftest import SECRET, sample_body, signed_sample
from test_serve_e2e import free_port, start, wait_ready

RULES = """rules:
  - name: warn-escalations
    on: sla_warning
    then: [{notify: {channel: escalations, text: "warning {{ event.target }}"}}]
  - name: breach-escalations
    on: sla_breached
    if: {sla_breached: first_response}
    then: [{notify: {channel: escalations, text: "breached {{ event.target }}"}}]
"""


def write_config(tmp_path, port: int, chat_url: str):
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "10-sla.yaml").write_text(RULES)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"database: {tmp_path / 'syncd.db'}\nrules: {tmp_path / 'rules'}\n"
        f"server: {{host: 127.0.0.1, port: {port}}}\nlog_format: json\n"
        f"discourse:\n  webhook_secret: {SECRET}\n  categories: [support]\n"
        "  category_map: {support: 5}\n"
        f"channels:\n  staff: {{type: gchat, url: ''}}\n  escalations: {{type: gchat, url: '{chat_url}'}}\n"
        "outbox: {lease_seconds: 2}\n"   # a send cut by the SIGKILL is taken again soon
        "slas:\n  - name: fast\n    calendar: 24x7\n    first_response: 8s\n    warn_at: 25%\n")
    return cfg


def post(port: int, name: str, event_id: str, topic_id: int) -> int:
    now = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    body = sample_body(name)
    key = "topic" if name == "topic_created" else "post"
    body[key]["id" if key == "topic" else "topic_id"] = topic_id
    body[key]["created_at"] = now
    headers, raw = signed_sample(name, event_id=event_id, body=body)
    return requests.post(f"http://127.0.0.1:{port}/webhooks/discourse", data=raw,
                         headers=headers, timeout=5).status_code


def settled(tmp_path) -> bool:
    """Every action sent and no timer pending: a double would have been sent by now."""
    db = open_db(tmp_path / "syncd.db", migrate_now=False)
    try:
        busy = db.conn.execute("SELECT (SELECT COUNT(*) FROM outbox WHERE status != 'sent') + "
                               "(SELECT COUNT(*) FROM timers WHERE status = 'pending')").fetchone()
        return busy[0] == 0
    finally:
        db.conn.close()


# The target is interpolated into the text, so Chat gets it escaped for its markup.
WARNING = "warning " + markup.chat("first_response")
BREACHED = "breached " + markup.chat("first_response")


def texts(chat) -> list[str]:
    return [m.get("text") for m in chat.messages]


def test_warning_then_breach_reach_escalations_once_across_sigkill(tmp_path):
    """Warning at 2 s, SIGKILL, restart: the breach at 8 s arrives, each exactly once."""
    port = free_port()
    with ChatStandIn(limit=1000) as chat:
        cfg, log_path = write_config(tmp_path, port, chat.url), tmp_path / "serve.log"
        proc = start(cfg, log_path)
        try:
            wait_ready(port, proc, log_path)
            assert post(port, "topic_created", "7001", 4321) == 202
            assert post(port, "post_created", "7002", 4321) == 202
            assert wait_for(lambda: WARNING in texts(chat), timeout=30), \
                log_path.read_text()[-3000:]
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
            proc = start(cfg, log_path)
            wait_ready(port, proc, log_path)
            assert wait_for(lambda: BREACHED in texts(chat), timeout=40), \
                log_path.read_text()[-3000:]
            assert wait_for(lambda: settled(tmp_path), timeout=30)   # nothing left to send
            assert texts(chat).count(WARNING) == 1
            assert texts(chat).count(BREACHED) == 1
            assert not chat.invalid
            assert texts(chat).index(WARNING) < texts(chat).index(
                BREACHED)
            db = open_db(tmp_path / "syncd.db", migrate_now=False)
            fired = db.conn.execute("SELECT kind, COUNT(*) FROM timers WHERE status = 'fired' "
                                    "GROUP BY kind ORDER BY kind").fetchall()
            db.conn.close()
            assert fired == [("sla_breached", 1), ("sla_warning", 1)]
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
