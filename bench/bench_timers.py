"""Timer benchmark: the scheduler over 100,000 open tickets with SLA clocks.

    python bench/bench_timers.py [--tickets 100000] [--due 2000] [--lag-timers 200]

``scheduler_idle_cpu_pct``: CPU of the scheduler loop (its poll every ``POLL_SECONDS``) over
``--tickets`` open tickets, each with a pending warning and breach timer in the future, as a
percentage of one core. Goal: < 5.

``sla_gauges_refresh_cpu_s``: one refresh of the ``/metrics`` SLA gauges over those tickets
(its own thread, every ``GAUGE_SECONDS``); ``scheduler_cpu_pct_with_gauges`` adds it, spread
over its interval, to the idle figure.

``timers_due_per_s``: ``--due`` timers made due at once fire through the processor's path
(rules, history, outbox: one ``notify`` to a dry-run escalations channel each), measured
against ``bare_mark_fired_per_s``, the same number of timers only marked fired in the same
batches (``timers_due_vs_bare_ratio``).

``sla_breach_fire_lag_p99_ms``: ``--lag-timers`` breach timers due at spread moments over the
next few seconds, fired by the scheduler running in its own thread as in ``syncd serve``;
lag is fired_at - due_at. Goal: < 1,000.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from syncd import logs  # noqa: E402
from syncd.clock import iso, parse, utcnow  # noqa: E402
from syncd.config import settings_from_text  # noqa: E402
from syncd.core.sla import Clock, SlaState  # noqa: E402
from syncd.processor import Processor  # noqa: E402
from syncd.rules.reloader import RulesHolder  # noqa: E402
from syncd.timers.scheduler import POLL_SECONDS, Scheduler  # noqa: E402
from syncd.service import run_loop  # noqa: E402
from syncd.store.db import Store, transaction  # noqa: E402

RULES = """rules:
  - name: escalate
    on: sla_breached
    once: false
    then: [{notify: {channel: escalations, text: "breached {{ event.target }} on #{{ ticket.id }}"}}]
"""


def build(tmp: Path, tickets: int):
    (tmp / "rules").mkdir()
    (tmp / "rules" / "10-bench.yaml").write_text(RULES)
    settings = settings_from_text(
        f"database: {tmp / 'syncd.db'}\nrules: {tmp / 'rules'}\nlog_format: json\n"
        "database_synchronous: normal\n"
        "discourse: {webhook_secret: bench-secret-not-real-01, categories: [support], "
        "category_map: {support: 5}}\n"
        "channels: {escalations: {type: gchat, url: ''}}\n"
        "slas:\n  - {name: std, first_response: 4h, resolution: 2d, warn_at: 80%}\n",
        str(tmp / "config.yaml"), env={})
    store = Store(settings.resolve(settings.database), settings.database_synchronous)
    now = utcnow()
    db = store.db()
    with transaction(db) as conn:
        rows, slas, timers = [], [], []
        for i in range(1, tickets + 1):
            created = now - timedelta(seconds=i % 3600)
            rows.append((i, f"Question {i}", "normal", iso(created), iso(created), iso(now)))
            state = SlaState("std", (Clock("first_response", iso(created), since=iso(created)),
                                     Clock("resolution", iso(created), since=iso(created))))
            slas.append((i, "std", json.dumps(state.as_dict()), iso(now)))
            for kind, hours in (("sla_warning", 3.2), ("sla_breached", 4)):
                due = created + timedelta(hours=hours)
                timers.append((i, kind, "first_response", iso(due), iso(now), iso(now)))
        conn.executemany("INSERT INTO tickets (id, title, priority, created_at, updated_at, "
                         "first_seen_at, status, stage, announced, has_topic, has_first_post) "
                         "VALUES (?, ?, ?, ?, ?, ?, 'open', 'open', 1, 1, 1)", rows)
        conn.executemany("INSERT INTO ticket_slas VALUES (?, ?, ?, ?)", slas)
        conn.executemany("INSERT INTO timers (ticket_id, kind, target, due_at, created_at, "
                         "updated_at) VALUES (?, ?, ?, ?, ?, ?)", timers)
    holder = RulesHolder(tmp / "rules", ["escalations"], {"support": 5})
    processor = Processor(settings, store, holder)
    return settings, store, processor, Scheduler(settings, store, processor)


def idle_cpu(sched: Scheduler, seconds: float) -> float:
    sched.run_once()
    wall, cpu = time.monotonic(), time.thread_time()
    while time.monotonic() - wall < seconds:
        sched.run_once()
        time.sleep(POLL_SECONDS)
    return 100.0 * (time.thread_time() - cpu) / (time.monotonic() - wall)


def make_due(store: Store, n: int, at) -> list[int]:
    db = store.db()
    with transaction(db) as conn:
        ids = [r[0] for r in conn.execute(
            "SELECT id FROM timers WHERE status = 'pending' AND kind = 'sla_breached' "
            "ORDER BY id LIMIT ?", (n,))]
        conn.executemany("UPDATE timers SET due_at = ? WHERE id = ?", [(iso(at), i) for i in ids])
    return ids


def fire_rate(sched: Scheduler, store: Store, n: int) -> float:
    now = utcnow()
    make_due(store, n, now - timedelta(seconds=1))
    started = time.perf_counter()
    fired = 0
    while fired < n:
        got = sched.fire_due(store.db(), utcnow())
        if not got:
            break
        fired += got
    return fired / (time.perf_counter() - started)


def bare_rate(store: Store, n: int, batch: int = 50) -> float:
    ids = make_due(store, n, utcnow() - timedelta(seconds=1))
    db = store.db()
    started = time.perf_counter()
    for i in range(0, len(ids), batch):
        with transaction(db) as conn:
            for timer_id in ids[i:i + batch]:
                conn.execute("UPDATE timers SET status = 'fired', fired_at = ? WHERE id = ? "
                             "AND status = 'pending'", (iso(), timer_id))
    return len(ids) / (time.perf_counter() - started)


def fire_lag(sched: Scheduler, store: Store, n: int, spread: float = 5.0) -> list[float]:
    db = store.db()
    start = utcnow() + timedelta(seconds=1)
    with transaction(db) as conn:
        ids = [r[0] for r in conn.execute(
            "SELECT id FROM timers WHERE status = 'pending' AND kind = 'sla_breached' "
            "ORDER BY id LIMIT ?", (n,))]
        conn.executemany("UPDATE timers SET due_at = ? WHERE id = ?",
                         [(iso(start + timedelta(seconds=spread * k / n)), i)
                          for k, i in enumerate(ids)])
    stop = threading.Event()
    thread = threading.Thread(target=run_loop, args=(sched, stop, None, POLL_SECONDS), daemon=True)
    thread.start()
    marks = ",".join("?" * len(ids))
    deadline = time.monotonic() + spread + 60
    while time.monotonic() < deadline:
        left = db.conn.execute(f"SELECT COUNT(*) FROM timers WHERE status = 'pending' AND id IN "
                               f"({marks})", ids).fetchone()[0]
        if not left:
            break
        time.sleep(0.2)
    stop.set()
    thread.join(10)
    return [1000 * (parse(f) - parse(d)).total_seconds() for f, d in db.conn.execute(
        f"SELECT fired_at, due_at FROM timers WHERE status = 'fired' AND id IN ({marks})", ids)]


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tickets", type=int, default=100_000)
    ap.add_argument("--due", type=int, default=2000)
    ap.add_argument("--lag-timers", type=int, default=200)
    ap.add_argument("--idle-seconds", type=float, default=5.0)
    args = ap.parse_args()
    logs.configure("json")
    logging.getLogger().setLevel(logging.WARNING)
    import structlog
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    tmp = Path(tempfile.mkdtemp(prefix="syncd-bench-timers-"))
    t0 = time.perf_counter()
    settings, store, processor, sched = build(tmp, args.tickets)
    print(f"# {args.tickets} open tickets, {2 * args.tickets} pending timers in "
          f"{time.perf_counter() - t0:.1f} s (machine shared with other developers: figures vary)")
    cpu = idle_cpu(sched, args.idle_seconds)
    print(f"scheduler_idle_cpu_pct: {cpu:.2f}  # of one core, polling every {POLL_SECONDS} s; goal < 5")
    from syncd.timers import report
    from syncd.timers.scheduler import GAUGE_SECONDS
    c0 = time.process_time()
    report.refresh_gauges(store.db().conn, settings, utcnow())
    gauge_cpu = time.process_time() - c0
    print(f"sla_gauges_refresh_cpu_s: {gauge_cpu:.2f}  # its own thread, every {GAUGE_SECONDS:.0f} s")
    print(f"scheduler_cpu_pct_with_gauges: {cpu + 100 * gauge_cpu / GAUGE_SECONDS:.2f}  # goal < 5")
    rate = fire_rate(sched, store, args.due)
    bare = bare_rate(store, args.due)
    print(f"timers_due_per_s: {rate:.0f}  # {args.due} due at once, each through rules and outbox")
    print(f"bare_mark_fired_per_s: {bare:.0f}  # baseline: the same batches, only marked fired")
    print(f"timers_due_vs_bare_ratio: {rate / bare:.3f}")
    lags = fire_lag(sched, store, args.lag_timers)
    ok = len(lags) == args.lag_timers
    print(f"sla_breach_fire_lag_p99_ms: {p99(lags):.0f}  # {len(lags)}/{args.lag_timers} fired; "
          "goal < 1000")
    outbox = store.db().conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    expected = args.due + args.lag_timers
    print(f"timer_notifications: {outbox}/{expected}")
    return 0 if ok and outbox == expected else 1


if __name__ == "__main__":
    sys.exit(main())
