"""A worker SIGKILLed after the destination acted but before the outbox committed: the
next worker finds the first card or message (Trello's marker, Slack's thread marker) and
does not make a second one."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

from standins import wait_for
from standins.outbox import channel_settings, done, drain, notify, outbox_rows, refs, workers
from standins.slack import SlackStandIn
from standins.trello import TrelloStandIn
from syncd.clock import utcnow

ROOT = Path(__file__).resolve().parent.parent
RUNNER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {root!r})
    from syncd.config import load_settings
    from syncd.store.db import Store
    from syncd.outbox.workers import make_workers
    settings = load_settings({config!r}, env={{}})
    [worker] = make_workers(settings, Store(settings.resolve(settings.database)))[:1]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        worker.run_once() or time.sleep(0.02)
""")


def _crash_while_answering(tmp_path, acted) -> None:
    """Run one worker in a subprocess; SIGKILL it once ``acted()`` (the answer is held)."""
    script = RUNNER.format(root=str(ROOT), config=str(tmp_path / "config.yaml"))
    proc = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.DEVNULL)
    try:
        assert wait_for(acted, timeout=30)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)


def test_trello_card_made_before_a_crash_is_found_not_made_again(tmp_path):
    """Trello made the card; the worker died before committing; the next attempt finds it."""
    with TrelloStandIn() as trello:
        lists = "{urgent: L-urgent, high: L-high, normal: L-normal, low: L-low}"
        settings = channel_settings(tmp_path, (
            f"  board: {{type: trello, key: {trello.key}, token: {trello.token}, lists: {lists},"
            f" api_url: '{trello.api_url}'}}"), extra="")
        notify(settings, 42, "board")
        trello.hold_creates = 1
        _crash_while_answering(tmp_path, lambda: len(trello.cards) == 1)
        trello.release.set()
        assert outbox_rows(settings)[0]["status"] == "sending"
        assert refs(settings, "board")[(42, "card")].startswith("creating:")
        drain(workers(settings), lambda: done(settings), now=utcnow() + timedelta(minutes=5))
        assert len(trello.cards) == 1 and outbox_rows(settings)[0]["status"] == "sent"
        assert refs(settings, "board")[(42, "card")] == next(iter(trello.cards))


def test_slack_bot_message_posted_before_a_crash_is_not_posted_again(tmp_path):
    """Slack posted the thread's first message; the worker died; the retry finds its marker."""
    with SlackStandIn(limit=1000) as slack:
        settings = channel_settings(tmp_path, (
            f"  it: {{type: slack, token: {slack.token}, channel: {slack.channel_id},"
            f" api_url: '{slack.api_url}'}}"))
        notify(settings, 42, "it")
        slack.hold_posts = 1
        _crash_while_answering(tmp_path, lambda: len(slack.messages) == 1)
        slack.release.set()
        drain(workers(settings), lambda: done(settings), now=utcnow() + timedelta(minutes=5))
        assert len(slack.messages) == 1 and outbox_rows(settings)[0]["status"] == "sent"
        assert refs(settings, "it")[(42, "thread_ts")] == slack.messages[0]["ts"]
