"""S3, end to end through the outbox against moto's server (boto3 over HTTP, no mocks)."""
from __future__ import annotations

import json

import pytest

from standins.aws import client, moto_server, use_test_credentials
from standins.outbox import action_of, channel_settings, done, drain, notify, outbox_rows, workers
from syncd.store.db import Store, transaction


@pytest.fixture(scope="module")
def endpoint():
    with moto_server() as url:
        yield url


@pytest.fixture(autouse=True)
def _credentials(monkeypatch):
    use_test_credentials(monkeypatch)


def _settings(tmp_path, endpoint, bucket, make=True):
    if make:
        client("s3", endpoint).create_bucket(Bucket=bucket, CreateBucketConfiguration={
            "LocationConstraint": "eu-west-1"})
    return channel_settings(tmp_path, (f"  archive: {{type: s3, region: eu-west-1, "
                                       f"endpoint_url: '{endpoint}',"
                                       f" bucket: {bucket}, prefix: tickets/}}"))


def _object(endpoint, bucket, key):
    return client("s3", endpoint).get_object(Bucket=bucket, Key=key)["Body"].read()


def test_resolved_ticket_is_archived_at_prefix_year_month_id(tmp_path, endpoint):
    """A resolved ticket's document lands at tickets/2026/03/<id>.json with fields and history."""
    settings = _settings(tmp_path, endpoint, "arch-1")
    store = Store(settings.resolve(settings.database))
    with transaction(store.db()) as conn:
        conn.execute("INSERT INTO ticket_history (ticket_id, at, kind, name, detail) VALUES "
                     "(42, '2026-03-02T09:14:07.512000Z', 'change', 'status_changed', "
                     "'{\"new\": \"resolved\"}')")
    notify(settings, 42, "archive", status="resolved")
    drain(workers(settings), lambda: done(settings))
    [row] = outbox_rows(settings)
    assert row["status"] == "sent" and row["result"]["key"] == "tickets/2026/03/42.json"
    doc = json.loads(_object(endpoint, "arch-1", "tickets/2026/03/42.json"))
    assert doc["ticket"]["id"] == 42 and doc["ticket"]["status"] == "resolved"
    assert doc["history"][0]["name"] == "status_changed"
    assert doc["history"][0]["detail"] == {"new": "resolved"}


def test_open_ticket_writes_nothing(tmp_path, endpoint):
    """A notification while the ticket is open is sent as skipped: no object."""
    settings = _settings(tmp_path, endpoint, "arch-2")
    notify(settings, 7, "archive", status="open")
    drain(workers(settings), lambda: done(settings))
    assert "skipped" in outbox_rows(settings)[0]["result"]
    assert client("s3", endpoint).list_objects_v2(Bucket="arch-2").get("KeyCount") == 0


def test_resend_writes_the_same_key_and_bytes_and_later_changes_overwrite(tmp_path, endpoint):
    """Sending one action twice gives identical bytes; a later close overwrites the object."""
    settings = _settings(tmp_path, endpoint, "arch-3")
    notify(settings, 9, "archive", status="resolved")
    ws = workers(settings)
    drain(ws, lambda: done(settings))
    first = _object(endpoint, "arch-3", "tickets/2026/03/9.json")
    ws[0].notifiers["archive"].send(action_of(settings, outbox_rows(settings)[0]["id"]))
    assert _object(endpoint, "arch-3", "tickets/2026/03/9.json") == first
    notify(settings, 9, "archive", status="closed")
    drain(ws, lambda: done(settings))
    assert json.loads(_object(endpoint, "arch-3", "tickets/2026/03/9.json"))["ticket"]["status"] == "closed"


def test_missing_bucket_is_dead_with_the_fix(tmp_path, endpoint):
    """NoSuchBucket: dead, saying to create the bucket or fix `bucket`."""
    settings = _settings(tmp_path, endpoint, "arch-missing", make=False)
    notify(settings, 1, "archive", status="closed")
    drain(workers(settings), lambda: done(settings))
    row = outbox_rows(settings)[0]
    assert row["status"] == "dead" and "create it or fix `bucket`" in row["last_error"]


def test_unconfigured_bucket_is_dry_run(tmp_path):
    """Without a bucket nothing is written; the action says where it would go."""
    settings = channel_settings(tmp_path, "  archive: {type: s3}")
    notify(settings, 1, "archive", status="closed")
    drain(workers(settings), lambda: done(settings))
    row = outbox_rows(settings)[0]
    assert row["status"] == "dry_run" and row["result"]["message"]["key"] == "tickets/2026/03/1.json"
