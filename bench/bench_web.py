"""Benchmark: the staff pages and the subscribers' fan-out, as ratios to a baseline.

    python bench/bench_web.py
      tickets_page_p99_ms_10k_tickets: 12.3
      tickets_page_vs_healthz_p99: 4.1          (the same app's /healthz, same run)
      fanout_ms_1000_subscribers: 80.0
      fanout_vs_plain_enqueue_1000: 1.6         (1000 plain outbox rows in one transaction)

A real SQLite file in a temporary folder, migrations applied; the app through Flask's test
client (no network). The machine is shared: read the ratios, not the milliseconds.
"""
from __future__ import annotations

import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from syncd import logs  # noqa: E402
from syncd.clock import iso  # noqa: E402
from syncd.config import settings_from_text  # noqa: E402
from syncd.core.alerts import Preferences  # noqa: E402
from syncd.core.tickets import Ticket  # noqa: E402
from syncd.inbox.http import Receiver, create_app  # noqa: E402
from syncd.outbox.queue import Action  # noqa: E402
from syncd.outbox.subscribers import SubscriberAlerts  # noqa: E402
from syncd.service import prepare  # noqa: E402
from syncd.store import people  # noqa: E402
from syncd.store import tickets as ticketstore  # noqa: E402
from syncd.store.db import transaction  # noqa: E402

TICKETS, PEOPLE, ROUNDS = 10_000, 1000, 60
PRIORITIES = ("low", "normal", "high", "urgent")


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98] * 1000


def timed(fn, rounds: int = ROUNDS) -> list[float]:
    out = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def seed(store) -> None:
    with transaction(store.db()) as conn:
        for i in range(1, TICKETS + 1):
            ticketstore.save(conn, Ticket(
                id=i, title=f"Ticket {i} about the printer", priority=PRIORITIES[i % 4],
                category_id=5 if i % 2 else 7, url=f"https://forum.example.edu/t/{i}",
                created_at=iso(), has_topic=True, has_first_post=True, announced=True))
        for pid in range(1, PEOPLE + 1):
            people.remember(conn, {"id": pid, "username": f"staff{pid}", "moderator": True}, True)
            people.save(conn, Preferences(person_id=pid, username=f"staff{pid}",
                                          destination="pm", events=frozenset({"new_ticket"})))


def signed_in_client(app, store):
    from syncd.web import sessions
    st = app.extensions["syncd_web"]
    token = sessions.start(store.db(), 1, 1, st.clock())
    client = app.test_client()
    client.set_cookie("syncd_session", sessions.seal(token, st.secret, "session"))
    return client


def fanout(settings, store, action_id: int) -> None:
    action = Action(id=action_id, ticket_id=1, kind="notify", rule="bench", delivery_id=None,
                    attempts=1, created_at=iso(),
                    params={"channel": "subscribers", "ticket": {"id": 1, "priority": "normal"},
                            "event": {"name": "topic_created"}})
    SubscriberAlerts(settings).fan_out(store.db(), action)


def plain_enqueue(store) -> None:
    with transaction(store.db()) as conn:
        for pid in range(PEOPLE):
            ticketstore.enqueue(conn, 1, "notify", {"channel": f"person:{pid}"}, "bench", None, iso())


def main() -> int:
    logs.configure("console", logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_from_text(
            f"database: {tmp}/syncd.db\nrules: {tmp}/rules\n"
            "discourse: {webhook_secret: made-up-webhook-secret-01}\n"
            "web: {discourse_connect_secret: made-up-connect-secret-01}\n", f"{tmp}/config.yaml", env={})
        store, secret = prepare(settings)
        seed(store)
        app = create_app(Receiver(settings, store, secret))
        client = signed_in_client(app, store)
        assert client.get("/tickets").status_code == 200
        page = p99(timed(lambda: client.get("/tickets?sort=urgent")))
        health = p99(timed(lambda: client.get("/healthz")))
        print(f"tickets_page_p99_ms_10k_tickets: {page:.1f}")
        print(f"tickets_page_vs_healthz_p99: {page / health:.1f}")
        ids = iter(range(1, 1000))
        fan = statistics.median(timed(lambda: fanout(settings, store, next(ids)), 5)) * 1000
        base = statistics.median(timed(lambda: plain_enqueue(store), 5)) * 1000
        print(f"fanout_ms_{PEOPLE}_subscribers: {fan:.1f}")
        print(f"fanout_vs_plain_enqueue_{PEOPLE}: {fan / base:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
