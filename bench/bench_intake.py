"""Intake benchmark: how fast `syncd serve` answers a Teams outgoing webhook.

Teams waits five seconds for the answer. syncd verifies the HMAC, reads the text, stores
the request with its topic action (one transaction, synchronous=full) and answers. Measured
at a steady rate (open loop, latency from each request's scheduled time) against two
baselines in the same run and on the same server: syncd's own Discourse webhook (which also
stores before answering) and a bare Flask app whose endpoint only returns 204.
Prints teams_answer_p99_ms (goal: far below 5000), its p50, the baselines and the ratio.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from bench_ingest import deliveries, free_port, wait_ready  # noqa: E402

SECRET = "bench-secret-not-real-01"       # bench_ingest's deliveries are signed with it
TOKEN = base64.b64encode(b"bench teams token, not a real 1").decode()
SECONDS = float(os.environ.get("BENCH_SECONDS", "3"))
RATE = float(os.environ.get("BENCH_INTAKE_RATE", "50"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CONNECTIONS = 4


def teams_requests(count: int, first: int = 0) -> list[tuple[str, dict, bytes]]:
    out = []
    for i in range(first, first + count):
        body = json.dumps({
            "type": "message", "id": f"bench-{i}", "channelId": "msteams",
            "from": {"id": "29:bench", "name": "Bench Person"},
            "conversation": {"id": "19:bench@thread.tacv2"},
            "text": f"<at>Helpdesk</at> Title: Printer {i} on floor 3 jams on every job<br>"
                    "Priority: high<br>Description: Since Monday.<br>Tried a restart."},
            separators=(",", ":")).encode()
        digest = hmac.new(base64.b64decode(TOKEN), body, hashlib.sha256).digest()
        out.append(("/intake/teams", {"Content-Type": "application/json",
                                      "Authorization": "HMAC " + base64.b64encode(digest).decode()},
                    body))
    return out


def open_loop(port: int, reqs: list, rate: float) -> tuple[list[float], dict[int, int]]:
    latencies, statuses, lock = [], {}, threading.Lock()
    start = time.perf_counter() + 0.2

    def worker(mine):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for i in mine:
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            path, headers, body = reqs[i]
            conn.request("POST", path, body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            with lock:
                latencies.append((time.perf_counter() - (start + i / rate)) * 1000)
                statuses[resp.status] = statuses.get(resp.status, 0) + 1
        conn.close()

    slots = list(range(len(reqs)))
    threads = [threading.Thread(target=worker, args=(slots[c::CONNECTIONS],))
               for c in range(CONNECTIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, statuses


def pct(values: list[float], p: float) -> float:
    data = sorted(values)
    return data[min(len(data) - 1, int(round(p / 100 * (len(data) - 1))))] if data else float("nan")


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="syncd-bench-intake-"))
    sport, bport = free_port(), free_port()
    cfg = tmp / "config.yaml"
    (tmp / "rules.yaml").write_text("rules:\n  - name: intake\n    on: topic_created\n"
                                    "    if: {source: teams}\n    then:\n      - notify: staff\n")
    cfg.write_text(f"database: {tmp / 'syncd.db'}\nrules: {tmp / 'rules.yaml'}\nlog_format: json\n"
                   f"server: {{host: 127.0.0.1, port: {sport}}}\n"
                   f"discourse:\n  webhook_secret: {SECRET}\n  categories: [support]\n"
                   "  category_map: {support: 5}\n"
                   f"channels:\n  staff: {{type: log}}\n  escalations: {{type: log}}\n"
                   f"intake:\n  teams: {{security_token: '{TOKEN}'}}\n")
    log = open(tmp / "serve.log", "wb")
    syncd = subprocess.Popen([sys.executable, "-m", "syncd", "--config", str(cfg), "serve"],
                             cwd=ROOT, stdout=log, stderr=log)
    bare = subprocess.Popen([sys.executable, str(ROOT / "bench" / "bare_app.py"), str(bport)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    count = max(20, int(SECONDS * RATE / ROUNDS))
    try:
        wait_ready(sport, syncd)
        wait_ready(bport, bare)
        bare_lat, hook_lat, teams_lat = [], [], []
        hook_status: dict[int, int] = {}
        teams_status: dict[int, int] = {}
        for round_no in range(ROUNDS):   # alternate, so drift on a shared machine hits all three
            first = 1 + round_no * count
            hooks = [("/webhooks/discourse", h, b.encode()) for h, b in deliveries(first, count)]
            bare_lat += open_loop(bport, hooks, RATE)[0]
            lat, st = open_loop(sport, hooks, RATE)
            hook_lat += lat
            hook_status = {k: hook_status.get(k, 0) + st.get(k, 0) for k in {*hook_status, *st}}
            lat, st = open_loop(sport, teams_requests(count, first), RATE)
            teams_lat += lat
            teams_status = {k: teams_status.get(k, 0) + st.get(k, 0) for k in {*teams_status, *st}}
        count *= ROUNDS
        os.kill(syncd.pid, signal.SIGKILL)
        syncd.wait(10)
        stored = sqlite3.connect(tmp / "syncd.db").execute("SELECT COUNT(*) FROM intakes").fetchone()[0]
    finally:
        for proc in (syncd, bare):
            if proc.poll() is None:
                proc.kill()
    teams_p99, hook_p99 = pct(teams_lat, 99), pct(hook_lat, 99)
    print(f"teams_answer_p99_ms: {teams_p99:.1f}  # {count} messages at {RATE:g}/s in {ROUNDS} "
          "rounds; Teams waits 5000")
    print(f"teams_answer_p50_ms: {pct(teams_lat, 50):.1f}")
    print(f"discourse_webhook_p99_ms: {hook_p99:.1f}  # baseline: syncd storing a delivery")
    print(f"bare_app_p99_ms: {pct(bare_lat, 99):.1f}  # baseline: a 204 on the same server")
    print(f"teams_vs_webhook_p99_ratio: {teams_p99 / hook_p99 if hook_p99 else float('nan'):.2f}")
    print(f"teams_answers_200: {teams_status.get(200, 0)}/{count}; stored_after_sigkill: {stored}")
    if teams_status.get(200, 0) != count or stored != count:
        raise SystemExit("a Teams message was not answered or not stored")
    if hook_status.get(202, 0) != count:
        raise SystemExit("the baseline's deliveries were not all accepted")


if __name__ == "__main__":
    main()
