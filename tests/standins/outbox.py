"""Channel tests' plumbing: a config over a real SQLite file, workers, a driven drain."""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable

from standins import add_action, notify_params
from syncd.clock import utcnow
from syncd.config import load_settings
from syncd.outbox.workers import make_workers
from syncd.store.db import Store, transaction


def channel_settings(tmp_path: Path, channels: str, extra: str = "", env: dict | None = None):
    """Settings with ``channels:`` holding ``channels`` (YAML lines, indented two spaces)."""
    text = (f"database: {tmp_path / 'syncd.db'}\nrules: {tmp_path / 'rules'}\ntimezone: Asia/Kolkata\n"
            "discourse:\n  staff_groups: [support-team]\n"
            "channels:\n" + channels + "\noutbox: {workers: 2, lease_seconds: 30}\n" + extra)
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return load_settings(str(path), env=env or {})


def workers(settings) -> list:
    ws = make_workers(settings, Store(settings.resolve(settings.database)))
    for w in ws:
        w.sleep = lambda s: None   # the outbox's inline retries: driven, not slept
    return ws


def notify(settings, ticket_id: int, channel: str, **ticket: Any) -> int:
    store = Store(settings.resolve(settings.database))
    with transaction(store.db()) as conn:
        return add_action(conn, ticket_id, "notify", notify_params(ticket_id, channel, **ticket))


class FakeClock:
    """A monotonic clock the test moves (``sleep`` moves it too)."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += max(0.0, seconds)


def fake_pacing(ws, clock: FakeClock | None = None) -> FakeClock:
    """Give every channel's token bucket a driven clock (``drain(clock=…)`` moves it)."""
    from syncd.outbox.pacing import TokenBucket
    clock = clock or FakeClock()
    for notifier in ws[0].notifiers.values():
        old = getattr(notifier, "bucket", None)
        if old is not None:
            notifier.bucket = TokenBucket(old.rate * 60, old.capacity, clock=clock, sleep=clock.sleep)
    return clock


def drain(ws, until: Callable[[], bool], now: datetime | None = None,
          step=timedelta(seconds=30), limit: int = 400, clock: FakeClock | None = None) -> datetime:
    """Run the workers with a driven clock (from now) until ``until()`` (bounded)."""
    now = now or utcnow()
    for _ in range(limit):
        busy = any([w.run_once(now=now) for w in ws])
        if until():
            return now
        if not busy:
            now += step
            if clock is not None:
                clock.sleep(step.total_seconds())
    raise AssertionError("the outbox did not drain")


def outbox_rows(settings) -> list[dict[str, Any]]:
    conn = Store(settings.resolve(settings.database)).db().conn
    cur = conn.execute("SELECT id, ticket_id, status, attempts, last_error, result, params FROM outbox "
                       "ORDER BY id")
    names = [d[0] for d in cur.description]
    out = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    for r in out:
        r["result"] = json.loads(r["result"]) if r["result"] else None
        r["params"] = json.loads(r["params"])
    return out


def done(settings) -> bool:
    return all(r["status"] in ("sent", "dead", "dry_run") for r in outbox_rows(settings))


def refs(settings, channel: str) -> dict[tuple[int, str], str]:
    conn = Store(settings.resolve(settings.database)).db().conn
    return {(t, k): v for t, k, v in conn.execute(
        "SELECT ticket_id, key, value FROM channel_refs WHERE channel = ?", (channel,))}


def action_of(settings, action_id: int):
    """The outbox row as the worker claims it (``Action``), e.g. to send it again."""
    from syncd.outbox.queue import Action
    from syncd.store.db import rows
    conn = Store(settings.resolve(settings.database)).db().conn
    return Action.from_row(rows(conn, "SELECT * FROM outbox WHERE id = ?", (action_id,))[0])
