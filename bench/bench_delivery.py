"""Delivery benchmark: webhook → Google Chat card latency through `syncd serve`, and the
backlog drain against the space's rate limit.

    python bench/bench_delivery.py [--topics 400] [--rate 20] [--actions 1000] [--limit 600]

``event_to_chat_p50_ms`` / ``event_to_chat_p99_ms``: the whole path. ``syncd serve`` runs as
its own process (dry-run for Discourse, a ``staff`` gchat channel pointing at the Chat
stand-in in this process, one rule ``topic_created → notify: staff``). For each of
``--topics`` topics, sent ``--rate`` a second, the bench posts a signed ``post_created``
(the first post) and a signed ``topic_created``: the ticket is announced once both are in,
so the clock starts when the second delivery is answered 202 and stops when the stand-in
receives the card (matched by its ``thread.threadKey``). ``event_to_chat_cards: got/expected``
counts tickets with exactly one card; a missing or doubled card fails the bench (exit 1).
Goals: p50 < 50 ms, p99 < 250 ms.

``backlog_drain_ratio_vs_limit``: sends per second over the space's limit with
``--actions`` queued in the outbox and the stand-in enforcing ``--limit`` a minute (the
delivery workers alone, in this process), plus the number of 429s the stand-in answered
(``backlog_drain_429s``, the goal is 0). Goal: ratio >= 0.95.
"""
from __future__ import annotations

import argparse
import json
import logging
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from standins import add_action, notify_params  # noqa: E402
from standins.gchat import ChatStandIn  # noqa: E402
from syncd import logs  # noqa: E402
from syncd.config import settings_from_text  # noqa: E402
from syncd.outbox.workers import make_workers  # noqa: E402
from syncd.channels.gchat import thread_key  # noqa: E402
from syncd.replay import read_recording, signed  # noqa: E402
from syncd.store.db import Store  # noqa: E402

IDLE_POLL = 0.002  # the drain bench's worker loop
SECRET = "bench-secret-not-real-01"
FIRST_TOPIC = 500_000
UNLIMITED = 1_000_000  # messages a minute: the latency run measures the path, not the pacing
RULE = ("rules:\n  - name: announce-to-staff\n    on: topic_created\n"
        "    then:\n      - notify: staff\n")


# --- end to end: syncd serve ----------------------------------------------------------------
class TimedChat(ChatStandIn):
    """The Chat stand-in, stamping each new card with a monotonic clock when its request
    reaches the handler (before the stand-in validates it against the schema)."""

    def _create(self, q, body):
        arrived, count = time.monotonic(), len(self.messages)
        answer = super()._create(q, body)
        if len(self.messages) > count:
            self.messages[-1]["arrived_mono"] = arrived
        return answer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def topic_deliveries(topic_id: int) -> list[tuple[dict[str, str], bytes]]:
    """The signed first post, then the signed topic, of one new ticket."""
    out = []
    for name, root in (("post_created", "post"), ("topic_created", "topic")):
        headers, raw = read_recording(ROOT / "webhooks" / f"{name}.json")
        body = json.loads(raw)
        if root == "post":
            body["post"].update(id=topic_id * 10 + 1, topic_id=topic_id, post_number=1,
                                post_url=f"/t/bench-{topic_id}/{topic_id}/1")
        else:
            body["topic"].update(id=topic_id, slug=f"bench-{topic_id}")
        raw = json.dumps(body, separators=(",", ":")).encode()
        event_id = f"{topic_id}{1 if root == 'post' else 2}"
        out.append((signed({**headers, "X-Discourse-Event-Id": event_id}, raw, SECRET), raw))
    return out


def write_config(tmp: Path, port: int, chat_url: str) -> Path:
    (tmp / "rules").mkdir()
    (tmp / "rules" / "10-bench.yaml").write_text(RULE)
    cfg = tmp / "config.yaml"
    cfg.write_text(
        f"database: {tmp / 'syncd.db'}\nrules: {tmp / 'rules'}\nlog_format: json\n"
        f"server: {{host: 127.0.0.1, port: {port}}}\n"
        f"discourse:\n  url: ''\n  webhook_secret: {SECRET}\n  categories: [support]\n"
        "  category_map: {support: 5}\n"
        f"channels:\n  staff: {{type: gchat, url: '{chat_url}', messages_per_minute: {UNLIMITED}}}\n"
        "processor: {first_post_grace_seconds: 30}\n")
    return cfg


def wait_ready(port: int, proc: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"syncd serve exited with {proc.returncode}:\n"
                             + log_path.read_text(errors="replace")[-2000:])
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code < 600:
                return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise SystemExit("syncd serve did not start within 30 s")


def stop(proc: subprocess.Popen, grace: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(grace)


def end_to_end(topics: int, rate: float) -> tuple[list[float], int, int, int]:
    """Latencies (ms) of the tickets whose card arrived once; expected, got-once, doubled."""
    tmp = Path(tempfile.mkdtemp(prefix="syncd-bench-delivery-"))
    port = free_port()
    log_path = tmp / "serve.log"
    with TimedChat(limit=UNLIMITED) as chat:
        cfg = write_config(tmp, port, chat.url)
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", "syncd", "--config", str(cfg), "serve"],
                                    cwd=ROOT, stdout=log, stderr=log)
        try:
            wait_ready(port, proc, log_path)
            url = f"http://127.0.0.1:{port}/webhooks/discourse"
            ids = [FIRST_TOPIC + i for i in range(topics)]
            bodies = {t: topic_deliveries(t) for t in ids}
            complete: dict[str, float] = {}   # threadKey -> when the second 202 came back
            refused: list[str] = []
            session = requests.Session()
            start = time.monotonic()
            for n, topic in enumerate(ids):
                due = start + n / rate
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                for headers, raw in bodies[topic]:
                    answer = session.post(url, data=raw, headers=headers, timeout=10)
                    if answer.status_code != 202:
                        refused.append(f"topic {topic}: {answer.status_code} {answer.text[:200]}")
                complete[thread_key(topic)] = time.monotonic()
            deadline = time.monotonic() + 30
            while len(chat.messages) < topics and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.5)  # a doubled card would arrive now
        finally:
            stop(proc)
        with chat.lock:
            messages = list(chat.messages)
    if refused:
        print("\n".join(refused[:5]), file=sys.stderr)
    per_key = Counter((m.get("thread") or {}).get("threadKey") for m in messages)
    ms = sorted((m["arrived_mono"] - complete[key]) * 1000 for m in messages
                if (key := (m.get("thread") or {}).get("threadKey")) in complete
                and per_key[key] == 1)
    once = sum(1 for key in complete if per_key[key] == 1)
    doubled = sum(1 for key in complete if per_key[key] > 1)
    strays = sum(n for key, n in per_key.items() if key not in complete)
    if doubled or strays or once < topics:
        print(f"cards: {once} once, {doubled} doubled, {topics - once - doubled} missing, "
              f"{strays} for unknown threads; serve log: {log_path}", file=sys.stderr)
    else:
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)
    return ms, topics, once, doubled + strays


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(len(values) * q))]


# --- backlog drain: the delivery workers alone ------------------------------------------------
def _settings(folder: Path, url: str, per_minute: int, workers: int = 2):
    text = (f"database: {folder / 'bench.db'}\nrules: {folder / 'rules'}\n"
            f"channels:\n  staff: {{type: gchat, url: '{url}', messages_per_minute: {per_minute}}}\n"
            f"outbox: {{workers: {workers}}}\n")
    return settings_from_text(text, str(folder / "config.yaml"), env={})


def _run_workers(settings, stop_event: threading.Event) -> list[threading.Thread]:
    workers = make_workers(settings, Store(settings.resolve(settings.database)))

    def loop(worker):
        while not stop_event.is_set():
            if not worker.run_once():
                time.sleep(IDLE_POLL)

    threads = [threading.Thread(target=loop, args=(w,), daemon=True) for w in workers]
    for t in threads:
        t.start()
    return threads


def drain(actions: int, limit: int) -> tuple[float, int, int]:
    with tempfile.TemporaryDirectory() as tmp, ChatStandIn(limit=limit, window=60.0) as chat:
        settings = _settings(Path(tmp), chat.url, limit)
        conn = Store(settings.resolve(settings.database)).db().conn
        for i in range(actions):
            add_action(conn, i % 200, "notify", notify_params(i % 200))
        stop_event = threading.Event()
        started = time.monotonic()
        threads = _run_workers(settings, stop_event)
        deadline = started + actions / (limit / 60.0) * 2 + 30
        while len(chat.messages) < actions and time.monotonic() < deadline:
            time.sleep(0.05)
        elapsed = time.monotonic() - started
        stop_event.set()
        for t in threads:
            t.join(5)
        rate = len(chat.messages) / elapsed
    return rate / (limit / 60.0), chat.rejected_429, len(chat.messages)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--topics", type=int, default=400)
    parser.add_argument("--rate", type=float, default=20.0, help="topics a second")
    parser.add_argument("--actions", type=int, default=1000)
    parser.add_argument("--limit", type=int, default=600, help="the stand-in's messages a minute")
    parser.add_argument("--skip-drain", action="store_true", help="only the end-to-end latency")
    args = parser.parse_args()
    logs.configure("json", level=logging.WARNING)  # one log line a send would be measured too
    ms, expected, once, extra = end_to_end(args.topics, args.rate)
    what = f"second delivery's 202 -> Chat stand-in has the card, {args.rate:g} topics/s"
    print(f"event_to_chat_p50_ms: {statistics.median(ms) if ms else float('nan'):.1f}  # {what}")
    print(f"event_to_chat_p99_ms: {percentile(ms, 0.99):.1f}  # {what}")
    print(f"event_to_chat_cards: {once}/{expected}" + (f"  # {extra} extra" if extra else ""))
    if not args.skip_drain:
        ratio, rejected, delivered = drain(args.actions, args.limit)
        print(f"backlog_drain_ratio_vs_limit: {ratio:.2f}  # {delivered}/{args.actions} actions, "
              f"stand-in limit {args.limit}/min, 429s: {rejected}")
        print(f"backlog_drain_429s: {rejected}")
    if once < expected or extra:
        print("a card is missing or doubled", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
