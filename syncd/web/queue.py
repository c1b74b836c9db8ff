"""``/tickets``: the queue, and ``/tickets/<id>``: one ticket with its history. Read-only:
acting on a ticket stays in the forum, where every link leads."""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from flask import render_template, request

from syncd.core.alerts import PRIORITIES
from syncd.core.sla_state import STATES, due_rank
from syncd.store import categories
from syncd.store import tickets as ticketstore
from syncd.store.db import rows
from syncd.web import blueprint, slas, state
from syncd.web.pages import error_page, local_time, signed_in

LIMIT = 200
STATUSES = {"unresolved": ("open", "answered"), "open": ("open",), "answered": ("answered",),
            "resolved": ("resolved",), "closed": ("closed",), "all": ()}
SORTS = {"newest": "COALESCE(created_at, first_seen_at) DESC, id DESC",
         "urgent": "CASE priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2 "
                   "ELSE 3 END, COALESCE(created_at, first_seen_at) ASC, id ASC",
         "sla": "COALESCE(created_at, first_seen_at) ASC, id ASC"}   # then by SLA due time
SLA_STATES = ("any", *STATES)     # any, breaching, due_soon, on_track, none


def _filters() -> dict[str, str]:
    args = request.args
    status = args.get("status") if args.get("status") in STATUSES else "unresolved"
    priority = args.get("priority") if args.get("priority") in PRIORITIES else ""
    sort = args.get("sort") if args.get("sort") in SORTS else "newest"
    sla_state = args.get("sla") if args.get("sla") in SLA_STATES else "any"
    page = args.get("page", "1")
    return {"status": status, "priority": priority, "sort": sort, "sla": sla_state,
            "category": (args.get("category") or "").strip(),
            "page": int(page) if page.isdigit() and 0 < int(page) < 10_000 else 1}


def find(conn, f: dict[str, str], by_slug: dict[str, int], settings: Any = None,
         now: Any = None) -> list[dict[str, Any]]:
    """One page of the queue (and one more row, to tell a next page), SLA-annotated when
    ``settings`` is given. An SLA state filter or order reads every match: the state is
    computed from each ticket's clocks, not stored."""
    by_sla = f.get("sla", "any") != "any" or f["sort"] == "sla"
    sql, params = ("SELECT id, title, url, category_id, tags, status, priority, author, "
                   "created_at, first_seen_at FROM tickets WHERE deleted = 0"), []
    if f.get("sla") in ("breaching", "due_soon", "on_track"):
        sql += " AND id IN (SELECT ticket_id FROM ticket_slas)"
    wanted = STATUSES[f["status"]]
    if wanted:
        sql += f" AND status IN ({','.join('?' * len(wanted))})"
        params += list(wanted)
    if f["priority"]:
        sql += " AND priority = ?"
        params.append(f["priority"])
    if f["category"]:
        cid = by_slug.get(f["category"])
        if cid is None and f["category"].isdigit():
            cid = int(f["category"])
        sql += " AND category_id = ?"
        params.append(cid if cid is not None else -1)
    sql += f" ORDER BY {SORTS[f['sort']]}"
    start = (f["page"] - 1) * LIMIT
    if not by_sla:
        found = rows(conn, sql + f" LIMIT {LIMIT + 1} OFFSET {start}", params)
        return slas.annotate(conn, settings, found, now) if settings is not None else found
    found = slas.annotate(conn, settings, rows(conn, sql, params), now)
    if f["sla"] != "any":
        found = [t for t in found if t["sla_state"] == f["sla"]]
    if f["sort"] == "sla":
        found.sort(key=lambda t: due_rank(t["sla"]))     # stable: oldest first within a tie
    return found[start:start + LIMIT + 1]


@blueprint.get("/tickets")
@signed_in
def queue():
    st = state()
    conn = st.store.db().conn
    cmap = categories.load(conn, st.settings.discourse.category_map)
    f = _filters()
    found = find(conn, f, dict(cmap.by_slug), st.settings, st.clock())
    by_id = cmap.by_id
    for t in found:
        t["tags"] = json.loads(t["tags"] or "[]")
        t["category"] = by_id.get(t["category_id"], t["category_id"])
        t["opened"] = local_time(t["created_at"] or t["first_seen_at"], st.settings.tz)
    shown_categories = sorted(set(cmap.by_slug) | {str(c) for c in st.settings.discourse.categories
                                                   if isinstance(c, str)})
    keep = {k: v for k, v in f.items() if k != "page" and v and not (k == "sla" and v == "any")}
    pages = {"next": urlencode({**keep, "page": f["page"] + 1}) if len(found) > LIMIT else None,
             "prev": urlencode({**keep, "page": f["page"] - 1}) if f["page"] > 1 else None}
    return render_template("tickets.html", tickets=found[:LIMIT], more=len(found) > LIMIT,
                           f=f, statuses=list(STATUSES), priorities=PRIORITIES,
                           categories=shown_categories, sorts=list(SORTS), limit=LIMIT,
                           sla_states=STATES, sla_on=bool(st.settings.slas),
                           pages=pages, first=(f["page"] - 1) * LIMIT + 1)


def _detail(entry: dict[str, Any]) -> str:
    d = {k: v for k, v in (entry.get("detail") or {}).items() if v not in (None, "", [], {})}
    return ", ".join(f"{k}: {v}" for k, v in d.items())


@blueprint.get("/tickets/<int:ticket_id>")
@signed_in
def ticket(ticket_id: int):
    st = state()
    conn = st.store.db().conn
    found = ticketstore.load(conn, ticket_id)
    if found is None:
        return error_page(404, "No such ticket", f"syncd has no ticket #{ticket_id}.")
    cmap = categories.load(conn, st.settings.discourse.category_map)
    tz = st.settings.tz
    history = ticketstore.history(conn, ticket_id)
    for h in history:
        h["when"], h["summary"] = local_time(h["at"], tz), _detail(h)
    actions = rows(conn, "SELECT id, kind, rule, status, attempts, last_error, created_at, "
                   "sent_at, json_extract(params, '$.channel') AS channel, "
                   "json_extract(params, '$.username') AS username FROM outbox "
                   "WHERE ticket_id = ? ORDER BY id", (ticket_id,))
    for a in actions:
        a["to"] = (f"@{a['username']}" if str(a["channel"] or "").startswith("person:")
                   else a["channel"] or ("Discourse" if a["kind"] != "notify" else ""))
        a["when"] = local_time(a["created_at"], tz)
        a["sent"] = local_time(a["sent_at"], tz)
    fired = [h for h in history if h["kind"] == "rule"]
    now = st.clock()
    snap = slas.annotate(conn, st.settings, [{"id": ticket_id}], now)[0]
    return render_template("ticket.html", t=found, category=cmap.by_id.get(found.category_id),
                           history=history, actions=actions, fired=fired, sla=snap,
                           sla_rows=slas.rows_for_page(snap["sla"], st.settings, now),
                           sla_lines=slas.summary(snap["sla"], st.settings, now),
                           opened=local_time(found.created_at, tz))
