"""Time as syncd stores it: ISO-8601 UTC strings that sort as text."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso(moment: datetime | None = None) -> str:
    """``2026-03-02T09:14:07.512000Z``: fixed width, so text order is time order."""
    moment = moment or utcnow()
    if moment.tzinfo is not timezone.utc:
        moment = moment.astimezone(timezone.utc)
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse(text: str) -> datetime:
    """Read an ISO-8601 timestamp (Discourse's ``...512Z`` or ours)."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value


def later(seconds: float, moment: datetime | None = None) -> str:
    return iso((moment or utcnow()) + timedelta(seconds=seconds))
