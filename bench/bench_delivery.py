"""Delivery benchmark: outbox → Google Chat stand-in latency, and backlog drain vs the limit.

    python bench/bench_delivery.py [--actions 1000] [--limit 600] [--samples 200]

Prints ``event_to_chat_p50_ms``, ``event_to_chat_p99_ms`` (measured from the outbox insert
to the stand-in receiving the card: the processor's share is measured by bench_ingest /
the lead's pipeline bench) and ``backlog_drain_ratio_vs_limit`` (sends per second over the
space's limit, with ``--actions`` queued and the stand-in enforcing ``--limit`` a minute)
plus the number of 429s the stand-in answered (the goal is 0).
"""
from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from standins import add_action, notify_params  # noqa: E402
from standins.gchat import ChatStandIn  # noqa: E402
from syncd import logs  # noqa: E402
from syncd.clock import iso  # noqa: E402
from syncd.config import settings_from_text  # noqa: E402
from syncd.delivery import make_workers  # noqa: E402
from syncd.store import Store  # noqa: E402

IDLE_POLL = 0.002  # the bench's worker loop; syncd serve's loop idles longer (see docs/delivery.md)


def _settings(folder: Path, url: str, per_minute: int, workers: int = 2):
    text = (f"database: {folder / 'bench.db'}\nrules: {folder / 'rules'}\n"
            f"channels:\n  staff: {{type: gchat, url: '{url}', messages_per_minute: {per_minute}}}\n"
            f"outbox: {{workers: {workers}}}\n")
    return settings_from_text(text, str(folder / "config.yaml"), env={})


def _run_workers(settings, stop: threading.Event) -> list[threading.Thread]:
    workers = make_workers(settings, Store(settings.resolve(settings.database)))

    def loop(worker):
        while not stop.is_set():
            if not worker.run_once():
                time.sleep(IDLE_POLL)

    threads = [threading.Thread(target=loop, args=(w,), daemon=True) for w in workers]
    for t in threads:
        t.start()
    return threads


def latency(samples: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp, ChatStandIn(limit=10**6) as chat:
        settings = _settings(Path(tmp), chat.url, 10**6)
        conn = Store(settings.resolve(settings.database)).db().conn
        stop = threading.Event()
        threads = _run_workers(settings, stop)
        inserted: dict[str, float] = {}
        for i in range(samples):
            at = time.time()
            action_id = add_action(conn, i % 50, "notify", notify_params(i % 50), iso())
            inserted[str(action_id)] = at
            time.sleep(0.01)
        deadline = time.monotonic() + 60
        while len(chat.messages) < samples and time.monotonic() < deadline:
            time.sleep(0.01)
        stop.set()
        for t in threads:
            t.join(5)
        ms = sorted((m["received_at"] - inserted[m["requestId"].split("-")[1]]) * 1000
                    for m in chat.messages)
    return statistics.median(ms), ms[min(len(ms) - 1, int(len(ms) * 0.99))]


def drain(actions: int, limit: int) -> tuple[float, int, int]:
    with tempfile.TemporaryDirectory() as tmp, ChatStandIn(limit=limit, window=60.0) as chat:
        settings = _settings(Path(tmp), chat.url, limit)
        conn = Store(settings.resolve(settings.database)).db().conn
        for i in range(actions):
            add_action(conn, i % 200, "notify", notify_params(i % 200))
        stop = threading.Event()
        started = time.monotonic()
        threads = _run_workers(settings, stop)
        deadline = started + actions / (limit / 60.0) * 2 + 30
        while len(chat.messages) < actions and time.monotonic() < deadline:
            time.sleep(0.05)
        elapsed = time.monotonic() - started
        stop.set()
        for t in threads:
            t.join(5)
        rate = len(chat.messages) / elapsed
    return rate / (limit / 60.0), chat.rejected_429, len(chat.messages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--actions", type=int, default=1000)
    parser.add_argument("--limit", type=int, default=600, help="the stand-in's messages a minute")
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    logs.configure("json", level=logging.WARNING)  # one log line a send would be measured too
    p50, p99 = latency(args.samples)
    print(f"event_to_chat_p50_ms: {p50:.1f}  # outbox insert -> Chat stand-in has the card")
    print(f"event_to_chat_p99_ms: {p99:.1f}  # outbox insert -> Chat stand-in has the card")
    ratio, rejected, delivered = drain(args.actions, args.limit)
    print(f"backlog_drain_ratio_vs_limit: {ratio:.2f}  # {delivered}/{args.actions} actions, "
          f"stand-in limit {args.limit}/min, 429s: {rejected}")
    print(f"backlog_drain_429s: {rejected}")


if __name__ == "__main__":
    main()
