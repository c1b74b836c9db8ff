"""What the AWS channel types (``sqs``, ``s3``) share: a boto3 client, made on first use
(boto3 is the optional extra ``syncd[aws]``, imported only when such a channel sends),
and botocore's errors sorted into transient and permanent.

Credentials come from boto3's usual chain (``AWS_ACCESS_KEY_ID`` / ``AWS_PROFILE`` / an
instance role); ``endpoint_url`` points at another implementation (moto, MinIO, LocalStack).
"""
from __future__ import annotations

import threading
from typing import Any

from syncd.channels import checks
from syncd.errors import PermanentError, TransientError

CONFIG = {
    "region": (checks.text, "", "the AWS region (empty: boto3's default from the environment)"),
    "endpoint_url": (checks.url, "", "another S3/SQS endpoint (moto, MinIO); empty: AWS"),
}
THROTTLED = {"Throttling", "ThrottlingException", "RequestThrottled", "SlowDown",
             "RequestLimitExceeded", "ServiceUnavailable", "InternalError", "InternalFailure",
             "RequestTimeout", "RequestTimeTooSkewed"}
CREDENTIALS = {"InvalidClientTokenId", "SignatureDoesNotMatch", "InvalidAccessKeyId",
               "UnrecognizedClientException", "ExpiredToken", "AuthFailure"}


class AwsClient:
    """One boto3 client a channel, made lazily and shared by the workers (boto3 clients
    are thread-safe)."""

    def __init__(self, service: str, options: dict[str, Any]):
        self.service, self.options = service, options
        self._client: Any = None
        self._lock = threading.Lock()

    def get(self) -> Any:
        with self._lock:
            if self._client is None:
                import boto3   # the aws extra: only now, and only for a configured channel
                from botocore.config import Config
                self._client = boto3.session.Session().client(
                    self.service, region_name=self.options.get("region") or None,
                    endpoint_url=self.options.get("endpoint_url") or None,
                    config=Config(retries={"max_attempts": 2, "mode": "standard"},
                                  connect_timeout=10, read_timeout=30))
            return self._client


def classify(name: str, exc: BaseException, what: str) -> Exception:
    """A botocore exception as TransientError or PermanentError (no secret inside)."""
    from botocore import exceptions as bex
    if isinstance(exc, bex.NoCredentialsError):
        return PermanentError(f"channel {name}: no AWS credentials: set AWS_ACCESS_KEY_ID and "
                              "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or an instance role)")
    if isinstance(exc, bex.NoRegionError):
        return PermanentError(f"channel {name}: no AWS region: set `region` (or AWS_DEFAULT_REGION)")
    if isinstance(exc, (bex.EndpointConnectionError, bex.ConnectionError, bex.ReadTimeoutError,
                        bex.ConnectTimeoutError)):
        return TransientError(f"channel {name}: cannot reach {what} ({type(exc).__name__})")
    if isinstance(exc, bex.ClientError):
        err = exc.response.get("Error") or {}
        code, message = str(err.get("Code") or ""), str(err.get("Message") or "")[:200]
        status = (exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        if code in THROTTLED or (status or 0) >= 500 or status == 429:
            return TransientError(f"channel {name}: {what} said {code or status}: {message}")
        if code in CREDENTIALS:
            return PermanentError(f"channel {name}: {what} refused the credentials ({code}): "
                                  "update the AWS access key", status)
        if code in ("AccessDenied", "AccessDeniedException", "AllAccessDisabled"):
            return PermanentError(f"channel {name}: {what} denied access ({code}): give the "
                                  "credentials' policy the rights docs/channels.md lists", status)
        return PermanentError(f"channel {name}: {what} refused it ({code}: {message})", status)
    if isinstance(exc, bex.BotoCoreError):
        return TransientError(f"channel {name}: {what}: {type(exc).__name__}")
    return TransientError(f"channel {name}: {what}: {type(exc).__name__}")
