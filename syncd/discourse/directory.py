"""What syncd reads of the forum's directory at start: every category (``/categories.json``,
page by page), the forum's version (``/about.json``) and the members of the staff groups.
Runs in the background (never in the request path) when a Discourse URL is set; what it
learns is remembered in the database for offline use."""
from __future__ import annotations

import sqlite3

from syncd import logs
from syncd.discourse import categorylist
from syncd.store import categories, site
from syncd.clock import iso
from syncd.config import Settings
from syncd.store.db import Store, transaction

log = logs.get("syncd.directory")
PAGE = 50
MAX_PAGES = 200  # 10,000 members a group: a bound, not a limit anyone should meet


def client_for(settings: Settings):
    """A pydiscourse client with a timeout (its default waits forever)."""
    from pydiscourse import DiscourseClient
    d = settings.discourse
    return DiscourseClient(d.url, api_username=d.api_username, api_key=d.api_key,
                           timeout=d.timeout_seconds)


def group_members(client, group: str) -> list[str]:
    names: list[str] = []
    for page in range(MAX_PAGES):
        data = client._get(f"/groups/{group}/members.json", limit=PAGE, offset=page * PAGE) or {}
        members = data.get("members") or []
        names += [m["username"] for m in members if m.get("username")]
        total = (data.get("meta") or {}).get("total", 0)
        if not members or len(names) >= total:
            break
    return names


def remember_staff(conn: sqlite3.Connection, members: dict[str, list[str]]) -> int:
    now = iso()
    for group, names in members.items():
        conn.execute("DELETE FROM staff_members WHERE group_name = ?", (group,))
        conn.executemany("INSERT OR REPLACE INTO staff_members (username, group_name, updated_at) "
                         "VALUES (?, ?, ?)", [(n, group, now) for n in names])
    return sum(len(v) for v in members.values())


def refresh(settings: Settings, store: Store, client=None) -> None:
    """Read categories and staff members; log and carry on if Discourse cannot be reached."""
    if settings.discourse.dry_run:
        return
    client = client or client_for(settings)
    db = store.db()
    try:  # every call to Discourse happens before its short write transaction
        # every page of /categories.json: /site.json lists only the sidebar's categories
        # on a site that lazy-loads them (app/models/site.rb)
        pairs = categorylist.pairs(client._get)
        found = ((client._get("/about.json") or {}).get("about") or {}).get("version")
        with transaction(db) as conn:
            categories.refresh_from_discourse(conn, pairs)
            if site.remember_version(conn, found, "/about.json"):
                log.info("discourse_version", version=found, source="/about.json")
        members = {g: group_members(client, g) for g in settings.discourse.staff_groups}
        with transaction(db) as conn:
            count = remember_staff(conn, members)
        log.info("staff_members_refreshed", groups=list(members), members=count)
    except Exception as exc:  # the forum being down must not stop syncd from starting
        log.warning("directory_refresh_failed", error=str(exc),
                    hint="check discourse.url and the API key; cached values stay in use")
