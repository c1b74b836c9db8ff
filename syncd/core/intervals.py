"""Plain durations as admins write them: ``90s``, ``30m``, ``24h``, ``2d``, ``1w``.

``parse_interval("24h") -> 86400.0``; anything else raises ``ValueError`` saying what is
accepted. Calendar-aware business time is not this module's job. Standard library only.
"""
from __future__ import annotations

import re

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_FORM = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
ACCEPTED = "a duration such as 90s, 30m, 24h, 2d or 1w"


def parse_interval(text: object) -> float:
    """Seconds in ``text`` (``0`` alone is allowed and means zero)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool) and text == 0:
        return 0.0
    match = _FORM.match(text) if isinstance(text, str) else None
    if match is None:
        if isinstance(text, str) and text.strip() == "0":
            return 0.0
        raise ValueError(f"{text!r} is not {ACCEPTED}")
    return float(match.group(1)) * UNITS[match.group(2)]
