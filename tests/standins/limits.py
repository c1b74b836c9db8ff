"""A rolling-window request limit, as the stand-ins' services enforce theirs."""
from __future__ import annotations

import time
from collections import deque


class RollingLimit:
    """At most ``limit`` hits in any ``window`` seconds; ``hit()`` is False past it."""

    def __init__(self, limit: int, window: float):
        self.limit, self.window = limit, window
        self.stamps: deque[float] = deque()
        self.refused = 0

    def hit(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        while self.stamps and self.stamps[0] <= now - self.window:
            self.stamps.popleft()
        if len(self.stamps) >= self.limit:
            self.refused += 1
            return False
        self.stamps.append(now)
        return True

    def wait(self, now: float | None = None) -> float:
        """Seconds until a hit would be allowed again."""
        now = time.monotonic() if now is None else now
        if len(self.stamps) < self.limit:
            return 0.0
        return max(0.0, self.stamps[0] + self.window - now)
