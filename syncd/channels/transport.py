"""What the HTTP channel types share: a paced session per thread, answers sorted into
transient and permanent, and errors that never carry the URL (it often holds a token).

``HttpNotifier.post`` takes a token from the channel's bucket (``messages_per_minute``
times ``PACE``, one bucket for every worker), sends, turns a connection error into
``TransientError`` without its text (requests puts the URL in it) and pauses the bucket on
429 for as long as ``Retry-After`` says.
"""
from __future__ import annotations

import threading
from typing import Any

import requests

from syncd.channels.gchat import retry_after
from syncd.errors import PermanentError, TransientError
from syncd.outbox.pacing import TokenBucket

TIMEOUT_SECONDS = 15.0
MAX_INLINE_WAIT = 5.0          # a longer wait for a token goes back to the outbox
PACE = 0.98                    # just under the published limit: other senders share it
DEFAULT_RETRY_AFTER = 30.0


class HttpNotifier:
    """Base of the HTTP channel types: ``self.post(...)`` sends one paced request."""

    SERVICE = "the destination"

    def __init__(self, channel: Any, settings: Any, bucket: TokenBucket | None = None,
                 timeout: float = TIMEOUT_SECONDS):
        self.channel, self.name, self.options = channel, channel.name, dict(channel.options)
        self.settings = settings
        self.bucket = bucket or TokenBucket(channel.messages_per_minute * PACE, capacity=1)
        self.timeout = timeout
        self.memory: Any = None
        self._local = threading.local()

    def attach(self, memory: Any) -> None:
        self.memory = memory

    def session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def pace(self) -> None:
        if self.bucket.acquire(max_wait=MAX_INLINE_WAIT) is None:
            raise TransientError(f"channel {self.name}: paced (rate limit)", self.bucket.wait_needed())

    def post(self, url: str, **kw: Any) -> requests.Response:
        return self.request("POST", url, **kw)

    def request(self, method: str, url: str, **kw: Any) -> requests.Response:
        self.pace()
        kw.setdefault("timeout", self.timeout)
        try:
            response = self.session().request(method, url, **kw)
        except requests.RequestException as exc:  # its text holds the URL: never pass it on
            raise TransientError(f"channel {self.name}: cannot reach {self.SERVICE} "
                                 f"({type(exc).__name__})") from None
        if response.status_code == 429:
            self.bucket.pause(retry_after(response, DEFAULT_RETRY_AFTER) or 0)
        return response

    def transient_or_none(self, response: requests.Response, detail: str = "",
                          default_wait: float = DEFAULT_RETRY_AFTER) -> TransientError | None:
        """429, 408 and 5xx answers: worth trying again (after ``Retry-After``)."""
        status, said = response.status_code, f": {detail}" if detail else ""
        if status == 429:
            return TransientError(f"channel {self.name}: {self.SERVICE} rate limit (429){said}",
                                  retry_after(response, default_wait))
        if status >= 500 or status == 408:
            return TransientError(f"channel {self.name}: {self.SERVICE} answered {status}{said}",
                                  retry_after(response))
        return None

    def refused(self, status: int | None, reason: str) -> PermanentError:
        shown = f"{status}: " if status else ""
        return PermanentError(f"channel {self.name}: {shown}{reason}", status)


def body_text(response: requests.Response, limit: int = 300) -> str:
    """A short, printable piece of an answer's body, for an error message."""
    text = (response.text or "").strip().replace("\n", " ")
    return text[:limit]
