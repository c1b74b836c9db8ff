"""Issue 18, finding 7: an action that fails on its data is dead with the reason, at once."""
from __future__ import annotations

import json

from standins import add_action, notify_params

from test_delivery import _row, _setup


def test_notify_whose_time_is_not_a_date_is_still_sent(tmp_path):
    """event.at that is not a date (gchat.when) shows as given; the card is rendered, once."""
    _, store, worker = _setup(tmp_path, chat_url="")
    params = notify_params(42)
    params["event"]["at"] = "not a date"
    action = add_action(store.db().conn, 42, "notify", params)
    assert worker.run_once() and not worker.run_once()
    row = _row(store, action)
    assert (row["status"], row["attempts"]) == ("dry_run", 1)
    card = json.loads(row["result"])["message"]["cardsV2"][0]["card"]
    assert "not a date" in json.dumps(card)


def test_an_unexpected_error_is_dead_not_retried_forever(tmp_path):
    """A sender raising a bug (not TransientError) makes the action dead with the reason
    after one attempt; it is not claimed again."""
    _, store, worker = _setup(tmp_path, chat_url="")

    class Broken:
        def render(self, action):
            raise KeyError("ticket")
    worker.notifiers["staff"] = Broken()
    action = add_action(store.db().conn, 42, "notify", notify_params(42))
    assert worker.run_once() and not worker.run_once()
    row = _row(store, action)
    assert (row["status"], row["attempts"]) == ("dead", 1)
    assert "KeyError" in row["last_error"] and "not retried" in row["last_error"]


def test_a_locked_database_is_still_retried(tmp_path):
    """sqlite3.OperationalError (locked) is transient: the action waits and is tried again."""
    import sqlite3
    _, store, worker = _setup(tmp_path, chat_url="")

    class Locked:
        def render(self, action):
            raise sqlite3.OperationalError("database is locked")
    worker.notifiers["staff"] = Locked()
    action = add_action(store.db().conn, 42, "notify", notify_params(42))
    assert worker.run_once()
    assert _row(store, action)["status"] == "pending"
