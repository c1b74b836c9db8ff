"""Category slug ↔ id: config's ``category_map``, Discourse's site categories, remembered.

Topic payloads carry a category id; config and rules speak in slugs. The map is built from
``category_map`` first, then from Discourse (every page of ``GET /categories.json``: on a
site that lazy-loads categories ``/site.json`` lists only the sidebar's) when a URL is set, and is
kept in the ``categories`` table so dry-runs and ``syncd rules test`` work offline. Post
payloads carry ``category_slug`` beside ``category_id``: those teach the map too.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Iterable, Mapping

from syncd import logs
from syncd.clock import iso

log = logs.get("syncd.categories")


@dataclass(frozen=True)
class CategoryMap:
    by_slug: Mapping[str, int]

    @property
    def by_id(self) -> dict[int, str]:
        return {i: s for s, i in self.by_slug.items()}

    def ticket_ids(self, wanted: Iterable[str | int]) -> tuple[frozenset[int] | None, list[str]]:
        """The ids of the ticket categories (None: every category) and unresolved slugs."""
        wanted = list(wanted)
        if not wanted:
            return None, []
        ids, missing = set(), []
        for item in wanted:
            if isinstance(item, int) or (isinstance(item, str) and item.isdigit()):
                ids.add(int(item))
            elif item in self.by_slug:
                ids.add(self.by_slug[item])
            else:
                missing.append(item)
        return frozenset(ids), missing


def remember(conn: sqlite3.Connection, pairs: Mapping[str, int], source: str) -> int:
    """Upsert slug: id pairs; returns how many were new or changed."""
    changed = 0
    for slug, cat_id in pairs.items():
        row = conn.execute("SELECT slug FROM categories WHERE id = ?", (cat_id,)).fetchone()
        if row and row[0] == slug:
            continue
        conn.execute("INSERT INTO categories (id, slug, source, updated_at) VALUES (?, ?, ?, ?) "
                     "ON CONFLICT(id) DO UPDATE SET slug = excluded.slug, "
                     "source = excluded.source, updated_at = excluded.updated_at",
                     (int(cat_id), slug, source, iso()))
        changed += 1
    return changed


def load(conn: sqlite3.Connection, config_map: Mapping[str, int] | None = None) -> CategoryMap:
    """The remembered map, with config's pairs taking precedence."""
    found = {slug: cat_id for cat_id, slug in conn.execute("SELECT id, slug FROM categories")}
    found.update(config_map or {})
    return CategoryMap(found)


def refresh_from_discourse(conn: sqlite3.Connection, pairs: Mapping[str, int]) -> int:
    """Remember what ``discourse.categorylist.pairs`` read (every page of /categories.json)."""
    changed = remember(conn, pairs, "discourse")
    log.info("categories_refreshed", count=len(pairs), changed=changed)
    return changed
