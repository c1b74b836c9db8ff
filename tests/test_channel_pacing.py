"""Every channel type paces its sends with one token bucket shared by the workers: driven
clocks (no sleeping) show four sends at 60 a minute take three seconds and a little, at 98 %
of the limit, for the types whose limits are not already tested against a stand-in."""
from __future__ import annotations

import pytest

from standins.aws import client, moto_server, use_test_credentials
from standins.outbox import FakeClock, channel_settings, done, drain, fake_pacing, notify, workers
from standins.smtp import SmtpServer
from standins.webhook import WebhookReceiver

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
EXPECTED = 3 * 60 / (60 * 0.98)     # three waits between four sends at 98 % of 60 a minute


@pytest.fixture(scope="module")
def endpoint():
    with moto_server() as url:
        yield url


def _paced(settings, count=4) -> float:
    for i in range(count):
        notify(settings, 100 + i, "c", status="resolved")
    ws = workers(settings)
    clock = fake_pacing(ws, FakeClock())
    start = clock.t
    drain(ws, lambda: done(settings))
    return clock.t - start


def test_webhook_is_paced(tmp_path):
    """Signed webhooks: 60 a minute."""
    with WebhookReceiver(SECRET) as receiver:
        settings = channel_settings(tmp_path, f"  c: {{type: webhook, url: '{receiver.url}', "
                                              f"secret: '{SECRET}', messages_per_minute: 60}}")
        waited = _paced(settings)
        assert len(receiver.received) == 4
        assert EXPECTED - 1e-6 <= waited < EXPECTED + 0.5


def test_email_is_paced(tmp_path, monkeypatch):
    """SMTP: 60 a minute (the default is 30)."""
    with SmtpServer(tmp_path, "starttls") as server:
        monkeypatch.setenv("SSL_CERT_FILE", str(server.cert))
        settings = channel_settings(tmp_path, (
            "  c: {type: email, to: [a@example.edu], from: h@example.edu, messages_per_minute: 60,"
            f" smtp: {{host: 127.0.0.1, port: {server.port}}}}}"))
        waited = _paced(settings)
        assert len(server.messages) == 4
        assert EXPECTED - 1e-6 <= waited < EXPECTED + 0.5


def test_sqs_and_s3_are_paced(tmp_path, endpoint, monkeypatch):
    """SQS and S3: 60 a minute each (their defaults are far higher), after a burst of 10."""
    use_test_credentials(monkeypatch)
    client("s3", endpoint).create_bucket(Bucket="paced", CreateBucketConfiguration={
        "LocationConstraint": "eu-west-1"})
    for kind, keys in (("sqs", "queue_prefix: paced-"), ("s3", "bucket: paced")):
        folder = tmp_path / kind
        folder.mkdir()
        settings = channel_settings(folder, f"  c: {{type: {kind}, region: eu-west-1, "
                                            f"endpoint_url: '{endpoint}', {keys}, messages_per_minute: 60}}")
        waited = _paced(settings, count=13)        # 10 at once, then three paced
        assert EXPECTED - 1e-6 <= waited < EXPECTED + 0.5, kind
