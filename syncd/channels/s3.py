"""Amazon S3 (or any S3 API): the ticket as one JSON document, written when a notification
arrives for a ticket in one of ``statuses`` (by default resolved or closed), at
``<prefix>YYYY/MM/<id>.json`` (the year and month the ticket was created), overwritten by
later notifications.

- Idempotent by construction: the same key, and the same content for the same action (the
  document holds no time of its own making), so a resend after a crash rewrites the same
  object.
- The document: the ticket's fields, its history (from syncd's database) and its posts
  when the action carries them.
- A notification for a ticket in another status writes nothing (the result says so): one
  rule ``notify: archive`` on every change is enough.
"""
from __future__ import annotations

import json
from typing import Any

from syncd.channels import aws, checks, register
from syncd.channels.transport import MAX_INLINE_WAIT, PACE
from syncd.clock import parse
from syncd.errors import PermanentError, TransientError
from syncd.outbox.pacing import TokenBucket

STATUSES = ("open", "answered", "resolved", "closed", "deleted")


def object_key(prefix: str, ticket: dict[str, Any]) -> str:
    at = ticket.get("created_at")
    moment = parse(at) if at else None
    folder = f"{moment:%Y/%m}" if moment else "undated"
    return f"{prefix}{folder}/{ticket.get('id')}.json"


def archive(action: Any, history: list[dict[str, Any]]) -> dict[str, Any]:
    ticket = action.params.get("ticket") or {}
    return {"ticket": ticket, "history": history, "posts": action.params.get("posts") or [],
            "event": action.params.get("event") or {}, "action_id": action.key,
            "format": "syncd.ticket/1"}


@register("s3")
class S3Notifier:
    """Writes ticket documents into one bucket."""

    EXTRA, REQUIRES = "aws", ("boto3",)
    CONFIG = {
        **aws.CONFIG,
        "bucket": (checks.text, "", "the bucket; empty: dry-run"),
        "prefix": (checks.text, "tickets/", "key prefix: <prefix>YYYY/MM/<id>.json"),
        "statuses": (checks.list_of(checks.choice(*STATUSES), allow_empty=False),
                     ["resolved", "closed"], "write the document when the ticket is in one of these"),
        "messages_per_minute": (lambda v: (isinstance(v, int) and v > 0) or "a whole number above 0",
                                3000, "at most this many writes a minute (S3: 3,500 a second a prefix)"),
    }

    @classmethod
    def is_configured(cls, channel: Any) -> bool:
        return bool(channel.options.get("bucket"))

    def __init__(self, channel: Any, settings: Any, bucket: TokenBucket | None = None):
        self.channel, self.name, self.options = channel, channel.name, dict(channel.options)
        self.client = aws.AwsClient("s3", self.options)
        self.bucket = bucket or TokenBucket(channel.messages_per_minute * PACE, capacity=10)
        self.memory: Any = None

    def attach(self, memory: Any) -> None:
        self.memory = memory

    def render(self, action: Any) -> dict[str, Any]:
        ticket = action.params.get("ticket") or {}
        return {"bucket": self.options["bucket"] or "(not set)",
                "key": object_key(self.options["prefix"], ticket),
                "writes": ticket.get("status") in self.options["statuses"]}

    def send(self, action: Any) -> dict[str, Any]:
        ticket = action.params.get("ticket") or {}
        key = object_key(self.options["prefix"], ticket)
        if not ticket.get("id") or action.params.get("digest") is not None or \
                action.params.get("summary") is not None:
            return {"skipped": "a digest or summary is not a ticket: nothing to archive"}
        if ticket.get("status") not in self.options["statuses"]:
            return {"skipped": f"ticket is {ticket.get('status')}, not "
                               f"{' or '.join(self.options['statuses'])}", "key": key}
        if self.bucket.acquire(max_wait=MAX_INLINE_WAIT) is None:
            raise TransientError(f"channel {self.name}: paced (rate limit)", self.bucket.wait_needed())
        history = self.memory.history(action.ticket_id) if self.memory else []
        data = json.dumps(archive(action, history), sort_keys=True, ensure_ascii=False,
                          default=str, indent=1).encode()
        try:
            put = self.client.get().put_object(Bucket=self.options["bucket"], Key=key, Body=data,
                                               ContentType="application/json; charset=utf-8")
        except Exception as exc:
            verdict = aws.classify(self.name, exc, "S3")
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code == "NoSuchBucket":
                verdict = PermanentError(f"channel {self.name}: bucket {self.options['bucket']} "
                                         "does not exist: create it or fix `bucket`", 404)
            raise verdict from None
        return {"bucket": self.options["bucket"], "key": key, "etag": put.get("ETag"),
                "bytes": len(data)}

    def classify(self, exc: BaseException) -> Exception:
        return aws.classify(self.name, exc, "S3")
