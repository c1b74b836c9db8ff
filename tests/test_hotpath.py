"""Issue 17: POST /webhooks/discourse served by a thin WSGI function in front of Flask."""
from __future__ import annotations

import json
import threading

import pytest
from flask import jsonify

from syncd.inbox.http import Receiver, create_app
from syncd.inbox.writer import IngestPressure, IngestWriter
from syncd.service import prepare

from conftest import make_settings, signed_sample
from standins import wait_for


@pytest.fixture
def env(tmp_path):
    settings = make_settings(tmp_path)
    store, secret = prepare(settings)
    writer = IngestWriter(store)
    receiver = Receiver(settings, store, secret, writer=writer, pressure=IngestPressure())
    app = create_app(receiver)
    yield app, store, receiver
    writer.close()


def post(client, headers, raw):
    return client.post("/webhooks/discourse", data=raw, headers=headers)


def test_deliveries_skip_flask_and_every_other_route_does_not(env):
    """Flask's request hooks never run for a delivery, and still run for /healthz."""
    app, _, _ = env
    seen = []
    app.before_request(lambda: seen.append("flask") and None)
    client = app.test_client()
    assert post(client, *signed_sample("topic_created")).status_code == 202
    assert seen == []
    assert client.get("/healthz").status_code == 200
    assert seen == ["flask"]


def test_answers_are_byte_for_byte_what_flask_sent(env):
    """202 as json.dumps, refusals and 'ignored' as Flask's jsonify, application/json."""
    app, _, _ = env
    client = app.test_client()
    headers, raw = signed_sample("topic_created")
    r = post(client, headers, raw)
    assert r.get_data() == json.dumps({"status": "accepted", "event_id": headers[
        "X-Discourse-Event-Id"], "delivery_id": 1}).encode()
    assert r.headers["Content-Type"] == "application/json"
    assert int(r.headers["Content-Length"]) == len(r.get_data())
    dup = post(client, headers, raw)
    assert (dup.status_code, dup.get_data()) == (200, b'{"status": "duplicate"}')
    bad = post(client, {**headers, "X-Discourse-Event-Signature": "sha256=00"}, raw)
    with app.app_context():
        expected = jsonify({"status": "error", "error": bad.get_json()["error"]}).get_data()
    assert bad.status_code == 401 and bad.get_data() == expected
    ping_headers, ping_raw = signed_sample("ping")
    ping = post(client, ping_headers, ping_raw)
    with app.app_context():
        expected = jsonify({"status": "ignored", "reason": "ping: syncd is listening"}).get_data()
    assert ping.status_code == 200 and ping.get_data() == expected


def test_other_methods_and_paths_are_still_flasks(env):
    """GET on the webhook path is Flask's 405; a trailing slash is not the hot path."""
    app, store, _ = env
    client = app.test_client()
    assert client.get("/webhooks/discourse").status_code == 405
    assert post(client, *signed_sample("topic_created")).status_code == 202
    assert client.post("/webhooks/discourse/", data=b"{}").status_code in (308, 404)
    assert store.db().conn.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0] == 1


def test_a_body_over_the_limit_is_413_unread(env):
    """Content-Length over server.max_body_bytes: 413 with the limit, nothing stored."""
    app, store, receiver = env
    limit = receiver.settings.server.max_body_bytes
    headers, _ = signed_sample("topic_created")
    r = app.test_client().post("/webhooks/discourse", data=b"x" * (limit + 1), headers=headers)
    assert r.status_code == 413 and str(limit) in r.get_json()["error"]
    assert store.db().conn.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0] == 0


def test_the_processor_waits_while_a_delivery_is_being_answered():
    """In flight (begin without end) defers processing; after end and `quiet`, no wait."""
    now = [100.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    p = IngestPressure(quiet=0.001, max_defer=0.25, max_backlog=100,
                       clock=lambda: now[0], sleep=sleep)
    p.begin()
    now[0] += 1.0                      # long after the last answer, but one is in flight
    p.wait_for_quiet(lambda: 0)
    assert 0.25 - 1e-9 <= sum(slept) < 0.25 + 0.003   # deferred up to max_defer, no longer
    p.end()
    slept.clear()
    now[0] += 0.002                    # quiet for longer than `quiet`
    p.wait_for_quiet(lambda: 0)
    assert slept == []


def test_pressure_counts_overlapping_requests():
    """Two requests in flight: the receiver is busy until both have ended."""
    now = [10.0]
    p = IngestPressure(quiet=0.001, clock=lambda: now[0])
    p.begin()
    p.begin()
    p.end()
    now[0] += 1.0
    assert p.busy()
    p.end()
    assert p.busy()            # just answered: quiet for `quiet` seconds first
    now[0] += 0.002
    assert not p.busy()


def test_a_lone_delivery_is_committed_by_its_own_thread(tmp_path, monkeypatch):
    """Writer idle, queue empty: the request thread commits itself (no hand-over), and
    with the writer busy, deliveries queue for the writer thread; all are stored."""
    from syncd.store import deliveries
    store, _ = prepare(make_settings(tmp_path))
    writer = IngestWriter(store)
    real, threads_seen = deliveries.insert_rows, []

    def spy(conn, batch):
        threads_seen.append(threading.current_thread().name)
        return real(conn, batch)
    monkeypatch.setattr(deliveries, "insert_rows", spy)
    headers, raw = signed_sample("topic_created")
    stored = writer.store_delivery(headers, raw, 1234)
    assert not stored.duplicate and threads_seen == [threading.current_thread().name]
    writer._committing.acquire()          # a batch "being written": the next one queues
    done = []
    t = threading.Thread(target=lambda: done.append(writer.store_delivery(
        {**headers, "X-Discourse-Event-Id": "2"}, raw + b" ", 1234)), name="request-2")
    t.start()
    wait_for(lambda: writer._holding or not t.is_alive())   # the writer thread has it
    writer._committing.release()
    t.join(10)
    assert done and not done[0].duplicate and threads_seen[-1] == "ingest-writer"
    assert store.db().conn.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0] == 2
    writer.close()


def test_the_answer_carries_an_http_date(env):
    """The Date header (which waitress would otherwise format for each answer) is RFC 9110's
    IMF-fixdate, for the current second."""
    from email.utils import parsedate_to_datetime
    from datetime import datetime, timezone
    app, _, _ = env
    r = post(app.test_client(), *signed_sample("topic_created"))
    when = parsedate_to_datetime(r.headers["Date"])
    assert r.headers["Date"].endswith(" GMT")
    assert abs((datetime.now(timezone.utc) - when).total_seconds()) < 60
