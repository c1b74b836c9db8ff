"""No channel puts a secret (a URL with a token, a key, a password) in a log line or an
outbox error, whether the destination is unreachable or the channel is a dry-run."""
from __future__ import annotations

import pytest

from standins.outbox import channel_settings, done, drain, notify, outbox_rows, workers

DOWN = "http://127.0.0.1:9"      # nothing listens there: a connection error
SECRETS = ["hook-token-s3cr3t", "xoxb-bot-s3cr3t", "sig-s3cr3t", "trello-key-s3cr3t",
           "trello-token-s3cr3t", "smtp-password-s3cr3t", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
CHANNELS = {
    "slack-webhook": f"{{type: slack, url: '{DOWN}/services/T/B/hook-token-s3cr3t'}}",
    "slack-bot": f"{{type: slack, token: xoxb-bot-s3cr3t, channel: C1, api_url: '{DOWN}/api'}}",
    "teams": f"{{type: teams, url: '{DOWN}/workflows/1/invoke?sig=sig-s3cr3t'}}",
    "trello": (f"{{type: trello, key: trello-key-s3cr3t, token: trello-token-s3cr3t, api_url: '{DOWN}/1',"
               " lists: {normal: L1, high: L2}}"),
    "email": ("{type: email, to: [a@example.edu], from: h@example.edu, smtp: {host: 127.0.0.1, port: 9,"
              " username: u, password: smtp-password-s3cr3t}}"),
    "webhook": f"{{type: webhook, url: '{DOWN}/h', secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw}}",
}

# The same channels, each missing the one key that makes it send: dry-runs.
DRY = {
    "slack-webhook": "{type: slack}",
    "slack-bot": "{type: slack, api_url: 'http://127.0.0.1:9/api'}",
    "teams": "{type: teams}",
    "trello": "{type: trello, token: trello-token-s3cr3t, lists: {normal: L1}}",
    "email": "{type: email, to: [a@example.edu], smtp: {username: u, password: smtp-password-s3cr3t}}",
    "webhook": f"{{type: webhook, url: '{DOWN}/h'}}",
}


@pytest.mark.parametrize("name", sorted(CHANNELS))
def test_an_unreachable_destination_leaks_no_secret(tmp_path, capsys, name):
    """The retry's error and every log line name the channel and the failure, not the secret."""
    settings = channel_settings(tmp_path, f"  c: {CHANNELS[name]}")
    notify(settings, 1, "c")
    workers(settings)[0].run_once()
    row = outbox_rows(settings)[0]
    assert row["status"] == "pending" and row["last_error"].startswith("channel c: ")
    seen = capsys.readouterr().out + row["last_error"]
    assert "action_retry_later" in seen
    assert not [s for s in SECRETS if s in seen]


@pytest.mark.parametrize("name", sorted(CHANNELS))
def test_a_dry_run_logs_the_message_not_the_secret(tmp_path, capsys, name):
    """Without the key that makes it send, the rendered message is logged and stored, no secret."""
    spec = DRY[name]
    settings = channel_settings(tmp_path, f"  c: {spec}")
    assert settings.channels["c"].dry_run
    notify(settings, 1, "c")
    drain(workers(settings), lambda: done(settings))
    assert outbox_rows(settings)[0]["status"] == "dry_run"
    out = capsys.readouterr().out
    assert "dry_run_notification" in out and not [s for s in SECRETS if s in out]
