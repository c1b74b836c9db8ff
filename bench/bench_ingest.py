"""Ingest benchmark: `syncd serve` against a bare Flask app on the same server (waitress).

Both run as their own processes; the load comes from a third (bench/loadgen.py) with the
same signed deliveries. Closed-loop rounds alternate bare and syncd (BENCH_ROUNDS, 3, of
BENCH_SECONDS, 3 s), then as many rounds at 200 deliveries/s. syncd is stopped (SIGSTOP)
during the bare app's rounds, so that its processor, draining what the previous round
stored, does not slow the baseline; each of syncd's throughput rounds starts once that
backlog is processed (the wait is printed), so a round is a burst into a caught-up syncd
rather than into one whose backlog is past the processor's valve. The rounds at 200/s
follow the last burst at once: they are measured while its backlog (thousands) drains.
Each figure is printed as median, min and max over its rounds: ingest_rps, bare_rps, their
paired ratio, the p50/p99 latency at 200/s, each server's CPU and context switches per
request, the load generator's own CPU, and what other processes used meanwhile (a busy
shared machine shows there, not as a slow syncd).
Then syncd is killed with SIGKILL and every acknowledged delivery must be stored.
Goals (issue 17): ratio >= 0.8, p99 < 5 ms at 200/s with synchronous=full, RSS < 120 MB.
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


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux /proc; nan elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def context_switches(pid: int) -> float:
    """Voluntary + involuntary context switches of all a process's threads so far (Linux
    /proc; nan elsewhere): each is a thread giving up or losing the CPU, the cost of
    handing requests between threads that the GIL makes take turns."""
    total = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                status = Path(f"/proc/{pid}/task/{task}/status").read_text()
            except OSError:
                continue     # a thread that ended meanwhile
            for line in status.splitlines():
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    total += int(line.split()[1])
    except (OSError, ValueError):
        return float("nan")
    return total


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    try:
        cpu = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return float("nan"), float("nan")
    tick = os.sysconf("SC_CLK_TCK")
    idle = cpu[3] + (cpu[4] if len(cpu) > 4 else 0)
    return (sum(cpu[:8]) - idle) / tick, sum(cpu[:8]) / tick


def measured(mode: str, server_pid: int, port: int, arg: float, reqs: list, tmp: Path) -> dict:
    """One load round, with the server's and everyone else's CPU over it."""
    cpu0, (busy0, total0) = proc_cpu(server_pid), machine_busy()
    switches0 = context_switches(server_pid)
    res = load(mode, port, arg, reqs, tmp)
    cpu1, (busy1, total1) = proc_cpu(server_pid), machine_busy()
    sent = max(res["sent"], 1)
    res["server_cpu_ms_per_request"] = (cpu1 - cpu0) * 1000 / sent
    res["context_switches_per_request"] = (context_switches(server_pid) - switches0) / sent
    res["loadgen_cpu_pct"] = 100 * res["cpu_seconds"] / res["seconds"]
    # what the machine did besides this server and its load generator (other developers)
    others = (busy1 - busy0) - (cpu1 - cpu0) - res["cpu_seconds"]
    res["others_cpu_pct"] = 100 * max(others, 0.0) / max(res["seconds"], 1e-9)
    res["machine_idle_pct"] = 100 * (1 - (busy1 - busy0) / max(total1 - total0, 1e-9))
    return res


def spread(values: list[float], fmt: str = ".2f") -> str:
    """median (min … max) of a figure over the rounds."""
    return (f"{statistics.median(values):{fmt}}  # median of {len(values)} rounds; "
            f"min {min(values):{fmt}}, max {max(values):{fmt}}")


def drain(db: Path, limit: float = 60.0) -> float:
    """Wait until syncd has processed what the previous round stored (``limit`` seconds at
    most), so that each throughput round is a burst into a caught-up syncd and does not
    meet the processor's backlog valve (IngestPressure.max_backlog); seconds waited."""
    started = time.monotonic()
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        while time.monotonic() - started < limit:
            if conn.execute("SELECT COUNT(*) FROM deliveries WHERE status = 'pending'"
                            ).fetchone()[0] == 0:
                break
            time.sleep(0.2)
    except sqlite3.Error:
        pass                      # no database yet: nothing to drain
    finally:
        conn.close()
    return time.monotonic() - started


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
                   "  category_map: {support: 5, hardware: 7, grades: 8, payments: 9, faq: 10,"
                   " academic: 11}\n"
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
        load_before = os.getloadavg()[0]
        bare_runs, ingest_runs, paced_runs, drained = [], [], [], []
        for round_no in range(ROUNDS):  # alternate, so drift on a shared machine hits both
            first = 1 + round_no * budget  # fresh topics each round: no duplicates
            os.kill(syncd.pid, signal.SIGSTOP)   # its processor would drain the backlog
            try:                                 # meanwhile, on the bare app's cores
                bare_runs.append(measured("closed", bare.pid, bport, SECONDS,
                                          deliveries(first, budget), tmp))
            finally:
                os.kill(syncd.pid, signal.SIGCONT)
            drained.append(drain(tmp / "syncd.db"))
            ingest_runs.append(measured("closed", syncd.pid, sport, SECONDS,
                                        deliveries(first, budget), tmp))
            time.sleep(0.5)
        time.sleep(1)
        for round_no in range(ROUNDS):   # then the steady rate, while the backlog drains
            first = 10_000_000 + round_no * int(200 * SECONDS)
            paced_runs.append(measured("open", syncd.pid, sport, 200,
                                       deliveries(first, int(200 * SECONDS)), tmp))
        rss = rss_mb(syncd.pid)
        acked = sum(r["statuses"].get("202", 0) for r in ingest_runs + paced_runs)
        os.kill(syncd.pid, signal.SIGKILL)
        syncd.wait(10)
        stored = sqlite3.connect(tmp / "syncd.db").execute(
            "SELECT COUNT(*) FROM deliveries").fetchone()[0]
    finally:
        for proc in (syncd, bare):
            if proc.poll() is None:
                proc.kill()
    every = bare_runs + ingest_runs + paced_runs
    ratios = [i["rps"] / b["rps"] for i, b in zip(ingest_runs, bare_runs, strict=True)]
    print(f"machine_cores: {os.cpu_count()}  # load average {load_before:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after")
    print(f"others_cpu_pct: {spread([r['others_cpu_pct'] for r in every], '.0f')}  "
          "(other processes on the machine during the rounds, % of one core)")
    print(f"ingest_rps: {spread([r['rps'] for r in ingest_runs], '.0f')}")
    print(f"bare_rps: {spread([r['rps'] for r in bare_runs], '.0f')}")
    print(f"ingest_ratio_vs_bare: {spread(ratios)} (alternating, paired)")
    print(f"ingest_p99_ms_at_200rps: {spread([r['p99'] for r in paced_runs], '.1f')}")
    print(f"ingest_p50_ms_at_200rps: {spread([r['p50'] for r in paced_runs], '.1f')}")
    print(f"ingest_cpu_ms_per_delivery: "
          f"{spread([r['server_cpu_ms_per_request'] for r in ingest_runs], '.3f')}")
    print(f"bare_cpu_ms_per_request: "
          f"{spread([r['server_cpu_ms_per_request'] for r in bare_runs], '.3f')}")
    print(f"ingest_context_switches_per_delivery: "
          f"{spread([r['context_switches_per_request'] for r in ingest_runs], '.1f')}")
    print(f"bare_context_switches_per_request: "
          f"{spread([r['context_switches_per_request'] for r in bare_runs], '.1f')}")
    print(f"loadgen_cpu_pct_vs_ingest: {spread([r['loadgen_cpu_pct'] for r in ingest_runs], '.0f')}")
    print(f"loadgen_cpu_pct_vs_bare: {spread([r['loadgen_cpu_pct'] for r in bare_runs], '.0f')}")
    print(f"drain_wait_s_before_ingest_rounds: {spread(drained, '.1f')}")
    print(f"rss_mb: {rss:.0f}")
    print(f"acked_deliveries_stored_after_sigkill: {stored}/{acked}")
    if stored < acked:
        raise SystemExit("an acknowledged delivery was lost")


if __name__ == "__main__":
    main()
