"""Ingest benchmark: `syncd serve` against a bare Flask app on the same server (waitress).

Both run as their own processes; the load comes from a third (bench/loadgen.py) with the
same signed deliveries. Prints ingest_rps, bare_rps, their ratio, the p99 latency at 200
deliveries/s, syncd's RSS, and checks that every acknowledged delivery is stored.
Goals: ratio >= 0.5, p99 < 10 ms at 200/s, RSS < 120 MB.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from syncd.replay import read_recording, signed  # noqa: E402

SECRET = "bench-secret-not-real-01"
SECONDS = float(os.environ.get("BENCH_SECONDS", "3"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def deliveries(first: int, count: int) -> list[tuple[dict, str]]:
    headers, raw = read_recording(ROOT / "webhooks" / "topic_created.json")
    body = json.loads(raw)
    out = []
    for i in range(first, first + count):
        body["topic"]["id"] = i
        raw = json.dumps(body, separators=(",", ":")).encode()
        h = signed({**headers, "X-Discourse-Event-Id": str(i)}, raw, SECRET)
        out.append((h, raw.decode()))
    return out


def wait_ready(port: int, proc: subprocess.Popen) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise SystemExit("server did not start")


def load(mode: str, port: int, arg: float, reqs: list, tmp: Path) -> dict:
    path = tmp / f"reqs-{mode}-{port}.json"
    path.write_text(json.dumps(reqs))
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "loadgen.py"), mode, str(port),
                          str(arg), str(path)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def median_run(runs: list[dict]) -> dict:
    return sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="syncd-bench-"))
    sport, bport = free_port(), free_port()
    cfg = tmp / "config.yaml"
    cfg.write_text(f"database: {tmp / 'syncd.db'}\nrules: {ROOT / 'rules'}\nlog_format: json\n"
                   f"server: {{host: 127.0.0.1, port: {sport}}}\n"
                   f"database_synchronous: {os.environ.get('BENCH_SYNC', 'full')}\n"
                   f"discourse:\n  webhook_secret: {SECRET}\n  categories: [support]\n"
                   "  category_map: {support: 5, hardware: 7, grades: 8, payments: 9, faq: 10, academic: 11}\n"
                   "channels:\n  staff: {type: gchat, url: ''}\n  escalations: {type: gchat, url: ''}\n"
                   "  faculty: {type: gchat, url: ''}\n")
    log = open(tmp / "serve.log", "wb")
    syncd = subprocess.Popen([sys.executable, "-m", "syncd", "--config", str(cfg), "serve"],
                             cwd=ROOT, stdout=log, stderr=log)
    bare = subprocess.Popen([sys.executable, str(ROOT / "bench" / "bare_app.py"), str(bport)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(sport, syncd)
        wait_ready(bport, bare)
        budget = int(SECONDS * 4000)
        bare_runs, ingest_runs = [], []
        for round_no in range(ROUNDS):  # alternate, so drift on a shared machine hits both
            first = 1 + round_no * budget  # fresh topics each round: no duplicates
            bare_runs.append(load("closed", bport, SECONDS, deliveries(first, budget), tmp))
            ingest_runs.append(load("closed", sport, SECONDS, deliveries(first, budget), tmp))
            time.sleep(0.5)
        bare_res = median_run(bare_runs)
        ingest_res = median_run(ingest_runs)
        ratio = statistics.median(i["rps"] / b["rps"] for i, b in zip(ingest_runs, bare_runs, strict=True))
        time.sleep(1)
        paced = load("open", sport, 200, deliveries(10_000_000, int(200 * SECONDS)), tmp)
        rss = rss_mb(syncd.pid)
        acked = sum(r["statuses"].get("202", 0) for r in ingest_runs + [paced])
        os.kill(syncd.pid, signal.SIGKILL)
        syncd.wait(10)
        stored = sqlite3.connect(tmp / "syncd.db").execute(
            "SELECT COUNT(*) FROM deliveries").fetchone()[0]
    finally:
        for proc in (syncd, bare):
            if proc.poll() is None:
                proc.kill()
    print(f"ingest_rps: {ingest_res['rps']:.0f}")
    print(f"bare_rps: {bare_res['rps']:.0f}")
    print(f"ingest_ratio_vs_bare: {ratio:.2f}  # median of {ROUNDS} alternating rounds")
    print(f"ingest_p99_ms_at_200rps: {paced['p99']:.1f}")
    print(f"ingest_p50_ms_at_200rps: {paced['p50']:.1f}")
    print(f"rss_mb: {rss:.0f}")
    print(f"acked_deliveries_stored_after_sigkill: {stored}/{acked}")
    if stored < acked:
        raise SystemExit("an acknowledged delivery was lost")


if __name__ == "__main__":
    main()
