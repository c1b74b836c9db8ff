"""Order per ticket per destination: one destination's outage holds back nothing else."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from standins import add_action, notify_params
from standins.discourse import DiscourseStandIn
from standins.gchat import ChatStandIn
from syncd.clock import iso
from syncd.config import load_settings
from syncd.outbox import queue as outbox
from syncd.outbox.workers import make_workers
from syncd.store.db import Store

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def _settings(tmp_path, forum, staff, deans):
    path = tmp_path / "config.yaml"
    path.write_text(
        f"database: {tmp_path / 'syncd.db'}\nrules: {tmp_path / 'rules'}\n"
        f"discourse:\n  url: {forum.base_url}\n  api_key: test-api-key\n"
        "  api_calls_per_minute: 100000\n"
        "channels:\n"
        f"  staff: {{type: gchat, url: '{staff.url}', messages_per_minute: 60000}}\n"
        f"  deans: {{type: gchat, url: '{deans.url}', messages_per_minute: 60000}}\n"
        "outbox: {workers: 1, lease_seconds: 30}\n")
    return load_settings(str(path), env={})


def test_a_chat_outage_holds_back_neither_discourse_nor_another_channel(tmp_path):
    """Ticket 2003: the staff space is down; the reply to the student and the deans' card
    still go at once, and the staff card follows, in order, once the space is back."""
    with DiscourseStandIn() as forum, ChatStandIn(limit=1000) as staff, \
            ChatStandIn(limit=1000) as deans:
        forum.add_topic(2003)
        settings = _settings(tmp_path, forum, staff, deans)
        [worker] = make_workers(settings, Store(settings.resolve(settings.database)))
        worker.sleep = lambda s: None
        conn = worker.store.db().conn
        first = add_action(conn, 2003, "notify", notify_params(2003, "staff"), iso(T0))
        second = add_action(conn, 2003, "notify", notify_params(2003, "staff"), iso(T0))
        add_action(conn, 2003, "reply", {"raw": "Thanks, we are on it."}, iso(T0))
        add_action(conn, 2003, "notify", notify_params(2003, "deans"), iso(T0))
        staff.down = True
        now = T0
        for _ in range(12):
            worker.run_once(now=now)
            now += timedelta(seconds=1)
        assert len(forum.replies(2003)) == 1
        assert len(deans.messages) == 1
        assert staff.messages == []
        rows = dict(conn.execute("SELECT id, status FROM outbox WHERE kind = 'notify' "
                                 "AND destination = 'channel:staff'").fetchall())
        assert rows == {first: "pending", second: "pending"}
        staff.down = False
        for _ in range(200):
            worker.run_once(now=now)
            now += timedelta(seconds=30)
            if len(staff.messages) == 2:
                break
        assert [int(m["requestId"].split("-")[1]) for m in staff.messages] == [first, second]


def test_migration_007_backfills_the_destination_of_waiting_actions(tmp_path):
    """A database from before 007 with actions waiting: each gets its destination."""
    import shutil
    from syncd.store import db as storage
    older = tmp_path / "migrations"
    older.mkdir()
    for path in storage.MIGRATIONS.glob("*.sql"):
        if int(path.name.split("_")[0]) < 7:
            shutil.copy(path, older / path.name)
    database = storage.open_db(tmp_path / "old.db", migrate_now=False)
    storage.migrate(database, older)
    a = add_action(database.conn, 1, "notify", notify_params(1, "staff"))
    b = add_action(database.conn, 1, "reply", {"raw": "hi"})
    storage.migrate(database)
    got = dict(database.conn.execute("SELECT id, destination FROM outbox").fetchall())
    assert got == {a: "channel:staff", b: "discourse"}


def test_destination_is_filled_for_every_insert(tmp_path):
    """Rows written without a destination (any writer of the outbox) get one."""
    store = Store(tmp_path / "syncd.db")
    conn = store.db().conn
    a = add_action(conn, 1, "notify", notify_params(1, "it-urgent"))
    b = add_action(conn, 1, "add_tags", {"tags": ["x"]})
    got = dict(conn.execute("SELECT id, destination FROM outbox").fetchall())
    assert got == {a: "channel:it-urgent", b: "discourse"}


def test_claim_keeps_order_within_one_destination(tmp_path):
    """A ticket's second Discourse action waits for its first; its card does not."""
    store = Store(tmp_path / "syncd.db")
    db = store.db()
    add_action(db.conn, 7, "reply", {"raw": "one"}, iso(T0))
    add_action(db.conn, 7, "close_topic", {}, iso(T0))
    card = add_action(db.conn, 7, "notify", notify_params(7, "staff"), iso(T0))
    one = outbox.claim(db, "w1", T0)
    other = outbox.claim(db, "w2", T0)
    assert one.kind == "reply" and other.id == card
    assert outbox.claim(db, "w3", T0) is None
