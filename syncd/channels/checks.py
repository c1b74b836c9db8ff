"""Checks for channel types' ``CONFIG`` entries: each returns True or what the value must be
(the same convention as ``syncd.config``'s schema)."""
from __future__ import annotations

import re
from typing import Any, Callable

PRIORITIES = ("low", "normal", "high", "urgent")
Check = Callable[[Any], Any]
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


def text(v: Any) -> Any:
    return isinstance(v, str) or "a string"


def url(v: Any) -> Any:
    if not isinstance(v, str):
        return "a string"
    return v == "" or v.startswith(("http://", "https://")) or "an http(s) URL, or empty"


def flag(v: Any) -> Any:
    return isinstance(v, bool) or "true or false"


def port(v: Any) -> Any:
    return (isinstance(v, int) and not isinstance(v, bool) and 0 < v < 65536) or "a port number"


def seconds(v: Any) -> Any:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0
    return ok or "a number of seconds above 0"


def email(v: Any) -> Any:
    return (isinstance(v, str) and (v == "" or bool(_EMAIL.match(v)))) or "an email address"


def choice(*options: str) -> Check:
    return lambda v: v in options or "one of " + ", ".join(options)


def list_of(check: Check, allow_empty: bool = True) -> Check:
    def inner(v: Any) -> Any:
        if not isinstance(v, list) or (not v and not allow_empty):
            return "a list" if allow_empty else "a list of at least one"
        bad = [x for x in v if check(x) is not True]
        return not bad or f"a list whose items are {check(bad[0])}"
    return inner


def priority_map(what: str) -> Check:
    """A mapping from priorities (and optionally statuses) to ids: ``{urgent: ID, ...}``."""
    def inner(v: Any) -> Any:
        if not isinstance(v, dict):
            return f"a mapping of priority: {what} (urgent, high, normal, low)"
        bad = [k for k, i in v.items() if not isinstance(i, str) or not i]
        return not bad or f"a mapping of priority: {what} ('{bad[0]}' has no {what})"
    return inner
