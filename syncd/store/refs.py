"""What a channel remembers per ticket (``channel_refs``): Slack's thread, Trello's card.

A channel gets a ``ChannelMemory`` bound to its name (``attach(memory)``); every ``put`` is
its own committed transaction, so a value written before a call survives a crash during it.
"""
from __future__ import annotations

import json
from typing import Any

from syncd.clock import iso
from syncd.store.db import Store, rows, transaction


def get(conn, channel: str, ticket_id: int, key: str) -> str | None:
    row = conn.execute("SELECT value FROM channel_refs WHERE channel = ? AND ticket_id = ? "
                       "AND key = ?", (channel, ticket_id, key)).fetchone()
    return row[0] if row else None


def put(conn, channel: str, ticket_id: int, key: str, value: str | None) -> None:
    if value is None:
        conn.execute("DELETE FROM channel_refs WHERE channel = ? AND ticket_id = ? AND key = ?",
                     (channel, ticket_id, key))
        return
    conn.execute("INSERT INTO channel_refs (channel, ticket_id, key, value, updated_at) "
                 "VALUES (?, ?, ?, ?, ?) ON CONFLICT(channel, ticket_id, key) DO UPDATE SET "
                 "value = excluded.value, updated_at = excluded.updated_at",
                 (channel, ticket_id, key, str(value), iso()))


class ChannelMemory:
    """One channel's per-ticket values, and read access to a ticket's history."""

    def __init__(self, store: Store, channel: str):
        self.store, self.channel = store, channel

    def get(self, ticket_id: int, key: str) -> str | None:
        return get(self.store.db().conn, self.channel, ticket_id, key)

    def put(self, ticket_id: int, key: str, value: str | None) -> None:
        with transaction(self.store.db()) as conn:
            put(conn, self.channel, ticket_id, key, value)

    def history(self, ticket_id: int) -> list[dict[str, Any]]:
        """The ticket's history, oldest first (``at``, ``kind``, ``name``, ``source``, ``detail``)."""
        out = rows(self.store.db().conn, "SELECT at, kind, name, source, detail FROM "
                   "ticket_history WHERE ticket_id = ? ORDER BY id", (ticket_id,))
        for row in out:
            try:
                row["detail"] = json.loads(row["detail"] or "{}")
            except ValueError:
                pass
        return out
