"""The SQLite store: migrations, WAL, busy timeout, transactions, backup."""
from __future__ import annotations

import sqlite3

import pytest

from syncd.store.db import backup, migrate, migration_files, open_db, transaction


def test_migrations_are_applied_and_recorded(tmp_path):
    """Every numbered file is applied once and recorded in schema_migrations."""
    db = open_db(tmp_path / "a.db")
    recorded = [r[0] for r in db.conn.execute("SELECT name FROM schema_migrations ORDER BY version")]
    assert recorded == [name for _, name, _ in migration_files()]
    assert migrate(db) == []  # a second start applies nothing
    assert {"deliveries", "tickets", "ticket_history", "rule_firings", "outbox"} <= set(db.table_names())


def test_wal_and_busy_timeout(tmp_path):
    """The database runs in WAL mode with a busy timeout."""
    db = open_db(tmp_path / "a.db")
    assert db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000


def test_transaction_rolls_back_on_error(tmp_path):
    """A failed unit of work leaves nothing behind."""
    db = open_db(tmp_path / "a.db")
    with pytest.raises(RuntimeError):
        with transaction(db) as conn:
            conn.execute("INSERT INTO settings VALUES ('k', 'v', 'now')")
            raise RuntimeError("boom")
    assert db.conn.execute("SELECT COUNT(*) FROM settings").fetchone()[0] == 0


def test_backup_is_a_consistent_copy(tmp_path):
    """syncd backup's copy opens and holds the same rows."""
    db = open_db(tmp_path / "a.db")
    with transaction(db) as conn:
        conn.execute("INSERT INTO settings VALUES ('k', 'v', 'now')")
    backup(db, tmp_path / "b.db")
    copy = sqlite3.connect(tmp_path / "b.db")
    assert copy.execute("SELECT value FROM settings").fetchone()[0] == "v"


def test_unwritable_database_is_a_clear_error(tmp_path):
    """A database path that cannot be created says what to check."""
    from syncd.errors import StorageError
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StorageError, match="cannot open database"):
        open_db(blocker / "sub" / "a.db")
