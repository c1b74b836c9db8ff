"""Issue 18, findings 8 and 9: the connection limits are set and visible; the secret stays
private (0600 files in a 0700 folder, shown on a terminal only)."""
from __future__ import annotations

import io
import os
import socket
import stat
import subprocess
import sys

import pytest
import requests
import structlog
from click.testing import CliRunner

from syncd.cli import main
from syncd.service import announce_secret, prepare

from conftest import SECRET, make_settings
from test_serve_e2e import free_port, start, wait_ready, write_config


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_connection_limit_and_channel_timeout_are_config_keys(tmp_path):
    """server.connection_limit and server.channel_timeout are read and checked."""
    s = make_settings(tmp_path, "server: {connection_limit: 500, channel_timeout: 30}\n")
    assert (s.server.connection_limit, s.server.channel_timeout) == (500, 30)
    assert make_settings(tmp_path).server.connection_limit == 100   # waitress' default
    from syncd.config import settings_from_text
    from syncd.errors import ConfigError
    with pytest.raises(ConfigError, match="server.connection_limit"):
        settings_from_text("server: {connection_limit: 0}\n", env={})


def test_serve_applies_the_limit_and_shows_it_in_metrics(tmp_path):
    """A running serve with connection_limit 7: /metrics says 7, and counts open connections
    (two idle clients held open, plus the scrape itself)."""
    port = free_port()
    cfg = write_config(tmp_path, port)
    cfg.write_text(cfg.read_text().replace(
        "server: {host: 127.0.0.1, port: %d}" % port,
        "server: {host: 127.0.0.1, port: %d, connection_limit: 7, channel_timeout: 60}" % port))
    log = tmp_path / "serve.log"
    proc = start(cfg, log)
    idle = []
    try:
        wait_ready(port, proc, log)
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
        text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        assert "syncd_http_connection_limit 7.0" in text
        open_now = [line for line in text.splitlines()
                    if line.startswith("syncd_http_connections_open ")]
        assert open_now and float(open_now[0].split()[1]) >= 3
        db = tmp_path / "syncd.db"
        for name in (db, f"{db}-wal", f"{db}-shm"):
            if os.path.exists(name):
                assert mode(name) == 0o600, name
    finally:
        for s in idle:
            s.close()
        proc.terminate()
        proc.wait(30)


def test_a_new_data_folder_is_0700_and_the_database_files_0600(tmp_path):
    """The folder syncd makes for its database, the database, WAL and SHM: its user's only."""
    os.umask(0o022)   # as a careless shell leaves it
    settings = make_settings(tmp_path, "")
    settings = type(settings)(**{**settings.__dict__, "database": str(tmp_path / "data" / "s.db")})
    store, _ = prepare(settings)
    store.db().conn.execute("SELECT 1").fetchall()
    assert mode(tmp_path / "data") == 0o700
    for suffix in ("", "-wal", "-shm"):
        assert mode(f"{tmp_path / 'data' / 's.db'}{suffix}") == 0o600


def test_an_old_world_readable_database_is_made_0600(tmp_path):
    """A database a previous version left 0644 is 0600 once syncd opens it."""
    settings = make_settings(tmp_path)
    prepare(settings)
    os.chmod(tmp_path / "syncd.db", 0o644)
    prepare(settings)
    assert mode(tmp_path / "syncd.db") == 0o600


def test_backups_are_0600_and_the_cli_sets_umask_077(tmp_path):
    """`syncd backup FILE` writes a 0600 file, whatever the umask was."""
    os.umask(0o022)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"database: {tmp_path / 'syncd.db'}\nrules: {tmp_path / 'none'}\n"
                   f"discourse:\n  webhook_secret: {SECRET}\n")
    out = CliRunner().invoke(main, ["--config", str(cfg), "backup", str(tmp_path / "b.db")])
    assert out.exit_code == 0, out.output
    assert mode(tmp_path / "b.db") == 0o600
    assert os.umask(0o022) == 0o077


class _Stream(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_a_generated_secret_goes_to_a_terminal_only(tmp_path):
    """On a terminal the secret is printed; to a pipe or log only a pointer to `syncd secret
    show`, never the secret."""
    settings = make_settings(tmp_path)
    term = _Stream(tty=True)
    announce_secret("generated-secret-0001", settings, streams=(term,))
    assert "generated-secret-0001" in term.getvalue()
    pipe = _Stream(tty=False)
    with structlog.testing.capture_logs() as logged:
        announce_secret("generated-secret-0001", settings, streams=(pipe,))
    assert pipe.getvalue() == ""
    assert "generated-secret-0001" not in repr(logged)
    assert any("syncd secret show" in str(e.get("hint")) for e in logged)


def test_serve_without_a_terminal_keeps_the_secret_out_of_its_output(tmp_path):
    """`syncd serve` with stdout and stderr to a file generates a secret and never writes it."""
    port = free_port()
    cfg = write_config(tmp_path, port)
    cfg.write_text(cfg.read_text().replace(f"  webhook_secret: {SECRET}\n", ""))
    log = tmp_path / "serve.log"
    proc = start(cfg, log)
    try:
        wait_ready(port, proc, log)
    finally:
        proc.terminate()
        proc.wait(30)
    out = subprocess.run([sys.executable, "-c", "import sqlite3,sys; print(sqlite3.connect("
                          "sys.argv[1]).execute(\"SELECT value FROM settings WHERE key = "
                          "'webhook_secret'\").fetchone()[0])", str(tmp_path / "syncd.db")],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert len(out) >= 12
    text = log.read_text()
    assert out not in text and "syncd secret show" in text
