"""Holding notifications back: a channel's quiet hours and its digest. Pure.

``Hold.plan(priority, now)`` says whether a notification waits, and until when:

- ``digest``: its priority is below ``digest.below``: it waits for the next digest time and
  goes out in one digest card with the others held for that time;
- ``quiet``: the channel's quiet-hours calendar is closed and the notification is not
  urgent: it waits until the calendar opens.

Urgent notifications are never held by quiet hours (a digest below ``urgent`` may still
collect them if the admin asks for it).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from syncd.core.calendar import Calendar
from syncd.core.schedule import Schedule
from syncd.core.tickets import PRIORITIES

_RANK = {p: i for i, p in enumerate(PRIORITIES)}


@dataclass(frozen=True)
class Hold:
    quiet: Calendar | None = None
    digest_below: str | None = None
    digest_at: Schedule | None = None

    def plan(self, priority: str | None, now: datetime) -> tuple[str, datetime] | None:
        rank = _RANK.get(priority or "normal", 1)
        if self.digest_at is not None and self.digest_below and rank < _RANK[self.digest_below]:
            return "digest", self.digest_at.next_after(now)
        if self.quiet is not None and priority != "urgent" and not self.quiet.is_open(now):
            return "quiet", self.quiet.next_open(now)
        return None
