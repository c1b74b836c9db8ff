"""moto's server mode on 127.0.0.1 (a real SQS and S3 API over HTTP, no mocks): boto3 in
the channels talks to it through ``endpoint_url`` exactly as it would to AWS."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing-key-id", "AWS_SECRET_ACCESS_KEY": "testing-secret-key",
               "AWS_SESSION_TOKEN": "testing-session", "AWS_DEFAULT_REGION": "eu-west-1"}


@contextmanager
def moto_server() -> Iterator[str]:
    """Start moto's threaded server on an ephemeral port; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def use_test_credentials(monkeypatch) -> None:
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def client(service: str, endpoint: str):
    import boto3
    return boto3.client(service, region_name="eu-west-1", endpoint_url=endpoint,
                        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
