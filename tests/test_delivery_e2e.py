"""End to end over loopback stand-ins of Discourse and Google Chat: outages, 429s, SIGKILL."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from standins import add_action, notify_params, wait_for
from standins.discourse import DiscourseStandIn
from standins.gchat import ChatStandIn
from syncd.clock import iso
from syncd.config import load_settings
from syncd.outbox.workers import make_workers
from syncd.store.db import Store

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def _config(tmp_path, chat=None, discourse=None, extra=""):
    text = (f"database: {tmp_path / 'syncd.db'}\nrules: {tmp_path / 'rules'}\ntimezone: Asia/Kolkata\n"
            "discourse:\n  api_key: test-api-key\n  api_calls_per_minute: 100000\n"
            "  staff_groups: [support-team]\n"
            + (f"  url: {discourse.base_url}\n" if discourse else "")
            + "channels:\n"
            + (f"  staff: {{type: gchat, url: '{chat.url}', messages_per_minute: 60000}}\n" if chat
               else "  staff: {type: log}\n")
            + "outbox: {workers: 2, lease_seconds: 2}\n" + extra)
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return load_settings(str(path), env={})


def _workers(settings):
    workers = make_workers(settings, Store(settings.resolve(settings.database)))
    for w in workers:
        w.sleep = lambda s: None
    return workers


def _drain(workers, now, until, step=timedelta(seconds=30), limit=400):
    """Run the workers with a driven clock until ``until()`` (bounded)."""
    for _ in range(limit):
        busy = any([w.run_once(now=now) for w in workers])
        if until():
            return now
        if not busy:
            now += step
    raise AssertionError("the outbox did not drain")


def _ticket_order(messages):
    order: dict[str, list[int]] = {}
    for m in messages:
        action_id = int(m["requestId"].split("-")[1])
        order.setdefault(m["thread"]["threadKey"], []).append(action_id)
    return order


def test_chat_outage_then_recovery_loses_nothing_and_keeps_order(tmp_path):
    """Chat down for ten minutes: nothing lost, everything delivered after, in order per ticket."""
    with ChatStandIn(limit=10000) as chat:
        settings = _config(tmp_path, chat=chat)
        workers = _workers(settings)
        conn = workers[0].store.db().conn
        ids = [add_action(conn, t, "notify", notify_params(t), iso(T0)) for _ in range(3) for t in (1, 2, 3)]
        chat.down = True
        now = T0
        for _ in range(20):  # ten minutes of outage, driven
            for w in workers:
                w.run_once(now=now)
            now += timedelta(seconds=30)
        assert chat.messages == []
        chat.down = False
        _drain(workers, now, lambda: len(chat.messages) == len(ids))
        assert sorted(int(m["requestId"].split("-")[1]) for m in chat.messages) == sorted(ids)
        for key, order in _ticket_order(chat.messages).items():
            assert order == sorted(order), key
        assert len(chat.threads) == 3 and chat.invalid == []


def test_429_with_retry_after_is_honoured_and_all_delivered(tmp_path):
    """The space answers 429 with Retry-After; the channel pauses and every card arrives once."""
    with ChatStandIn(limit=3, window=1.0, retry_after=1) as chat:
        settings = _config(tmp_path, chat=chat)
        workers = make_workers(settings, Store(settings.resolve(settings.database)))
        conn = workers[0].store.db().conn
        for t in range(8):
            add_action(conn, t, "notify", notify_params(t))
        deadline = time.monotonic() + 30
        while len(chat.messages) < 8 and time.monotonic() < deadline:
            if not any([w.run_once() for w in workers]):
                time.sleep(0.05)
        assert len(chat.messages) == 8 and chat.rejected_429 >= 1
        assert len({m["requestId"] for m in chat.messages}) == 8


@pytest.mark.parametrize("version", ["3.4.2", "2026.2.0-latest"])
def test_discourse_actions_happen_once_across_429_and_a_crash(tmp_path, version):
    """Reply, private, move, tags, FAQ copy and close reach the stand-in once each, through a
    429 with Retry-After and a worker that crashed after posting; on a pre-2026 forum (tags
    as names) and a 2026 one (tag objects)."""
    with DiscourseStandIn(version=version) as forum:
        forum.add_topic(42, tags=["printer"])
        forum.add_topic(43, title="How do I reset it")
        settings = _config(tmp_path, discourse=forum)
        workers = _workers(settings)
        conn = workers[0].store.db().conn
        add_action(conn, 42, "reply", {"raw": "We are on it."}, iso(T0))
        add_action(conn, 42, "add_tags", {"tags": ["urgent"]}, iso(T0))
        add_action(conn, 42, "set_visibility", {"visibility": "private"}, iso(T0))
        add_action(conn, 43, "move_to_category", {"category": "hardware", "category_id": None}, iso(T0))
        add_action(conn, 43, "promote_faq", {"category": "faq", "category_id": 10, "mode": "copy",
                                             "accepted_post_id": None, "private": False,
                                             "title": "How do I reset it"}, iso(T0))
        add_action(conn, 43, "close_topic", {}, iso(T0))
        from syncd.outbox import queue as outbox
        crashed = outbox.claim(workers[0].store.db(), "ghost", T0, 2)   # a worker that dies
        workers[0].gateway.perform(crashed, lambda k, v: None, retrying=False)  # after posting
        forum.rate_limit_next(1, wait=1)
        _drain(workers, T0 + timedelta(seconds=3),
               lambda: conn.execute("SELECT COUNT(*) FROM outbox WHERE status != 'sent'").fetchone()[0] == 0,
               step=timedelta(seconds=5))
        assert len(forum.replies(42)) == 1 and forum.rejected_429 == 1
        t42, t43 = forum.topics[42], forum.topics[43]
        assert [t["name"] for t in t42["tags"]] == ["printer", "urgent"]
        assert t42["archetype"] == "private_message" and t42["allowed_groups"] == ["support-team"]
        assert t43["category_id"] == 7 and t43["closed"] is True
        faq = [t for t in forum.topics.values() if t["title"] == "FAQ: How do I reset it"]
        assert len(faq) == 1 and faq[0]["category_id"] == 10
        echoes = {tuple(r) for r in conn.execute("SELECT kind, value FROM echoes")}
        assert {("tag_added", "urgent"), ("visibility", "private"), ("category", "7"),
                ("closed", "True")} <= echoes
        assert forum.notified == [(42, "support-team", False)] and forum.deprecations == []


RUNNER = textwrap.dedent("""
    import sys, threading, time
    sys.path.insert(0, {root!r})
    from syncd.config import load_settings
    from syncd.store.db import Store
    from syncd.outbox.workers import make_workers
    settings = load_settings({config!r}, env={{}})
    workers = make_workers(settings, Store(settings.resolve(settings.database)))
    def loop(w):
        idle_until = time.monotonic() + 4
        while time.monotonic() < idle_until:
            if w.run_once():
                idle_until = time.monotonic() + 4
            else:
                time.sleep(0.02)
    threads = [threading.Thread(target=loop, args=(w,)) for w in workers]
    [t.start() for t in threads]
    [t.join(120) for t in threads]
""")


def test_sigkill_during_a_burst_delivers_every_notification_exactly_once(tmp_path):
    """Workers in a subprocess are SIGKILLed mid-burst and restarted: every notification
    reaches the space exactly once, in order per ticket."""
    with ChatStandIn(limit=100000) as chat:
        settings = _config(tmp_path, chat=chat)
        conn = Store(settings.resolve(settings.database)).db().conn
        total = 300
        for i in range(total):
            add_action(conn, i % 12, "notify", notify_params(i % 12))
        script = RUNNER.format(root=str(ROOT), config=str(tmp_path / "config.yaml"))
        first = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.DEVNULL)
        try:
            assert wait_for(lambda: len(chat.messages) >= 10, timeout=30)
            os.kill(first.pid, signal.SIGKILL)
        finally:
            first.wait(10)
        assert len(chat.messages) < total
        second = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.DEVNULL)
        try:
            assert wait_for(lambda: len(chat.messages) >= total, timeout=60)
        finally:
            second.wait(30)
        request_ids = [m["requestId"] for m in chat.messages]
        assert len(request_ids) == total == len(set(request_ids))
        for key, order in _ticket_order(chat.messages).items():
            assert order == sorted(order), key
        left = conn.execute("SELECT COUNT(*) FROM outbox WHERE status != 'sent'").fetchone()[0]
        assert left == 0
