"""Running it for real: a busy port, scheduled backups, a newer database, proxies' addresses."""
from __future__ import annotations

import io
import json
import socket
import sqlite3
import subprocess
import sys
from datetime import timedelta

import pytest

from syncd import logs
from syncd.clock import iso, utcnow
from syncd.errors import StorageError
from syncd.inbox.http import Receiver, create_app
from syncd.service import prepare
from syncd.store.backups import BackupWorker, existing
from syncd.store.db import open_db

from conftest import ROOT, SECRET, make_settings, signed_sample


def test_second_serve_on_a_busy_port_is_one_line_and_exit_2(tmp_path):
    """Another program on the port: one line naming the port and what to do; exit status 2."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cfg = tmp_path / "config.yaml"
        (tmp_path / "rules.yaml").write_text("rules:\n  - name: ping\n    on: topic_created\n"
                                             "    then:\n      - notify: staff\n")
        cfg.write_text(f"database: {tmp_path / 'syncd.db'}\nrules: {tmp_path / 'rules.yaml'}\n"
                       f"server: {{host: 127.0.0.1, port: {port}}}\n"
                       f"discourse: {{webhook_secret: {SECRET}, category_map: {{support: 5}}}}\n"
                       "channels: {staff: {type: log}}\n")
        done = subprocess.run([sys.executable, "-m", "syncd", "--config", str(cfg), "serve"],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert f"port {port} on 127.0.0.1 is already in use" in lines[0] and "--port" in lines[0]
    assert "Traceback" not in done.stderr


def backup_settings(tmp_path, keep: int = 2):
    return make_settings(tmp_path, extra=f"backup: {{dir: {tmp_path / 'backups'}, every: 6h, "
                                         f"keep: {keep}}}\n")


def test_scheduled_backups_are_taken_when_due_and_pruned(tmp_path):
    """serve's backup worker writes one every 6h (fake clock), 0600, and keeps the newest 2."""
    settings = backup_settings(tmp_path)
    store, _ = prepare(settings)
    worker = BackupWorker(settings, store)
    start = utcnow().replace(microsecond=0)
    worker.run_once(start)
    worker.run_once(start + timedelta(hours=1))            # not due yet
    assert len(existing(tmp_path / "backups")) == 1
    for hours in (6, 12, 18):
        worker.run_once(start + timedelta(hours=hours))
    found = existing(tmp_path / "backups")
    assert [t for t, _ in found] == [start + timedelta(hours=12), start + timedelta(hours=18)]
    for _, path in found:
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        copy = sqlite3.connect(path)
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert copy.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0] >= 5
    assert worker.state()["backup"]["error"] is None


def test_backup_failure_is_reported_not_raised(tmp_path):
    """A backup folder that cannot be written: the worker records why and keeps running."""
    blocker = tmp_path / "backups"
    blocker.write_text("a file, not a folder")
    settings = backup_settings(tmp_path)
    store, _ = prepare(settings)
    worker = BackupWorker(settings, store)
    assert worker.run_once(utcnow()) is False
    assert worker.state()["backup"]["error"]


def test_cli_backup_is_private_too(tmp_path):
    """`syncd backup FILE` writes the copy 0600: it holds the webhook secret."""
    settings = make_settings(tmp_path)
    store, _ = prepare(settings)
    from syncd.store.db import backup
    backup(store.db(), tmp_path / "copy.db")
    assert oct((tmp_path / "copy.db").stat().st_mode & 0o777) == "0o600"


def test_a_newer_database_refuses_an_older_syncd(tmp_path):
    """A migration this syncd does not know: a clear error naming both versions, nothing changed."""
    path = tmp_path / "syncd.db"
    open_db(path).conn.execute("INSERT INTO schema_migrations VALUES (999, '999_future.sql', ?)",
                               (iso(),))
    with pytest.raises(StorageError) as err:
        open_db(path)
    message = str(err.value)
    assert "migrated by a newer syncd (migration 999 999_future.sql" in message
    assert "restore a backup" in message


def test_trusted_proxy_gives_the_client_address_in_the_log(tmp_path):
    """Behind a trusted proxy the log shows X-Forwarded-For's client; others cannot claim one."""
    settings = make_settings(tmp_path, extra="server: {trusted_proxies: [10.0.0.0/8]}\n")
    store, secret = prepare(settings)
    client = create_app(Receiver(settings, store, secret)).test_client()
    stream = io.StringIO()
    logs.configure("json", stream=stream)
    headers, raw = signed_sample("topic_created", secret="wrong-secret-0000")
    client.post("/webhooks/discourse", data=raw, headers={**headers,
                "X-Forwarded-For": "203.0.113.9, 10.1.2.3"},
                environ_base={"REMOTE_ADDR": "10.0.0.5"})
    client.post("/webhooks/discourse", data=raw, headers={**headers,
                "X-Forwarded-For": "198.51.100.1"}, environ_base={"REMOTE_ADDR": "192.0.2.7"})
    refused = [json.loads(line) for line in stream.getvalue().splitlines()
               if '"request_refused"' in line]
    assert [(r["client"], r["status"]) for r in refused] == [("203.0.113.9", 401),
                                                             ("192.0.2.7", 401)]


def test_config_rejects_a_bad_trusted_proxy():
    """server.trusted_proxies takes addresses or networks."""
    from syncd.config import settings_from_text
    from syncd.errors import ConfigError
    with pytest.raises(ConfigError, match="an IP address or network"):
        settings_from_text("server: {trusted_proxies: [proxy.local]}\n", env={})
