"""`make fuzz`: hostile deliveries through a running `syncd serve` for a while, then counts.

Starts `syncd serve` on 127.0.0.1 (an ephemeral port, a temporary database, the shipped
rules, every destination dry-run), sends signed hostile bodies from a few threads
(tests/standins/hostile.py: recorded deliveries with one field set to a bad value,
structural cases, issue 18's seeds) until the time is up, waits for the pipeline to drain,
and prints:

    answers: {202: …, 200: …, 400: …}
    5xx: N                      (must be 0)
    writer deaths: N            (ingest writer restarts, or /healthz saying it is dead)
    lost acknowledged deliveries: N   (a 202 whose row is missing, or never processed)
    stuck actions: N            (undelivered actions left; all destinations are dry-run)

Exit status 1 when any of the last four is not 0. Loopback only; bounded in time.

    .venv/bin/python bench/fuzz_serve.py --seconds 600 --threads 8
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from standins import hostile  # noqa: E402
from syncd.replay import signed  # noqa: E402

SECRET = "fuzz-secret-not-real-0001"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(folder: Path, port: int) -> tuple[subprocess.Popen, Path]:
    """syncd serve over the example config and the shipped rules, every destination dry-run."""
    text = (ROOT / "config.example.yaml").read_text(encoding="utf-8")
    text = text.replace("rules: ./rules", f"rules: {ROOT / 'rules'}", 1)
    text = text.replace("server: {host: 127.0.0.1, port: 8080}",
                        f"server: {{host: 127.0.0.1, port: {port}}}\nlog_format: json", 1)
    cfg = folder / "config.yaml"
    cfg.write_text(text, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCOURSE_", "GCHAT_"))}
    env.update(SYNCD_DB=str(folder / "fuzz.db"), DISCOURSE_WEBHOOK_SECRET=SECRET)
    log = folder / "serve.log"
    proc = subprocess.Popen([sys.executable, "-m", "syncd", "--config", str(cfg), "serve"],
                            cwd=ROOT, stdout=log.open("ab"), stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"syncd serve exited: {log.read_text()[-2000:]}")
        if _get(port, "/healthz")[0] == 200:
            return proc, log
        time.sleep(0.2)
    proc.kill()
    sys.exit("syncd serve did not answer /healthz within 60 s")


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode("utf-8", "replace")
    except OSError:
        return 0, ""


class Fuzzer:
    def __init__(self, port: int, seed: int):
        self.port, self.seed = port, seed
        self.answers: Counter[int] = Counter()
        self.accepted: list[int] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.ids = iter(range(10_000_000, 10**9))

    def run(self, seconds: float, threads: int) -> None:
        stop = time.monotonic() + seconds
        workers = [threading.Thread(target=self._loop, args=(stop, i)) for i in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(seconds + 120)

    def _loop(self, stop: float, index: int) -> None:
        rng = random.Random(self.seed * 1000 + index)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while time.monotonic() < stop:
            name, raw, changes = hostile.mutation(rng)
            headers, _ = hostile.recording(name)
            with self.lock:
                event_id = next(self.ids)
            headers = signed({**headers, "X-Discourse-Event-Id": str(event_id), **changes},
                             raw, SECRET)
            try:
                conn.request("POST", "/webhooks/discourse", body=raw, headers=headers)
                resp = conn.getresponse()
                body = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                with self.lock:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                continue
            with self.lock:
                self.answers[resp.status] += 1
                if resp.status == 202:
                    self.accepted.append(json.loads(body)["delivery_id"])


def drain(db: Path, port: int, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with sqlite3.connect(db) as conn:
            pending = conn.execute("SELECT COUNT(*) FROM deliveries WHERE status = 'pending'"
                                   ).fetchone()[0]
            undelivered = conn.execute("SELECT COUNT(*) FROM outbox WHERE status IN "
                                       "('pending', 'sending')").fetchone()[0]
        if not pending and not undelivered:
            return
        time.sleep(0.5)


def report(fuzzer: Fuzzer, db: Path, log: Path, port: int, health_dead: int) -> int:
    with sqlite3.connect(db) as conn:
        rows = dict(conn.execute("SELECT id, status FROM deliveries").fetchall())
        stuck = conn.execute("SELECT COUNT(*) FROM outbox WHERE status IN ('pending', "
                             "'sending')").fetchone()[0]
        retried = conn.execute("SELECT COUNT(*) FROM outbox WHERE status = 'dead' AND "
                               "attempts > 1").fetchone()[0]
    lost = [i for i in fuzzer.accepted if rows.get(i) not in ("processed", "failed")]
    metrics = _get(port, "/metrics")[1]
    restarts = next((float(line.split()[1]) for line in metrics.splitlines()
                     if line.startswith("syncd_ingest_writer_restarts ")), 0.0)
    deaths = int(restarts) + health_dead + log.read_text().count("ingest_writer_restarted")
    fivexx = sum(n for status, n in fuzzer.answers.items() if status >= 500)
    print(f"requests: {sum(fuzzer.answers.values())}")
    print(f"answers: {dict(sorted(fuzzer.answers.items()))}")
    print(f"connection errors: {len(fuzzer.errors)}")
    print(f"5xx: {fivexx}")
    print(f"writer deaths: {deaths}")
    print(f"lost acknowledged deliveries: {len(lost)} (of {len(fuzzer.accepted)} acknowledged)")
    print(f"stuck actions: {stuck}")
    print(f"dead actions tried more than once: {retried}")
    return 1 if fivexx or deaths or lost or stuck or retried else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        port = free_port()
        proc, log = start(folder, port)
        print(f"fuzzing syncd serve on 127.0.0.1:{port} for {args.seconds:g} s, "
              f"{args.threads} threads, seed {args.seed}", flush=True)
        fuzzer = Fuzzer(port, args.seed)
        health_dead = 0
        watcher_stop = threading.Event()

        def watch() -> None:
            nonlocal health_dead
            while not watcher_stop.wait(5):
                status, body = _get(port, "/healthz")
                if status == 503 and "ingest_writer" in body:
                    health_dead += 1
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            fuzzer.run(args.seconds, args.threads)
            drain(folder / "fuzz.db", port)
            watcher_stop.set()
            code = report(fuzzer, folder / "fuzz.db", log, port, health_dead)
        finally:
            proc.terminate()
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                print("syncd serve did not stop within 60 s of SIGTERM")
                code = 1
        print(f"serve exit status: {proc.returncode}")
        return code


if __name__ == "__main__":
    sys.exit(main())
