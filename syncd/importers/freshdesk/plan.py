"""What an import run shares: where things go (``Plan``), what it did (``Tally``), and
how it gives up (``ImportAborted``, after ``NETWORK_TRIES`` look-ups and retries)."""
from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

from syncd.clock import iso
from syncd.errors import SyncdError
from syncd.importers.freshdesk import mapping

NETWORK_TRIES = 8          # a create failing on the network: looked up and tried again
BACKOFF_MAX = 60.0


class ImportAborted(SyncdError):
    """The run cannot go on (Discourse unreachable for minutes, the key refused)."""


@dataclass
class Tally:
    """What a run did, by kind (``user``, ``topic``, ``post``, ``close``, ``member``)."""

    created: Counter = field(default_factory=Counter)
    found: Counter = field(default_factory=Counter)      # in flight before: looked up, existed
    skipped: Counter = field(default_factory=Counter)    # done before, or not importable
    failed: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, what: str, kind: str, reason: str | None = None) -> None:
        with self.lock:
            getattr(self, what)[kind] += 1
            if reason and what == "failed":
                self.reasons[f"{kind}: {reason[:160]}"] += 1

    @property
    def processed(self) -> int:
        return sum(self.created.values()) + sum(self.found.values()) + sum(
            self.skipped.values()) + sum(self.failed.values())


@dataclass
class Plan:
    """Where things go, read in preflight."""

    limits: mapping.SiteLimits = field(default_factory=mapping.SiteLimits)
    category_id: int | None = None
    group_categories: dict[str, int] = field(default_factory=dict)   # Freshdesk group id → category
    staff_group_id: int | None = None
    staff_group: str | None = None
    base_url: str = ""
    agents_whisper: bool = True     # the staff group is in whispers_allowed_groups


def now() -> str:
    return iso()
