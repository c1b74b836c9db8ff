"""A thread-safe token bucket: pace calls under a rate, and pause when the other side says so.

One bucket is shared by every worker that talks to one destination (Discourse's admin-API
budget, one chat space), so N workers together stay under the limit. ``acquire`` blocks for
short waits only; a long wait (a ``Retry-After`` of minutes) is reported back so that the
caller can give the action back to the outbox instead of holding a worker.
"""
from __future__ import annotations

import threading
import time
from typing import Callable


class TokenBucket:
    """``rate_per_minute`` tokens a minute, at most ``capacity`` saved up (the burst)."""

    def __init__(self, rate_per_minute: float, capacity: float = 1.0,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if rate_per_minute <= 0:
            raise ValueError("rate_per_minute must be above 0")
        self.rate = rate_per_minute / 60.0
        self.capacity = max(1.0, float(capacity))
        self._clock, self._sleep = clock, sleep
        self._tokens = self.capacity
        self._stamp = clock()
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def _refill(self, now: float) -> None:
        start = max(self._stamp, self._paused_until)  # nothing accrues while paused
        if now > start:
            self._tokens = min(self.capacity, self._tokens + (now - start) * self.rate)
        self._stamp = max(self._stamp, now)

    def _wait_for(self, tokens_after: float, now: float) -> float:
        wait = max(0.0, self._paused_until - now)
        if tokens_after < 0:
            wait += -tokens_after / self.rate
        return wait

    def wait_needed(self) -> float:
        """Seconds until a token is free (nothing taken)."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            return self._wait_for(self._tokens - 1.0, now)

    def acquire(self, max_wait: float = 10.0) -> float | None:
        """Take a token, sleeping until it is due. Returns the seconds waited, or ``None``
        (nothing taken) when the wait would be longer than ``max_wait``."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            wait = self._wait_for(self._tokens - 1.0, now)
            if wait > max_wait:
                return None
            self._tokens -= 1.0
        if wait > 0:
            self._sleep(wait)
        return wait

    def pause(self, seconds: float) -> None:
        """The other side answered 429: no calls for ``seconds``, then one, then the rate."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            self._paused_until = max(self._paused_until, now + max(0.0, seconds))
            self._tokens = min(self._tokens, 1.0)
