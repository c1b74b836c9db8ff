"""Scheduled online backups: ``backup: {dir, every, keep}`` makes ``serve`` take one.

``BackupWorker.run_once(now=None)`` (a worker step) writes ``syncd-YYYYmmddTHHMMSSZ.db``
into ``backup.dir`` when the newest one there is older than ``backup.every``, with SQLite's
online backup API (consistent while syncd writes), then deletes all but the newest
``backup.keep``. Files are created 0600 (the database holds the webhook secret) and appear
under their final name only once complete.
"""
from __future__ import annotations

import os
import re
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from syncd import logs
from syncd.clock import iso, utcnow

log = logs.get("syncd.backup")
NAME = re.compile(r"^syncd-(\d{8}T\d{6}Z)\.db$")
STAMP = "%Y%m%dT%H%M%SZ"


def write_backup(conn: sqlite3.Connection, target: str | Path) -> Path:
    """A consistent copy of the live database at ``target``, mode 0600, written atomically."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    if partial.exists():
        partial.unlink()
    os.close(os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    dest = sqlite3.connect(str(partial))
    try:
        conn.backup(dest)
    finally:
        dest.close()
    os.chmod(partial, 0o600)
    os.replace(partial, target)
    return target


def existing(folder: str | Path) -> list[tuple[datetime, Path]]:
    """syncd's backups in ``folder``, oldest first (other files are left alone)."""
    out = []
    for path in Path(folder).glob("syncd-*.db"):
        match = NAME.match(path.name)
        if match:
            taken = datetime.strptime(match.group(1), STAMP).replace(tzinfo=timezone.utc)
            out.append((taken, path))
    return sorted(out)


def prune(folder: str | Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` backups; return what was deleted."""
    found = existing(folder)
    gone = [p for _, p in found[:max(0, len(found) - keep)]]
    for path in gone:
        path.unlink(missing_ok=True)
    return gone


class BackupWorker:
    """Takes a backup when the last is ``backup.every`` old; keeps ``backup.keep``."""

    name = "backup"

    def __init__(self, settings: Any, store: Any):
        self.settings, self.store = settings, store
        self.last_at: str | None = None
        self.last_path: str | None = None
        self.last_error: str | None = None

    @property
    def folder(self) -> str:
        return self.settings.resolve(self.settings.backup.dir)

    def due(self, now: datetime) -> bool:
        found = existing(self.folder)
        if not found:
            return True
        return (now - found[-1][0]).total_seconds() >= self.settings.backup.every_seconds

    def run_once(self, now: datetime | None = None) -> bool:
        if not self.settings.backup.dir:
            return False
        now = now or utcnow()
        try:
            if not self.due(now):
                return False
            target = Path(self.folder) / f"syncd-{now.astimezone(timezone.utc).strftime(STAMP)}.db"
            write_backup(self.store.db().conn, target)
            gone = prune(self.folder, self.settings.backup.keep)
        except (OSError, sqlite3.Error) as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.error("backup_failed", folder=self.folder, error=self.last_error,
                      detail="check that backup.dir exists and syncd may write there")
            return False
        self.last_at, self.last_path, self.last_error = iso(now), str(target), None
        log.info("backup_written", path=str(target), deleted=[p.name for p in gone])
        return False

    def state(self) -> dict[str, Any]:
        if not self.settings.backup.dir:
            return {}
        return {"backup": {"dir": self.folder, "last_at": self.last_at,
                           "last_path": self.last_path, "error": self.last_error}}
