"""SQS, end to end through the outbox against moto's server (boto3 over HTTP, no mocks)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from standins.aws import client, moto_server, use_test_credentials
from standins.outbox import action_of, channel_settings, done, drain, notify, outbox_rows, workers
from syncd.errors import ConfigError


@pytest.fixture(scope="module")
def endpoint():
    with moto_server() as url:
        yield url


@pytest.fixture(autouse=True)
def _credentials(monkeypatch):
    use_test_credentials(monkeypatch)


def _settings(tmp_path, endpoint, prefix, fifo=False, create=True):
    return channel_settings(tmp_path, (
        f"  queues: {{type: sqs, region: eu-west-1, endpoint_url: '{endpoint}', queue_prefix: {prefix},"
        f" fifo: {str(fifo).lower()}, create_queues: {str(create).lower()}}}"))


def _receive(endpoint, name, n=10):
    sqs = client("sqs", endpoint)
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=n, AttributeNames=["All"])
    return got.get("Messages", [])


def test_one_message_per_notification_on_its_prioritys_queue_created_when_missing(tmp_path, endpoint):
    """urgent and low tickets land on <prefix>urgent and <prefix>low, made on first use."""
    settings = _settings(tmp_path, endpoint, "t1-")
    notify(settings, 1, "queues", priority="urgent")
    notify(settings, 2, "queues", priority="low")
    drain(workers(settings), lambda: done(settings))
    assert [r["status"] for r in outbox_rows(settings)] == ["sent", "sent"]
    [urgent] = _receive(endpoint, "t1-urgent")
    body = json.loads(urgent["Body"])
    assert body["type"] == "ticket.topic_created" and body["data"]["ticket"]["id"] == 1
    assert body["data"]["action_id"] == action_of(settings, outbox_rows(settings)[0]["id"]).key
    assert [json.loads(m["Body"])["data"]["ticket"]["id"] for m in _receive(endpoint, "t1-low")] == [2]


def test_fifo_groups_by_ticket_and_dedupes_a_resend(tmp_path, endpoint):
    """FIFO: MessageGroupId = ticket, MessageDeduplicationId = action key; a resend is dropped by SQS."""
    settings = _settings(tmp_path, endpoint, "t2-", fifo=True)
    notify(settings, 5, "queues")
    ws = workers(settings)
    drain(ws, lambda: done(settings))
    notifier = ws[0].notifiers["queues"]
    action = action_of(settings, outbox_rows(settings)[0]["id"])
    notifier.send(action)                     # the same action again, as after a crash
    messages = _receive(endpoint, "t2-high.fifo")
    assert len(messages) == 1
    attrs = messages[0]["Attributes"]
    assert attrs["MessageGroupId"] == "ticket-5" and attrs["MessageDeduplicationId"] == action.key


def test_missing_queue_without_create_is_dead_with_the_fix(tmp_path, endpoint):
    """create_queues: false and no queue: dead, saying to create it."""
    settings = _settings(tmp_path, endpoint, "t3-", create=False)
    notify(settings, 1, "queues")
    drain(workers(settings), lambda: done(settings))
    row = outbox_rows(settings)[0]
    assert row["status"] == "dead" and "t3-high does not exist" in row["last_error"]


def test_unreachable_endpoint_is_retried(tmp_path):
    """A closed port is transient: the action waits in the outbox."""
    settings = _settings(tmp_path, "http://127.0.0.1:9", "t4-")
    notify(settings, 1, "queues")
    workers(settings)[0].run_once()
    row = outbox_rows(settings)[0]
    assert row["status"] == "pending" and "cannot reach SQS" in row["last_error"]


def test_check_names_the_extra_and_a_missing_one_is_an_error(tmp_path, monkeypatch):
    """describe() says sqs needs syncd[aws]; without boto3 the config names the pip command."""
    from syncd import channels
    from syncd.config import describe
    settings = _settings(tmp_path, "http://127.0.0.1:9", "t5-")
    assert any("needs syncd[aws] (installed)" in line for line in describe(settings))
    monkeypatch.setattr(channels, "missing_modules",
                        lambda cls: ["boto3"] if getattr(cls, "EXTRA", None) else [])
    with pytest.raises(ConfigError) as err:
        _settings(tmp_path, "http://127.0.0.1:9", "t5-")
    assert "needs boto3: pip install 'syncd[aws]'" in str(err.value) and "config.yaml:" in str(err.value)


def test_boto3_is_not_imported_without_an_aws_channel(tmp_path):
    """A config without sqs/s3 never imports boto3 (the extra stays optional)."""
    config = f"database: {tmp_path}/x.db\\nchannels:\\n  a: {{type: slack}}\\n  b: {{type: sqs}}\\n"
    code = ("import sys; from syncd.config import settings_from_text;"
            "from syncd.outbox.workers import make_workers; from syncd.store.db import Store;"
            f"s = settings_from_text('{config}', env={{}});"
            "make_workers(s, Store(s.database)); print('boto3' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_huge_ticket_body_is_cut_to_fit_a_message():
    """A body that would pass 256 KiB is cut (and the message says so), never refused."""
    from standins import notify_params
    from syncd.channels.sqs import MAX_BYTES, body
    from syncd.outbox.queue import Action
    action = Action(id=1, ticket_id=1, kind="notify", params=notify_params(1, "q", body="x" * 400_000),
                    rule=None, delivery_id=None, attempts=1, created_at="2026-03-02T09:00:00.000000Z")
    text = body(action, "q")
    assert len(text.encode()) <= MAX_BYTES
    assert json.loads(text)["data"]["cut"] is True
