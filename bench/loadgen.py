"""A small bounded load generator over keep-alive HTTP/1.1 connections.

Two modes: ``closed`` (each connection sends as fast as answers come back, for a fixed
time: throughput) and ``open`` (a fixed rate, for latency percentiles). Requests are
signed Discourse deliveries with distinct bodies, prepared before the clock starts.
"""
from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Result:
    sent: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rps(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        data = sorted(self.latencies_ms)
        if not data:
            return float("nan")
        return data[min(len(data) - 1, int(round(p / 100 * (len(data) - 1))))]


def _send(conn: http.client.HTTPConnection, req: tuple[dict, bytes]) -> int:
    headers, body = req
    conn.request("POST", "/webhooks/discourse", body=body, headers=headers)
    resp = conn.getresponse()
    resp.read()
    return resp.status


def closed_loop(port: int, requests: list, seconds: float, connections: int = 8) -> Result:
    """As fast as the server answers, over ``connections`` keep-alive connections."""
    result, lock = Result(), threading.Lock()
    cursor = iter(range(len(requests)))
    deadline = time.perf_counter() + seconds

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while time.perf_counter() < deadline:
            with lock:
                i = next(cursor, None)
            if i is None:
                return
            started = time.perf_counter()
            status = _send(conn, requests[i])
            with lock:
                result.sent += 1
                result.statuses[status] = result.statuses.get(status, 0) + 1
                result.latencies_ms.append((time.perf_counter() - started) * 1000)
        conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.seconds = time.perf_counter() - started
    return result


def open_loop(port: int, requests: list, rate: float, connections: int = 8) -> Result:
    """Each request at its scheduled time (rate per second); latency from the schedule."""
    result, lock = Result(), threading.Lock()
    start = time.perf_counter() + 0.2
    slots = list(range(len(requests)))
    per_conn = [slots[i::connections] for i in range(connections)]

    def worker(mine):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for i in mine:
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            status = _send(conn, requests[i])
            latency = (time.perf_counter() - due) * 1000
            with lock:
                result.sent += 1
                result.statuses[status] = result.statuses.get(status, 0) + 1
                result.latencies_ms.append(latency)
        conn.close()

    threads = [threading.Thread(target=worker, args=(m,)) for m in per_conn]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.seconds = time.perf_counter() - start
    return result


if __name__ == "__main__":  # python bench/loadgen.py MODE PORT ARG REQUESTS.json -> JSON result
    import sys
    mode, port, arg, path = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    import resource
    reqs = [(h, b.encode()) for h, b in json.load(open(path))]
    before = resource.getrusage(resource.RUSAGE_SELF)
    res = closed_loop(port, reqs, arg) if mode == "closed" else open_loop(port, reqs, arg)
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(json.dumps({"sent": res.sent, "rps": res.rps, "statuses": res.statuses,
                      "p50": res.percentile(50), "p99": res.percentile(99),
                      "seconds": res.seconds, "cpu_seconds": cpu}))  # the load generator's own
