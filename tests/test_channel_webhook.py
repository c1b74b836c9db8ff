"""Generic signed webhooks (Standard Webhooks 1.0), end to end against a receiver that
verifies as the spec says (tests/standins/webhook.py)."""
from __future__ import annotations

import json

import pytest

from standins.outbox import action_of, channel_settings, done, drain, notify, outbox_rows, workers
from standins.webhook import WebhookReceiver
from syncd.channels.webhook import sign
from syncd.errors import ConfigError

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def _settings(tmp_path, receiver, secret=SECRET):
    return channel_settings(tmp_path, f"  hook: {{type: webhook, url: '{receiver.url}', secret: '{secret}'}}")


def test_signature_matches_the_specs_published_vector():
    """The sign test vector of the standard-webhooks libraries (python tests/test_webhooks.py)."""
    got = sign(SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert got == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_delivers_a_signed_document_with_the_action_as_webhook_id(tmp_path):
    """The receiver verifies the signature; webhook-id is the action key; body is the document."""
    with WebhookReceiver(SECRET) as receiver:
        settings = _settings(tmp_path, receiver)
        notify(settings, 42, "hook")
        drain(workers(settings), lambda: done(settings))
        key = action_of(settings, 1).key
        assert list(receiver.received) == [key] and receiver.refused == []
        body = receiver.received[key]["body"]
        assert body["type"] == "ticket.topic_created" and body["data"]["ticket"]["id"] == 42
        assert body["data"]["action_id"] == key


def test_a_resend_is_deduped_by_the_receiver_on_webhook_id(tmp_path):
    """Sending the same action again (after a crash) carries the same webhook-id."""
    with WebhookReceiver(SECRET) as receiver:
        settings = _settings(tmp_path, receiver)
        notify(settings, 42, "hook")
        ws = workers(settings)
        drain(ws, lambda: done(settings))
        ws[0].notifiers["hook"].send(action_of(settings, 1))
        assert receiver.requests == 2 and len(receiver.received) == 1


def test_wrong_secret_is_refused_and_dead_with_the_fix(tmp_path):
    """A receiver with another secret answers 401: dead, 'use the same secret'; the secret is never shown."""
    other = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
    with WebhookReceiver(other) as receiver:
        settings = _settings(tmp_path, receiver)
        notify(settings, 1, "hook")
        drain(workers(settings), lambda: done(settings))
        row = outbox_rows(settings)[0]
        assert receiver.refused == ["no matching signature"]
        assert row["status"] == "dead"
        assert "same secret" in row["last_error"]
        assert SECRET not in row["last_error"]


@pytest.mark.parametrize("status,state,words", [
    (503, "pending", "answered 503"), (429, "pending", "rate limit"), (502, "pending", "answered 502"),
    (410, "dead", "endpoint is gone"), (302, "dead", "redirects"), (400, "dead", "refused the message"),
])
def test_answers_are_retried_or_dead_as_the_spec_says(tmp_path, status, state, words):
    """5xx and 429 retried; 410, 3xx and other 4xx dead with the reason."""
    with WebhookReceiver(SECRET) as receiver:
        receiver.status = status
        settings = _settings(tmp_path, receiver)
        notify(settings, 1, "hook")
        workers(settings)[0].run_once()
        row = outbox_rows(settings)[0]
        assert row["status"] == state and words in row["last_error"]


def test_a_bad_secret_is_a_config_error(tmp_path):
    """A secret that is not whsec_<base64 of 24+ bytes> names the line; none at all is a dry-run."""
    with pytest.raises(ConfigError) as err:
        channel_settings(tmp_path, "  hook: {type: webhook, url: 'https://example.org/h', secret: short}")
    text = str(err.value)
    assert "config.yaml:7:" in text and "whsec_" in text and "short" not in text
    unsigned = channel_settings(tmp_path, "  hook: {type: webhook, url: 'https://example.org/h'}")
    assert unsigned.channels["hook"].dry_run      # never sent unsigned


def test_document_is_sorted_compact_json(tmp_path):
    """The signed body is the exact bytes sent (compact, sorted keys): receivers verify the raw body."""
    with WebhookReceiver(SECRET) as receiver:
        settings = _settings(tmp_path, receiver)
        notify(settings, 3, "hook")
        drain(workers(settings), lambda: done(settings))
        body = next(iter(receiver.received.values()))["body"]
        assert json.dumps(body, sort_keys=True, separators=(",", ":"))
