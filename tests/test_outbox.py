"""The outbox: claim under a lease, per-ticket order, backoff, dead, retry."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

from click.testing import CliRunner

from standins import add_action, notify_params
from syncd.outbox import queue as outbox
from syncd.cli import main
from syncd.store.db import open_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def _db(tmp_path):
    return open_db(tmp_path / "syncd.db")


def _add(db, ticket_id, kind="notify", at=T0):
    from syncd.clock import iso
    return add_action(db.conn, ticket_id, kind, notify_params(ticket_id), iso(at))


def _status(db, action_id):
    return db.conn.execute("SELECT status FROM outbox WHERE id = ?", (action_id,)).fetchone()[0]


def test_claim_leases_the_oldest_due_action(tmp_path):
    """claim takes the oldest due action, marks it sending with a lease and counts the attempt."""
    db = _db(tmp_path)
    first, second = _add(db, 1), _add(db, 2)
    action = outbox.claim(db, "w1", T0, 60)
    assert action.id == first and action.attempts == 1 and action.params["channel"] == "staff"
    row = db.conn.execute("SELECT status, lease_until, worker FROM outbox WHERE id = ?", (first,)).fetchone()
    assert row[0] == "sending" and row[1].startswith("2026-03-02T09:01:00") and row[2] == "w1"
    assert outbox.claim(db, "w2", T0, 60).id == second
    assert outbox.claim(db, "w3", T0, 60) is None


def test_claim_keeps_a_tickets_actions_in_order(tmp_path):
    """A ticket's second action waits while its first is in flight or backing off."""
    db = _db(tmp_path)
    a1, a2 = _add(db, 7), _add(db, 7)
    first = outbox.claim(db, "w1", T0, 60)
    assert first.id == a1 and outbox.claim(db, "w2", T0, 60) is None
    outbox.retry_later(db, first, "503", T0)
    assert outbox.claim(db, "w2", T0, 60) is None  # a1 backs off; a2 must not overtake it
    again = outbox.claim(db, "w2", T0 + timedelta(seconds=6), 60)
    assert again.id == a1 and again.attempts == 2
    outbox.complete(db, again, {"ok": True}, T0)
    assert outbox.claim(db, "w2", T0 + timedelta(seconds=6), 60).id == a2


def test_dead_action_does_not_block_the_ticket(tmp_path):
    """Once an action is dead, the ticket's next action can go."""
    db = _db(tmp_path)
    a1, a2 = _add(db, 7), _add(db, 7)
    outbox.dead(db, outbox.claim(db, "w1", T0, 60), "404 space deleted", T0)
    assert _status(db, a1) == "dead"
    assert outbox.claim(db, "w1", T0, 60).id == a2


def test_expired_lease_is_reclaimed(tmp_path):
    """A crashed worker's lease expires and another worker takes the action again."""
    db = _db(tmp_path)
    _add(db, 1)
    first = outbox.claim(db, "w1", T0, 60)
    assert outbox.claim(db, "w2", T0 + timedelta(seconds=59), 60) is None
    again = outbox.claim(db, "w2", T0 + timedelta(seconds=61), 60)
    assert again.id == first.id and again.attempts == 2 and again.worker == "w2"
    assert not outbox.complete(db, first, None, T0)  # the old holder lost its lease
    assert outbox.complete(db, again, None, T0)


def test_backoff_doubles_honours_retry_after_and_is_capped():
    """Backoff is 5 s doubling, at least Retry-After, at most max_backoff_seconds."""
    assert [outbox.backoff(n, None, 3600) for n in (1, 2, 3)] == [5, 10, 20]
    assert outbox.backoff(1, 90, 3600) == 90
    assert outbox.backoff(20, None, 3600) == 3600
    assert outbox.backoff(1, 7200, 3600) == 3600


def test_retry_later_goes_dead_after_max_attempts(tmp_path):
    """The last allowed attempt that fails moves the action to dead with the reason."""
    db = _db(tmp_path)
    action_id = _add(db, 1)
    now = T0
    for _ in range(3):
        action = outbox.claim(db, "w", now, 60)
        state = outbox.retry_later(db, action, "503 down", now, max_attempts=3)
        now += timedelta(hours=1)
    assert state == "dead" and _status(db, action_id) == "dead"
    error = db.conn.execute("SELECT last_error FROM outbox WHERE id = ?", (action_id,)).fetchone()[0]
    assert "3 attempts" in error and "503 down" in error


def test_without_a_limit_a_failing_action_stays_until_delivered(tmp_path):
    """The default (max_attempts 0): 60 failures later the action is still pending."""
    db = _db(tmp_path)
    action_id = _add(db, 1)
    now = T0
    for _ in range(60):
        action = outbox.claim(db, "w", now, 60)
        assert outbox.retry_later(db, action, "503 down", now) == "pending"
        now += timedelta(hours=2)
    assert _status(db, action_id) == "pending"


def test_two_threads_never_claim_the_same_action(tmp_path):
    """Concurrent claims (BEGIN IMMEDIATE + UPDATE) hand each action to one worker."""
    path = tmp_path / "syncd.db"
    db = open_db(path)
    for i in range(60):
        _add(db, i)
    got: list[int] = []
    lock = threading.Lock()

    def work(name):
        mine = open_db(path, migrate_now=False)
        for _ in range(100):
            action = outbox.claim(mine, name, T0, 60)
            if action is None:
                return
            with lock:
                got.append(action.id)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert sorted(got) == sorted(set(got)) and len(got) == 60


def test_retry_requeues_dead_but_not_sent(tmp_path):
    """retry makes dead actions due now with fresh attempts and leaves sent ones alone."""
    db = _db(tmp_path)
    dead_id, sent_id = _add(db, 1), _add(db, 2)
    outbox.dead(db, outbox.claim(db, "w", T0, 60), "404", T0)
    outbox.complete(db, outbox.claim(db, "w", T0, 60), None, T0)
    assert outbox.retry(db, [dead_id, sent_id, 999], T0) == [dead_id]
    row = db.conn.execute("SELECT status, attempts FROM outbox WHERE id = ?", (dead_id,)).fetchone()
    assert row == ("pending", 0) and _status(db, sent_id) == "sent"


def test_list_and_cli_show_and_retry_failed(tmp_path, settings):
    """`syncd outbox --failed` lists dead actions; `retry --all-failed` queues them again."""
    db = open_db(settings.resolve(settings.database))
    a = _add(db, 1)
    _add(db, 2)
    outbox.dead(db, outbox.claim(db, "w", T0, 60), "channel staff: 404: gone", T0)
    assert [r["id"] for r in outbox.list_actions(db, failed=True)] == [a]
    runner = CliRunner()
    cfg = ["--config", settings.path]
    (tmp_path / "config.yaml").write_text(f"database: {settings.database}\nrules: {tmp_path}/r\n")
    listed = runner.invoke(main, cfg + ["outbox", "--failed"])
    assert listed.exit_code == 0 and "404: gone" in listed.output and "dead" in listed.output
    as_json = runner.invoke(main, cfg + ["outbox", "--json"])
    assert as_json.exit_code == 0 and len(as_json.output.strip().splitlines()) == 2
    retried = runner.invoke(main, cfg + ["outbox", "retry", "--all-failed"])
    assert retried.exit_code == 0 and "1 action(s) queued again" in retried.output
    assert _status(db, a) == "pending"
    both = runner.invoke(main, cfg + ["outbox", "retry", "1", "--all-failed"])
    assert both.exit_code == 2


def test_an_admins_retry_still_counts_as_a_retry_for_idempotency(tmp_path):
    """After `outbox retry` resets attempts, the claimed action knows it was tried before,
    so the gateway looks for its marker before posting again."""
    db = _db(tmp_path)
    action_id = _add(db, 1)
    first = outbox.claim(db, "w", T0, 60)
    assert first.tried_before is False
    outbox.dead(db, first, "timed out (the post may have been made)", T0)
    outbox.retry(db, [action_id], T0)
    again = outbox.claim(db, "w", T0, 60)
    assert again.attempts == 1 and again.tried_before is True
