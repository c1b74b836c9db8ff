"""Marks around the values a notify template interpolates, so each channel can escape what a
student wrote (``{{ ticket.title }}``) for its own markup and keep what the admin wrote.

A notify text is rendered before its destination is known. While rendering it, every
``{{ … }}`` value is wrapped in ``OPEN`` … ``CLOSE`` (two private-use characters, which are
removed from the value first, so no student can forge a mark); the channel then calls
``escape_marked(text, escape)`` with its markup's escape function (``channels/markup.py``).
Standard library only.
"""
from __future__ import annotations

from typing import Any, Callable

OPEN, CLOSE = "\ue000", "\ue001"


def mark(value: Any) -> str:
    text = "" if value is None else str(value)
    return OPEN + text.replace(OPEN, "").replace(CLOSE, "") + CLOSE


def escape_marked(text: str, escape: Callable[[str], str],
                  literal: Callable[[str], str] = lambda s: s) -> str:
    """``escape`` the marked spans, ``literal`` the rest; the marks are dropped. A span cut
    open by truncation is escaped to the end."""
    out, pos = [], 0
    while True:
        start = text.find(OPEN, pos)
        if start < 0:
            out.append(literal(text[pos:].replace(CLOSE, "")))
            return "".join(out)
        out.append(literal(text[pos:start].replace(CLOSE, "")))
        end = text.find(CLOSE, start + 1)
        end = len(text) if end < 0 else end
        out.append(escape(text[start + 1:end].replace(OPEN, "")))
        pos = end + 1


def unmark(text: Any) -> Any:
    """The text without marks (for destinations without markup: logs, plain text)."""
    if not isinstance(text, str):
        return text
    return text.replace(OPEN, "").replace(CLOSE, "")
