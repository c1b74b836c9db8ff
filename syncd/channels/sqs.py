"""Amazon SQS: one JSON message a notification onto the queue for the ticket's priority
(``<queue_prefix><priority>``, ``.fifo`` added for FIFO queues), created when missing.

- FIFO (``fifo: true``): ``MessageGroupId`` is the ticket (its messages stay in order) and
  ``MessageDeduplicationId`` the action's key, so a resend after a crash within SQS's
  5-minute deduplication interval is dropped by SQS. After five minutes (an outage longer
  than that between send and commit) a consumer can see it twice: dedupe on
  ``data.action_id``.
- Standard queues are at-least-once anyway: consumers dedupe on ``data.action_id``.
- The body is ``notice.document`` (``type``, ``timestamp``, ``data``), at most 256 KiB:
  a longer ticket body is cut.
- Only ``QueueDoesNotExist`` makes a queue; every other error is sorted as ``aws.classify``
  says (no bare ``except``).
"""
from __future__ import annotations

import json
import threading
from typing import Any

from syncd.channels import aws, checks, register
from syncd.channels.notice import document
from syncd.channels.transport import MAX_INLINE_WAIT, PACE
from syncd.errors import PermanentError, TransientError
from syncd.outbox.pacing import TokenBucket

MAX_BYTES = 256 * 1024
MISSING = ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")


def queue_name(prefix: str, priority: str, fifo: bool) -> str:
    return f"{prefix}{priority}{'.fifo' if fifo else ''}"


def body(action: Any, channel: str) -> str:
    doc = document(action, channel)
    text = json.dumps(doc, sort_keys=True, ensure_ascii=False, default=str)
    if len(text.encode()) > MAX_BYTES:
        ticket = dict(doc["data"]["ticket"])
        ticket["body"] = str(ticket.get("body") or "")[:2000] + "…"
        doc["data"] = {**doc["data"], "ticket": ticket, "cut": True}
        text = json.dumps(doc, sort_keys=True, ensure_ascii=False, default=str)
    return text


@register("sqs")
class SqsNotifier:
    """Sends notifications onto one queue a priority."""

    EXTRA, REQUIRES = "aws", ("boto3",)
    CONFIG = {
        **aws.CONFIG,
        "queue_prefix": (checks.text, "", "queues are named <prefix><priority>: tickets-urgent, …"),
        "fifo": (checks.flag, False, "FIFO queues (.fifo): order per ticket, 5-minute dedup"),
        "create_queues": (checks.flag, True, "create a priority's queue when it is missing"),
        "messages_per_minute": (lambda v: (isinstance(v, int) and v > 0) or "a whole number above 0",
                                18000, "at most this many sends a minute (FIFO: 300 a second)"),
    }

    @classmethod
    def is_configured(cls, channel: Any) -> bool:
        return bool(channel.options.get("queue_prefix"))

    def __init__(self, channel: Any, settings: Any, bucket: TokenBucket | None = None):
        self.channel, self.name, self.options = channel, channel.name, dict(channel.options)
        self.client = aws.AwsClient("sqs", self.options)
        self.bucket = bucket or TokenBucket(channel.messages_per_minute * PACE, capacity=10)
        self._urls: dict[str, str] = {}
        self._lock = threading.Lock()

    def _priority(self, action: Any) -> str:
        return str((action.params.get("ticket") or {}).get("priority") or "normal")

    def render(self, action: Any) -> dict[str, Any]:
        fifo = self.options["fifo"]
        out = {"queue": queue_name(self.options["queue_prefix"], self._priority(action), fifo),
               "body": json.loads(body(action, self.name))}
        if fifo:
            out.update(MessageGroupId=f"ticket-{action.ticket_id}", MessageDeduplicationId=action.key)
        return out

    def _queue_url(self, name: str) -> str:
        with self._lock:
            if name in self._urls:
                return self._urls[name]
        client = self.client.get()
        from botocore.exceptions import ClientError
        try:
            url = client.get_queue_url(QueueName=name)["QueueUrl"]
        except ClientError as exc:
            if (exc.response.get("Error") or {}).get("Code") not in MISSING:
                raise
            if not self.options["create_queues"]:
                raise PermanentError(f"channel {self.name}: queue {name} does not exist: create "
                                     "it, or set create_queues: true") from None
            attributes = {"FifoQueue": "true"} if self.options["fifo"] else {}
            url = client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        with self._lock:
            self._urls[name] = url
        return url

    def send(self, action: Any) -> dict[str, Any]:
        if self.bucket.acquire(max_wait=MAX_INLINE_WAIT) is None:
            raise TransientError(f"channel {self.name}: paced (rate limit)", self.bucket.wait_needed())
        rendered = self.render(action)
        try:
            url = self._queue_url(rendered["queue"])
            extra = {k: rendered[k] for k in ("MessageGroupId", "MessageDeduplicationId") if k in rendered}
            sent = self.client.get().send_message(QueueUrl=url, MessageBody=body(action, self.name), **extra)
        except (TransientError, PermanentError):
            raise
        except Exception as exc:
            raise aws.classify(self.name, exc, "SQS") from None
        return {"queue": rendered["queue"], "message_id": sent.get("MessageId")}

    def classify(self, exc: BaseException) -> Exception:
        return aws.classify(self.name, exc, "SQS")
