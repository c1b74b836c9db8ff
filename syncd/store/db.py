"""SQLite through sqlite-utils: opening, migrations, transactions and small settings.

Every thread opens its own connection (``Store.db()``). Connections run in autocommit
mode; a unit of work is ``with transaction(db):`` (``BEGIN IMMEDIATE`` ... ``COMMIT``), so
a state change and the actions it causes are written together or not at all.
"""
from __future__ import annotations

import os
import re
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import sqlite_utils

from syncd.clock import iso
from syncd.errors import StorageError

MIGRATIONS = Path(os.environ.get("SYNCD_MIGRATIONS", Path(__file__).resolve().parents[2] / "migrations"))
BUSY_TIMEOUT_MS = 5000
SYNCHRONOUS = ("off", "normal", "full", "extra")


def open_db(path: str | Path, synchronous: str = "full", migrate_now: bool = True) -> sqlite_utils.Database:
    """Open (creating if needed) the database at ``path``, in WAL mode, migrated."""
    path = str(path)
    try:
        if path != ":memory:":
            _private_folder(Path(path).parent)
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                               check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        db = sqlite_utils.Database(conn)
        if path != ":memory:":
            db.enable_wal()
        conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
        conn.execute("PRAGMA foreign_keys = ON")
        if migrate_now:
            migrate(db)
        if path != ":memory:":
            private_files(path)
    except (sqlite3.Error, OSError) as exc:
        raise StorageError(f"cannot open database {path}: {exc}. Check the path in 'database:' "
                           "and that syncd may write there.") from exc
    return db


_WRITE_GATES: dict[str, threading.Lock] = {}
_GATES_LOCK = threading.Lock()


def _write_gate(conn: sqlite3.Connection) -> threading.Lock:
    """One lock a database file for this process's writers.

    Threads of one process queue here instead of in SQLite's busy handler, which sleeps
    in steps of milliseconds however soon the lock is free. Other processes (a CLI
    command beside ``serve``) still meet the busy timeout.
    """
    row = conn.execute("PRAGMA database_list").fetchone()
    key = row[2] or f":memory:{id(conn)}"
    with _GATES_LOCK:
        return _WRITE_GATES.setdefault(key, threading.Lock())


def write_gate(db: sqlite_utils.Database) -> threading.Lock:
    """The lock this process's writers of ``db``'s file take around a write (see
    ``_write_gate``); a single autocommit statement takes it too."""
    gate = getattr(db, "_syncd_write_gate", None)
    if gate is None:
        gate = db._syncd_write_gate = _write_gate(db.conn)
    return gate


@contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``; rolled back on any exception."""
    conn = db.conn
    with write_gate(db):
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")


def migration_files(folder: Path = MIGRATIONS) -> list[tuple[int, str, Path]]:
    found = []
    for path in sorted(folder.glob("*.sql")):
        match = re.match(r"(\d+)_", path.name)
        if match:
            found.append((int(match.group(1)), path.name, path))
    return sorted(found)


def migrate(db: sqlite_utils.Database, folder: Path = MIGRATIONS) -> list[str]:
    """Apply numbered SQL files not yet recorded in ``schema_migrations``; return their names."""
    conn = db.conn
    conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                 "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)")
    done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    refuse_newer(conn, done, migration_files(folder))
    applied = []
    for version, name, path in migration_files(folder):
        if version in done:
            continue
        script = path.read_text()
        with transaction(db):
            for statement in _statements(script):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", (version, name, iso()))
        applied.append(name)
    return applied


def refuse_newer(conn: sqlite3.Connection, done: set[int], known: list[tuple[int, str, Path]]) -> None:
    """A database a newer syncd migrated is not for this one: say so before touching it."""
    newest = max((v for v, _, _ in known), default=0)
    newer = sorted(v for v in done if v > newest)
    if not newer:
        return
    name = conn.execute("SELECT name FROM schema_migrations WHERE version = ?",
                        (newer[-1],)).fetchone()
    path = conn.execute("PRAGMA database_list").fetchone()[2] or "the database"
    raise StorageError(
        f"{path} was migrated by a newer syncd (migration {newer[-1]}"
        f"{' ' + name[0] if name else ''}; this syncd knows up to {newest}): run that newer "
        "syncd, or restore a backup taken before the upgrade (docs/deploy.md, 'Upgrades')")


def _statements(script: str) -> list[str]:
    """Split a migration into statements (``executescript`` would commit our transaction)."""
    statements, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                statements.append(buf)
            buf = ""
    if buf.strip() and not all(l.strip().startswith("--") or not l.strip() for l in buf.splitlines()):
        statements.append(buf)
    return statements


def get_setting(db: sqlite_utils.Database, key: str, default: str | None = None) -> str | None:
    row = db.conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
    return row[0] if row else default


def put_setting(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute("INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?) "
                 "ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                 (key, value, iso()))


PRIVATE_FILE, PRIVATE_FOLDER = 0o600, 0o700


def _private_folder(folder: Path) -> None:
    """Create the data folder readable by syncd's user only (an existing one is left as
    the admin made it)."""
    if not folder.exists():
        folder.mkdir(parents=True, mode=PRIVATE_FOLDER, exist_ok=True)
        os.chmod(folder, PRIVATE_FOLDER)


def private_files(path: str | Path) -> None:
    """The database holds the webhook secret: it and its WAL and SHM files are 0600."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        name = f"{path}{suffix}"
        if os.path.exists(name) and (os.stat(name).st_mode & 0o777) != PRIVATE_FILE:
            try:
                os.chmod(name, PRIVATE_FILE)
            except PermissionError:   # another user's file: say so when it matters
                pass


def backup(db: sqlite_utils.Database, target: str | Path) -> None:
    """A consistent copy of the live database (SQLite's online backup API), 0600 like the
    database (it holds the webhook secret too), written atomically."""
    from syncd.store.backups import write_backup
    write_backup(db.conn, target)
    private_files(target)


class Store:
    """Hands each thread its own connection to one database file."""

    def __init__(self, path: str | Path, synchronous: str = "full"):
        self.path, self.synchronous = str(path), synchronous
        self._local = threading.local()
        self._lock = threading.Lock()
        with self._lock:
            open_db(self.path, synchronous).conn.close()

    def db(self) -> sqlite_utils.Database:
        db = getattr(self._local, "db", None)
        if db is None:
            db = open_db(self.path, self.synchronous, migrate_now=False)
            self._local.db = db
        return db

    def reachable(self) -> bool:
        try:
            self.db().conn.execute("SELECT 1 FROM schema_migrations LIMIT 1").fetchall()
            return True
        except sqlite3.Error:
            return False


def rows(conn: sqlite3.Connection, sql: str, params: Any = ()) -> list[dict[str, Any]]:
    cur = conn.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
