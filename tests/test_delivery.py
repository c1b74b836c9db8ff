"""Delivery workers: dispatch, dry-run, outcomes in the outbox, health, echoes."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import responses
import structlog

from conftest import make_settings, online
from standins import add_action, notify_params
from syncd.outbox import workers as delivery
from syncd.clock import iso
from syncd.outbox.workers import DeliveryWorker, make_workers
from syncd.discourse.gateway import DiscourseGateway
from syncd.channels import notifier_for
from syncd.outbox.pacing import TokenBucket
from syncd.store.db import Store

CHAT = "https://chat.googleapis.com/v1/spaces/AAAA/messages"
CHAT_URL = CHAT + "?key=SECRETKEY&token=SECRETTOKEN"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def _setup(tmp_path, chat_url=CHAT_URL, discourse_url=""):
    settings = make_settings(tmp_path, "channels:\n"
                             f"  staff: {{type: gchat, url: '{chat_url}', messages_per_minute: 60000}}\n"
                             "  audit: {type: log}\n")
    if discourse_url:
        settings = online(settings, discourse_url)
        settings = replace(settings, discourse=replace(settings.discourse, api_key="k"))
    store = Store(settings.resolve(settings.database))
    notifiers = {n: notifier_for(c, settings) for n, c in settings.channels.items()}
    gateway = DiscourseGateway(settings, TokenBucket(60000, 100)) if discourse_url else None
    worker = DeliveryWorker(settings, store, gateway, notifiers, sleep=lambda s: None)
    return settings, store, worker


def _row(store, action_id):
    return dict(zip(("status", "attempts", "last_error", "result", "next_attempt_at"),
                    store.db().conn.execute("SELECT status, attempts, last_error, result, next_attempt_at "
                                            "FROM outbox WHERE id = ?", (action_id,)).fetchone(),
                    strict=True))


def test_dry_run_renders_logs_and_marks_dry_run(tmp_path):
    """Without URLs, a notification and a reply are rendered, logged and marked dry_run."""
    settings, store, worker = _setup(tmp_path, chat_url="")
    conn = store.db().conn
    notify = add_action(conn, 42, "notify", notify_params(42))
    reply = add_action(conn, 43, "reply", {"raw": "Hello"})
    with structlog.testing.capture_logs() as logged:
        assert worker.run_once() and worker.run_once() and not worker.run_once()
    assert _row(store, notify)["status"] == "dry_run" and _row(store, reply)["status"] == "dry_run"
    card = json.loads(_row(store, notify)["result"])["message"]["cardsV2"][0]
    assert card["card"]["header"]["title"] == "Printer 42 on fire"
    assert {e["event"] for e in logged} >= {"dry_run_notification", "dry_run_discourse_action"}


@responses.activate
def test_notification_is_sent_and_marked_sent(tmp_path):
    """A channel with a URL gets the card; the action is sent with Chat's message name."""
    responses.post(CHAT, json={"name": "spaces/AAAA/messages/m1",
                               "thread": {"name": "spaces/AAAA/threads/t"}})
    settings, store, worker = _setup(tmp_path)
    action_id = add_action(store.db().conn, 42, "notify", notify_params(42))
    with structlog.testing.capture_logs() as logged:
        assert worker.run_once()
    row = _row(store, action_id)
    assert row["status"] == "sent" and json.loads(row["result"])["name"] == "spaces/AAAA/messages/m1"
    assert "SECRET" not in json.dumps(logged, default=str)


@responses.activate
def test_log_channel_is_sent_by_logging(tmp_path):
    """A channel of type log is delivered by writing the notification to the log."""
    settings, store, worker = _setup(tmp_path)
    action_id = add_action(store.db().conn, 42, "notify", notify_params(42, channel="audit"))
    assert worker.run_once() and _row(store, action_id)["status"] == "sent"


@responses.activate
def test_404_from_chat_is_dead_and_healthz_reports_the_channel(tmp_path):
    """A deleted space (404) sends the action to dead and /healthz lists the failing channel;
    a later success clears it."""
    responses.post(CHAT, status=404, json={"error": {"code": 404, "message": "not found"}})
    settings, store, worker = _setup(tmp_path)
    action_id = add_action(store.db().conn, 42, "notify", notify_params(42))
    worker.run_once()
    row = _row(store, action_id)
    assert row["status"] == "dead" and "no longer exists" in row["last_error"]
    report = delivery.health(store.db().conn)
    assert report["failing_channels"][0]["channel"] == "staff"
    assert report["failing_channels"][0]["http_status"] == 404 and report["outbox"]["dead"] == 1
    responses.replace(responses.POST, CHAT, json={"name": "m"})
    add_action(store.db().conn, 43, "notify", notify_params(43))
    worker.run_once()
    assert delivery.health(store.db().conn)["failing_channels"] == []


@responses.activate
def test_transient_failure_is_retried_inline_then_backs_off(tmp_path):
    """A 503 is retried within the step, then the action goes back to pending with a backoff."""
    responses.post(CHAT, status=503, json={"error": {"code": 503}})
    settings, store, worker = _setup(tmp_path)
    action_id = add_action(store.db().conn, 42, "notify", notify_params(42), iso(T0))
    worker.run_once(now=T0)
    row = _row(store, action_id)
    assert len(responses.calls) == 3 and row["status"] == "pending" and "503" in row["last_error"]
    assert row["next_attempt_at"] == iso(T0 + timedelta(seconds=5))
    assert not worker.run_once(now=T0 + timedelta(seconds=4))
    responses.replace(responses.POST, CHAT, json={"name": "m"})
    assert worker.run_once(now=T0 + timedelta(seconds=5))
    assert _row(store, action_id)["status"] == "sent" and _row(store, action_id)["attempts"] == 2


@responses.activate
def test_long_retry_after_goes_back_to_the_outbox_at_once(tmp_path):
    """A 429 with a long Retry-After is not waited for in the worker: pending until then."""
    responses.post(CHAT, status=429, headers={"Retry-After": "120"}, json={"error": {"code": 429}})
    settings, store, worker = _setup(tmp_path)
    action_id = add_action(store.db().conn, 42, "notify", notify_params(42), iso(T0))
    worker.run_once(now=T0)
    assert len(responses.calls) == 1
    assert _row(store, action_id)["next_attempt_at"] == iso(T0 + timedelta(seconds=120))


def test_unknown_channel_and_kind_are_dead_with_the_reason(tmp_path):
    """A notify to a channel not in the config, or an unknown kind, is dead at once."""
    settings, store, worker = _setup(tmp_path)
    conn = store.db().conn
    a = add_action(conn, 42, "notify", notify_params(42, channel="nope"))
    b = add_action(conn, 43, "set_prio", {})
    worker.run_once(), worker.run_once()
    assert "no channel named 'nope'" in _row(store, a)["last_error"]
    assert "unknown action kind 'set_prio'" in _row(store, b)["last_error"]


@responses.activate
def test_echo_is_committed_before_the_change_is_sent(tmp_path):
    """The expected echo is in the database (committed) when Discourse receives the change."""
    base = "https://forum.example.com"
    settings, store, worker = _setup(tmp_path, discourse_url=base)
    seen_at_request = []

    def on_status(request):
        other = Store(settings.resolve(settings.database)).db()
        seen_at_request.append(other.conn.execute("SELECT kind, value FROM echoes").fetchall())
        return 200, {"Content-Type": "application/json; charset=utf-8"}, '{"success": "OK"}'

    responses.get(f"{base}/t/42.json", json={"id": 42, "closed": False},
                  content_type="application/json; charset=utf-8")
    responses.add_callback(responses.PUT, f"{base}/t/42/status.json", callback=on_status)
    action_id = add_action(store.db().conn, 42, "close_topic", {})
    worker.run_once()
    assert seen_at_request == [[("closed", "True")]] and _row(store, action_id)["status"] == "sent"


def test_make_workers_shares_one_gateway_and_names_workers(tmp_path):
    """make_workers builds outbox.workers workers named delivery-N sharing their senders."""
    settings = online(make_settings(tmp_path, "outbox: {workers: 3}\n"))
    workers = make_workers(settings, Store(settings.resolve(settings.database)))
    assert [w.name for w in workers] == ["delivery-1", "delivery-2", "delivery-3"]
    assert workers[0].gateway is workers[2].gateway and workers[0].gateway is not None


@responses.activate
def test_a_worker_whose_lease_ran_out_stops_before_its_next_call(tmp_path):
    """Worker A is slow inside close_topic; its lease lapses and B takes the action over.
    A must not make its next call: the topic is closed once, by B."""
    base = "https://forum.example.com"
    ct = "application/json; charset=utf-8"
    settings, store, a = _setup(tmp_path, discourse_url=base)
    b = DeliveryWorker(settings, store, a.gateway, a.notifiers, name="delivery-2",
                       sleep=lambda s: None)
    action_id = add_action(store.db().conn, 42, "close_topic", {}, iso(T0))
    reads = []

    def topic(request):
        reads.append(1)
        if len(reads) == 1:  # A is here; two minutes later B claims the expired lease
            b.run_once(now=datetime.now(timezone.utc) + timedelta(seconds=121))
        return 200, {"Content-Type": ct}, json.dumps({"id": 42, "closed": False})
    responses.add_callback(responses.GET, f"{base}/t/42.json", callback=topic)
    responses.put(f"{base}/t/42/status.json", json={"success": "OK"}, content_type=ct)
    with structlog.testing.capture_logs() as logged:
        a.run_once()
    closes = [c for c in responses.calls if c.request.method == "PUT"]
    assert len(closes) == 1
    assert _row(store, action_id)["status"] == "sent"
    assert any(e["event"] == "action_lease_lost" for e in logged)


@responses.activate
def test_a_deleted_topic_kills_its_action_but_not_discourses_health(tmp_path):
    """A 404 for one topic is that action's problem: dead with the reason, /healthz fine."""
    base = "https://forum.example.com"
    settings, store, worker = _setup(tmp_path, discourse_url=base)
    responses.get(f"{base}/t/42.json", status=404, json={"errors": ["not found"]},
                  content_type="application/json; charset=utf-8")
    action_id = add_action(store.db().conn, 42, "close_topic", {}, iso(T0))
    worker.run_once()
    row = _row(store, action_id)
    assert row["status"] == "dead" and "404" in row["last_error"]
    assert delivery.health(store.db().conn)["failing_channels"] == []


def test_discourse_actions_of_a_deleted_ticket_are_skipped(tmp_path):
    """A reply queued for a ticket whose topic was deleted is not sent (no request made)."""
    from syncd.store import tickets as ticketstore
    from syncd.store.db import transaction
    from syncd.core.tickets import Ticket
    settings, store, worker = _setup(tmp_path, discourse_url="https://forum.example.com")
    with transaction(store.db()) as conn:
        ticketstore.save(conn, Ticket(id=42, title="Gone", deleted=True, has_topic=True))
    action_id = add_action(store.db().conn, 42, "reply", {"raw": "Hello"}, iso(T0))
    with responses.RequestsMock() as mocked:  # any request would fail the test
        worker.run_once()
        assert len(mocked.calls) == 0
    row = _row(store, action_id)
    assert row["status"] == "sent" and "deleted" in json.loads(row["result"])["skipped"]
