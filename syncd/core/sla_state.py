"""A ticket's SLA state in one word, for the queue's filter. Pure, standard library only.

From an SLA snapshot (``core.sla.snapshot``):

- ``breaching``: a target ran past its due time and is not met;
- ``due_soon``: not breaching, and a running target has used its policy's ``warn_at`` share
  (80 % when the policy has none): the point where ``sla_warning`` fires;
- ``on_track``: it has SLA clocks and neither of the above (paused, running early, or met);
- ``none``: no SLA policy applies (no clocks, or its policy is no longer configured).
"""
from __future__ import annotations

from typing import Any, Mapping

STATES = {"breaching": "breaching", "due_soon": "due soon", "on_track": "on track",
          "none": "no SLA"}
DEFAULT_WARN = 0.8


def state_of(snap: Mapping[str, Any] | None, warn_at: float | None = DEFAULT_WARN) -> str:
    targets = (snap or {}).get("targets") or {}
    if not targets:
        return "none"
    if any(t["status"] == "breached" for t in targets.values()):
        return "breaching"
    share = warn_at if warn_at else DEFAULT_WARN
    for t in targets.values():
        if t["status"] == "running" and t["elapsed_seconds"] >= share * t["target_seconds"]:
            return "due_soon"
    return "on_track"


def next_due(snap: Mapping[str, Any] | None) -> tuple[str, str] | None:
    """The open target due first and its due time: ``("first_response", "2026-…Z")``."""
    open_ = [(t["due_at"], name) for name, t in ((snap or {}).get("targets") or {}).items()
             if t["status"] in ("running", "breached") and t.get("due_at")]
    if not open_:
        return None
    due_at, name = min(open_)
    return name, due_at


def due_rank(snap: Mapping[str, Any] | None) -> tuple[int, str]:
    """Sort key: tickets with an open target first, soonest (or most overdue) due first."""
    found = next_due(snap)
    return (0, found[1]) if found else (1, "")
