"""Every row of the contract's HTTP table, through Flask's test client."""
from __future__ import annotations

import sqlite3

import pytest

from syncd.inbox.http import Receiver, create_app
from syncd.processor import Processor
from syncd.service import prepare

from conftest import SECRET, make_settings, sample_body, signed_sample


@pytest.fixture
def env(tmp_path):
    settings = make_settings(tmp_path)
    store, secret = prepare(settings)
    client = create_app(Receiver(settings, store, secret)).test_client()
    return settings, store, client


def post(client, headers, raw):
    return client.post("/webhooks/discourse", data=raw, headers=headers)


def count(store, table="deliveries"):
    return store.db().conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def test_new_signed_event_is_accepted_after_storing(env):
    """202 accepted with the event id, and the row is already committed."""
    _, store, client = env
    r = post(client, *signed_sample("topic_created"))
    assert r.status_code == 202
    assert r.get_json() == {"status": "accepted", "event_id": "90211", "delivery_id": 1}
    other = sqlite3.connect(store.path)  # another connection sees it: committed
    assert other.execute("SELECT event_name FROM deliveries").fetchall() == [("topic_created",)]


def test_manual_redelivery_same_event_id_is_duplicate(env):
    """The same X-Discourse-Event-Id from the same instance: 200 duplicate, stored once."""
    _, store, client = env
    headers, raw = signed_sample("topic_created")
    post(client, headers, raw)
    r = post(client, headers, raw)
    assert (r.status_code, r.get_json()) == (200, {"status": "duplicate"})
    assert count(store) == 1


def test_automatic_retry_new_id_same_body_is_duplicate(env):
    """Discourse's retry: a new event id, byte-identical body: 200 duplicate."""
    _, store, client = env
    post(client, *signed_sample("topic_created"))
    r = post(client, *signed_sample("topic_created", event_id="99999"))
    assert (r.status_code, r.get_json()["status"]) == (200, "duplicate")
    assert count(store) == 1


def test_same_event_id_from_another_instance_is_new(env):
    """Event ids are per instance: another forum's id 90211 is a new delivery."""
    _, store, client = env
    headers, raw = signed_sample("topic_created")
    post(client, headers, raw)
    body = sample_body("topic_created")
    body["topic"]["id"] = 999
    h2, raw2 = signed_sample("topic_created", body=body)
    r = post(client, {**h2, "X-Discourse-Instance": "https://other.example.com"}, raw2)
    assert r.status_code == 202 and count(store) == 2


def test_ping_is_ignored(env):
    """A ping: 200 ignored, nothing stored."""
    _, store, client = env
    r = post(client, *signed_sample("ping"))
    assert r.status_code == 200 and r.get_json()["status"] == "ignored"
    assert "ping" in r.get_json()["reason"] and count(store) == 0


def test_topic_outside_ticket_categories_is_ignored(env):
    """A topic in a category that is not a ticket category: 200 ignored with the reason."""
    _, store, client = env
    body = sample_body("topic_created")
    body["topic"]["category_id"] = 42
    r = post(client, *signed_sample("topic_created", body=body))
    assert r.status_code == 200
    assert r.get_json() == {"status": "ignored", "reason": "category 42 is not a ticket category"}
    assert count(store) == 0


def test_topic_moving_into_a_ticket_category_becomes_a_ticket(env):
    """topic_edited into a ticket category is accepted though the topic was never seen."""
    settings, store, client = env
    body = sample_body("topic_edited")
    body["topic"]["category_id"] = 5
    r = post(client, *signed_sample("topic_edited", body=body))
    assert r.status_code == 202
    while Processor(settings, store).run_once():
        pass
    assert store.db().conn.execute("SELECT id FROM tickets").fetchall() == [(1234,)]


def test_unknown_event_type_is_ignored(env):
    """A signed event syncd does not act on (user_created): 200 ignored."""
    _, store, client = env
    raw = b'{"user":{"id":1,"username":"zed"}}'
    from syncd.replay import signed
    headers = signed({"X-Discourse-Event": "user_created", "X-Discourse-Event-Type": "user",
                      "X-Discourse-Event-Id": "5", "X-Discourse-Instance": "x"}, raw, SECRET)
    r = post(client, headers, raw)
    assert r.status_code == 200 and "user" in r.get_json()["reason"] and count(store) == 0


@pytest.mark.parametrize("mutate", [
    lambda h: {k: v for k, v in h.items() if k != "X-Discourse-Event-Signature"},
    lambda h: {**h, "X-Discourse-Event-Signature": "sha256=" + "0" * 64},
    lambda h: {**h, "X-Discourse-Event-Signature": "garbage"},
])
def test_missing_or_wrong_signature_is_401(env, mutate):
    """Missing or wrong signature: 401 with a JSON reason, nothing stored."""
    _, store, client = env
    headers, raw = signed_sample("topic_created")
    r = post(client, mutate(headers), raw)
    assert r.status_code == 401 and "error" in r.get_json() and count(store) == 0


def test_body_signed_with_another_secret_is_401(env):
    """A delivery signed with another secret is refused."""
    _, store, client = env
    r = post(client, *signed_sample("topic_created", secret="another-secret-entirely"))
    assert r.status_code == 401 and count(store) == 0


def test_body_not_json_is_400(env):
    """A signed body that is not JSON: 400 with a JSON error."""
    _, store, client = env
    headers, _ = signed_sample("topic_created")
    from syncd.replay import signed
    raw = b"topic=1234&title=x"
    r = post(client, signed(headers, raw, SECRET), raw)
    assert r.status_code == 400 and "not JSON" in r.get_json()["error"] and count(store) == 0


@pytest.mark.parametrize("header", ["X-Discourse-Event", "X-Discourse-Event-Type",
                                    "X-Discourse-Event-Id"])
def test_missing_required_header_is_400(env, header):
    """A required header missing: 400 naming it."""
    _, store, client = env
    headers, raw = signed_sample("topic_created")
    r = post(client, {k: v for k, v in headers.items() if k != header}, raw)
    assert r.status_code == 400 and header in r.get_json()["error"] and count(store) == 0


def test_form_encoded_content_type_still_reads_json(env):
    """The body is JSON even when the webhook is set to x-www-form-urlencoded."""
    _, store, client = env
    headers, raw = signed_sample("topic_created")
    r = post(client, {**headers, "Content-Type": "application/x-www-form-urlencoded"}, raw)
    assert r.status_code == 202 and count(store) == 1


def test_body_over_one_mib_is_413(env):
    """A body over 1 MiB: 413, nothing stored."""
    _, store, client = env
    body = sample_body("topic_created")
    body["topic"]["padding"] = "x" * (1024 * 1024)
    r = post(client, *signed_sample("topic_created", body=body))
    assert r.status_code == 413 and count(store) == 0


def test_payload_missing_fields_is_400(env):
    """A signed topic payload without an id: 400 with the field."""
    _, store, client = env
    body = sample_body("topic_created")
    del body["topic"]["id"]
    r = post(client, *signed_sample("topic_created", body=body))
    assert r.status_code == 400 and "id" in r.get_json()["error"]


def test_read_only_database_is_503_and_loses_nothing(env, tmp_path):
    """A database that cannot be written: 503 with a reason; earlier rows are intact."""
    settings, store, client = env
    post(client, *signed_sample("topic_created"))
    store.db().conn.execute("PRAGMA query_only = ON")
    r = post(client, *signed_sample("post_created"))
    assert r.status_code == 503 and "redeliver" in r.get_json()["error"]
    store.db().conn.execute("PRAGMA query_only = OFF")
    assert count(store) == 1


def test_healthz_reports_database_rules_and_backlog(env):
    """GET /healthz: 200 with database, rules count and backlog."""
    _, _, client = env
    post(client, *signed_sample("topic_created"))
    body = client.get("/healthz").get_json()
    assert body["database"] == "ok" and "rules_loaded" in body
    assert body["backlog"]["deliveries_unprocessed"] == 1


def test_healthz_is_503_when_the_database_is_unreachable(env):
    """GET /healthz: 503 when the database cannot be read."""
    _, store, client = env
    store.db().conn.close()
    r = client.get("/healthz")
    assert r.status_code == 503 and r.get_json()["status"] == "unavailable"


def test_metrics_in_prometheus_text_format(env):
    """GET /metrics: deliveries by status, backlog, latency histograms."""
    _, _, client = env
    post(client, *signed_sample("topic_created"))
    post(client, *signed_sample("topic_created"))
    text = client.get("/metrics").get_data(as_text=True)
    assert 'syncd_deliveries_received_total{status="accepted"}' in text
    assert 'syncd_deliveries_received_total{status="duplicate"}' in text
    assert "syncd_outbox_backlog" in text and "syncd_ingest_seconds_bucket" in text
    assert "syncd_actions_total" in text or "# TYPE syncd_actions_total counter" in text
