"""Durations as the config and rules write them: ``10s``, ``30m``, ``4h``, ``2d``, ``1h30m``.

Pure. ``parse_duration`` returns seconds or raises ``ValueError`` with the valid form. In
business time a ``d`` is 24 hours of open time (write ``8h`` for one office day).
"""
from __future__ import annotations

import re

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
FORM = "a number and a unit (s, m, h, d), e.g. 10s, 30m, 4h, 2d or 1h30m"
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


def parse_duration(value: object) -> float:
    """``"1h30m"`` → 5400.0. Raises ValueError naming the valid form."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"{value!r} is not a duration: write {FORM}")
    text = value.strip().lower().replace(" ", "")
    pos, total = 0, 0.0
    for m in _PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * UNITS[m.group(2)]
        pos = m.end()
    if not text or pos != len(text) or total <= 0:
        raise ValueError(f"'{value}' is not a duration: write {FORM}")
    return total


def describe(seconds: float) -> str:
    """A short human form: ``2 h``, ``45 min``, ``1 h 30 min``, ``20 s``."""
    s = int(abs(seconds))
    if s < 60:
        return f"{s} s"
    h, m = divmod(s // 60, 60)
    if h >= 48 and m == 0 and h % 24 == 0:
        return f"{h // 24} d"
    if h and m:
        return f"{h} h {m} min"
    return f"{h} h" if h else f"{m} min"
