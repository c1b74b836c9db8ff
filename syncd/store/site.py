"""What syncd knows of the forum itself: its Discourse version, in the ``settings`` table.

The version is learnt from every delivery's ``User-Agent: Discourse/<version>`` (the
receiver stores the header with the delivery; the processor remembers it here inside the
delivery's own transaction, writing only when it changed) and from ``/about.json`` (at
start, and by the gateway when nothing is known yet). ``syncd check`` and ``/healthz``
show it; the gateway chooses the tag format by it (``core.version``).
"""
from __future__ import annotations

import json
import sqlite3
from typing import Any, Mapping

from syncd.clock import iso
from syncd.core import version as versions

VERSION_KEY = "discourse.version"


def version_info(conn: sqlite3.Connection) -> dict[str, Any] | None:
    """``{"version", "source", "at"}`` as last remembered, or None."""
    row = conn.execute("SELECT value FROM settings WHERE key = ?", (VERSION_KEY,)).fetchone()
    if not row:
        return None
    try:
        data = json.loads(row[0])
    except ValueError:
        return None
    return data if isinstance(data, dict) and data.get("version") else None


def version(conn: sqlite3.Connection) -> str | None:
    info = version_info(conn)
    return info["version"] if info else None


def remember_version(conn: sqlite3.Connection, value: str | None, source: str) -> bool:
    """Store the version if it is one and differs from what is known; True when written."""
    if not value or versions.parse(value) is None:
        return False
    if version(conn) == value:
        return False
    conn.execute("INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?) "
                 "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
                 "updated_at = excluded.updated_at",
                 (VERSION_KEY, json.dumps({"version": value, "source": source, "at": iso()}), iso()))
    return True


def note_user_agent(conn: sqlite3.Connection, headers: Mapping[str, str],
                    seen: dict[str, str] | None = None) -> str | None:
    """Remember the version a delivery's ``User-Agent`` names (``seen`` caches the last one,
    so an unchanged version costs no query)."""
    agent = next((v for k, v in headers.items() if k.lower() == "user-agent"), None)
    value = versions.from_user_agent(agent)
    if value is None:
        return None
    if seen is not None and seen.get("version") == value:
        return value
    remember_version(conn, value, "webhook User-Agent")
    if seen is not None:
        seen["version"] = value
    return value


def describe(info: Mapping[str, Any] | None) -> str:
    """One line for ``syncd check``."""
    if not info:
        return ("discourse version: unknown yet (learnt from the first delivery's User-Agent "
                "or /about.json)")
    tags = "tag objects" if versions.tag_objects(info["version"]) else "tag names"
    return (f"discourse version: {info['version']} (from {info.get('source')}, "
            f"{info.get('at')}; tags sent as {tags})")
