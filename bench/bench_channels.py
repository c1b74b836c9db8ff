"""Channel drain benchmark: a backlog drained into each channel's stand-in at its published
limit, with the channel's default pacing.

    python bench/bench_channels.py [--seconds 8]

For Slack (an incoming webhook: 1 message a second), Teams (a Workflows webhook: the
connectors' 4 a second) and Trello (100 requests per 10 s per token; at least 12 s, so
the rolling window is crossed), ``--seconds`` worth of notifications wait in the outbox;
two delivery workers drain them against the stand-in,
which enforces the limit and answers 429 beyond it. Printed per channel:
``<type>_drain_ratio_vs_limit`` (sends per second between the first and the last send,
over the stand-in's limit; goal >= 0.95) and ``<type>_drain_429s`` (goal 0). Measured
against the limit in the same run, so a busy machine shows up as a lower ratio, not a
wrong one.
"""
from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from standins import add_action, notify_params  # noqa: E402
from standins.slack import SlackStandIn  # noqa: E402
from standins.teams import TeamsStandIn  # noqa: E402
from standins.trello import TrelloStandIn  # noqa: E402
from syncd import logs  # noqa: E402
from syncd.config import settings_from_text  # noqa: E402
from syncd.outbox.workers import make_workers  # noqa: E402
from syncd.store.db import Store, transaction  # noqa: E402

IDLE_POLL = 0.01


def run(folder: Path, channel_yaml: str, count: int, sent, deadline_s: float) -> float:
    """Queue ``count`` notifications, drain them with two workers; the wall time taken."""
    settings = settings_from_text(f"database: {folder / 'bench.db'}\nrules: {folder / 'rules'}\n"
                                  f"channels:\n  ch: {channel_yaml}\noutbox: {{workers: 2}}\n",
                                  str(folder / "config.yaml"), env={})
    store = Store(settings.resolve(settings.database))
    with transaction(store.db()) as conn:
        for i in range(count):
            add_action(conn, 1000 + i, "notify", notify_params(1000 + i, "ch"))
    stop = threading.Event()

    def loop(worker):
        while not stop.is_set():
            if not worker.run_once():
                time.sleep(IDLE_POLL)

    threads = [threading.Thread(target=loop, args=(w,), daemon=True) for w in make_workers(settings, store)]
    started = time.monotonic()
    for t in threads:
        t.start()
    while sent() < count and time.monotonic() - started < deadline_s:
        time.sleep(0.02)
    stop.set()
    for t in threads:
        t.join(10)
    return time.monotonic() - started


def ratio(stamps: list[float], per_second: float) -> float:
    """Sends a second between the first and the last send, over the limit."""
    if len(stamps) < 2:
        return float("nan")
    stamps = sorted(stamps)
    return (len(stamps) - 1) / (stamps[-1] - stamps[0]) / per_second


def bench_slack(seconds: float) -> tuple[float, int, int, int]:
    count = max(3, int(seconds * 1))
    with tempfile.TemporaryDirectory() as tmp, SlackStandIn(limit=1, window=1.0) as slack:
        run(Path(tmp), f"{{type: slack, url: '{slack.url}'}}", count, lambda: len(slack.messages),
            seconds * 3 + 30)
        stamps = [m["received_at"] for m in slack.messages]
        return ratio(stamps, 1.0), slack.rejected_429, len(slack.messages), count


def bench_teams(seconds: float) -> tuple[float, int, int, int]:
    count = max(3, int(seconds * 4))
    with tempfile.TemporaryDirectory() as tmp, TeamsStandIn(limit=4, window=1.0) as teams:
        run(Path(tmp), f"{{type: teams, url: '{teams.url}', messages_per_minute: 240}}", count,
            lambda: len(teams.cards), seconds * 3 + 30)
        stamps = [c["received_at"] for c in teams.cards]
        return ratio(stamps, 4.0), teams.rejected_429, len(teams.cards), count


def bench_trello(seconds: float) -> tuple[float, int, int, int]:
    count = max(3, int(max(seconds, 12.0) * 10))     # past one 10 s window at least
    with tempfile.TemporaryDirectory() as tmp, TrelloStandIn(token_limit=100, window=10.0) as trello:
        lists = "{urgent: L-urgent, high: L-high, normal: L-normal, low: L-low}"
        run(Path(tmp), f"{{type: trello, key: {trello.key}, token: {trello.token}, lists: {lists}, "
                       f"api_url: '{trello.api_url}'}}", count, lambda: len(trello.cards), seconds * 3 + 30)
        stamps = [at for method, path, at in trello.calls if method == "POST"]
        return ratio(stamps, 10.0), trello.rejected_429, len(trello.cards), count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="backlog size, in seconds at the limit")
    args = parser.parse_args()
    logs.configure("json", level=logging.WARNING)
    failed = False
    for name, bench in (("slack", bench_slack), ("teams", bench_teams), ("trello", bench_trello)):
        r, rejected, got, expected = bench(args.seconds)
        print(f"{name}_drain_ratio_vs_limit: {r:.3f}", flush=True)
        print(f"{name}_drain_429s: {rejected}", flush=True)
        print(f"{name}_drain_sent: {got}/{expected}", flush=True)
        failed |= got != expected or rejected > 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
