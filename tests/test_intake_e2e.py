"""End to end: `syncd serve` as a subprocess and the Discourse stand-in, which delivers its
new topics back to syncd as Discourse's webhooks do. A signed Teams message and a form
become topics, then tickets with the chosen priority; SIGKILL between the answer and the
topic loses nothing and makes no second topic."""
from __future__ import annotations

import os
import signal
import subprocess

import requests

from standins import wait_for
from standins.discourse import DiscourseStandIn
from syncd.inbox.teams import sign
from syncd.store.db import open_db

from conftest import SECRET
from test_intake_http import BEARER, FORM, FORM_TOKEN, TEAMS_TOKEN, TITLE, activity
from test_serve_e2e import free_port, start, wait_ready

RULES = """
rules:
  - name: urgent-intake
    on: topic_created
    if: {source: [teams, form], priority_at_least: urgent}
    then:
      - notify: {channel: staff, text: "{{ ticket.requester.name }}: {{ ticket.title }}"}
"""


def write_config(tmp_path, port, forum):
    (tmp_path / "rules.yaml").write_text(RULES)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"database: {tmp_path / 'syncd.db'}\nrules: {tmp_path / 'rules.yaml'}\n"
        f"server: {{host: 127.0.0.1, port: {port}}}\nlog_format: json\n"
        f"discourse:\n  url: {forum.base_url}\n  api_key: test-api-key\n"
        f"  webhook_secret: {SECRET}\n  categories: [support, hardware]\n"
        "  category_map: {support: 5, hardware: 7}\n  staff_groups: []\n"
        "  api_calls_per_minute: 100000\n"
        "channels:\n  staff: {type: log}\n"
        "outbox: {workers: 2, lease_seconds: 4}\n"
        "reconcile: {on_start: false, interval_minutes: 10000, full_every_hours: 0}\n"
        "intake:\n"
        f"  teams: {{security_token: '{TEAMS_TOKEN}'}}\n  form: {{token: {FORM_TOKEN}}}\n"
        "  category: support\n  categories_by_priority: {urgent: hardware}\n")
    return cfg


def post_teams(port, text, activity_id):
    body = activity(text, activity_id)
    return requests.post(f"http://127.0.0.1:{port}/intake/teams", data=body, timeout=10,
                         headers={"Authorization": sign(TEAMS_TOKEN, body),
                                  "Content-Type": "application/json"})


def status(port, intake_id):
    r = requests.get(f"http://127.0.0.1:{port}/intake/{intake_id}", headers=BEARER, timeout=5)
    return r.json() if r.status_code == 200 else {}


def tickets(tmp_path):
    db = open_db(tmp_path / "syncd.db", migrate_now=False)
    try:
        return {r[0]: r[1:] for r in db.conn.execute(
            "SELECT id, source, priority, category_id, requester FROM tickets")}
    finally:
        db.conn.close()


def tried(tmp_path, intake_id) -> bool:
    """The intake's topic action met an error (Discourse down) at least once."""
    db = open_db(tmp_path / "syncd.db", migrate_now=False)
    try:
        return db.conn.execute("SELECT COUNT(*) FROM outbox WHERE ticket_id = ? AND "
                               "last_error IS NOT NULL", (-intake_id,)).fetchone()[0] > 0
    finally:
        db.conn.close()


def topics_with(forum, external_id):
    return [t for t in forum.topics.values() if t.get("external_id") == external_id]


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_teams_and_form_become_topics_then_tickets(tmp_path):
    """The Teams message (urgent) and the form (high, from a forum user) are topics in their
    categories, then tickets from teams/form with that priority; the intake rule fired."""
    with DiscourseStandIn() as forum:
        forum.add_user("jsmith", "jane@example.edu")
        port = free_port()
        forum.emit_to(f"http://127.0.0.1:{port}/webhooks/discourse", SECRET)
        cfg, log_path = write_config(tmp_path, port, forum), tmp_path / "serve.log"
        proc = start(cfg, log_path)
        try:
            wait_ready(port, proc, log_path)
            text = f"Title: {TITLE}\nPriority: urgent\nDescription: Since 9am."
            reply = post_teams(port, text, "act-1")
            assert reply.status_code == 200 and "urgent" in reply.json()["text"]
            r = requests.post(f"http://127.0.0.1:{port}/intake/form", json=FORM, headers=BEARER,
                              timeout=10)
            assert (r.status_code, r.json()) == (202, {"status": "accepted", "intake_id": 2})
            assert wait_for(lambda: all(status(port, i).get("ticket_id") for i in (1, 2)),
                            timeout=40), (status(port, 1), status(port, 2),
                                          log_path.read_text()[-3000:])
            one, two = status(port, 1), status(port, 2)
            assert one["status"] == two["status"] == "created"
            found = tickets(tmp_path)
            assert found[one["ticket_id"]][:3] == ("teams", "urgent", 7)
            assert found[two["ticket_id"]][:3] == ("form", "high", 5)
            assert '"email": "jane@example.edu"' in found[two["ticket_id"]][3]
            assert topics_with(forum, "intake-2")[0]["post_ids"] and \
                forum.posts[topics_with(forum, "intake-2")[0]["post_ids"][0]]["username"] == "jsmith"
            db = open_db(tmp_path / "syncd.db", migrate_now=False)
            fired = db.conn.execute("SELECT ticket_id, rule FROM rule_firings").fetchall()
            db.conn.close()
            assert fired == [(one["ticket_id"], "urgent-intake")]
        finally:
            stop(proc)
            forum.wait_emitted()


def test_sigkill_between_the_answer_and_the_topic_loses_nothing(tmp_path):
    """Killed while Discourse was down (the form) and while Discourse's answer to the new
    topic was on its way (Teams): after the restart each request is one topic and one
    ticket."""
    with DiscourseStandIn() as forum:
        port = free_port()
        forum.emit_to(f"http://127.0.0.1:{port}/webhooks/discourse", SECRET)
        cfg, log_path = write_config(tmp_path, port, forum), tmp_path / "serve.log"
        proc = start(cfg, log_path)
        try:
            wait_ready(port, proc, log_path)
            forum.stall_next_create()
            text = f"Title: {TITLE}\nPriority: high\nDescription: Since 9am."
            assert post_teams(port, text, "act-1").status_code == 200
            assert wait_for(lambda: topics_with(forum, "intake-1"), timeout=20)
            forum.down = True
            r = requests.post(f"http://127.0.0.1:{port}/intake/form", json=FORM, headers=BEARER,
                              timeout=10)
            assert r.status_code == 202
            assert wait_for(lambda: tried(tmp_path, 2), timeout=20)   # and refused: 502
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
            forum.down = False
            forum.stall_release.set()
            proc = start(cfg, log_path)
            wait_ready(port, proc, log_path)
            assert wait_for(lambda: all(status(port, i).get("ticket_id") for i in (1, 2)),
                            timeout=60), (status(port, 1), status(port, 2),
                                          log_path.read_text()[-3000:])
            assert len(topics_with(forum, "intake-1")) == 1
            assert len(topics_with(forum, "intake-2")) == 1
            found = tickets(tmp_path)
            assert sorted(v[:2] for v in found.values()) == [("form", "high"), ("teams", "high")]
            db = open_db(tmp_path / "syncd.db", migrate_now=False)
            result = db.conn.execute("SELECT result FROM outbox WHERE ticket_id = -1").fetchone()[0]
            db.conn.close()
            assert '"already_posted": true' in result   # found by external_id, not posted again
        finally:
            forum.stall_release.set()
            stop(proc)
            forum.wait_emitted()
