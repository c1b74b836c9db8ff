"""Similar tickets: an SQLite FTS5 index of ticket titles and first posts, ranked by BM25.

``index(conn, ticket)`` upserts a ticket (the processor calls it in its transaction after
each ticket write); ``find(conn, ticket, limit)`` returns the most similar *resolved*
tickets as ``[{id, title, url}]``, never the ticket itself, and private tickets only when
the ticket itself is private. User text is quoted term by term for the MATCH syntax.
"""
from __future__ import annotations

import re
import sqlite3

from syncd.core.tickets import Ticket

MAX_TERMS = 24
TITLE_WEIGHT, BODY_WEIGHT = 3.0, 1.0
_WORD = re.compile(r"\w+", re.UNICODE)
STOPWORDS = frozenset("""
a about after again all also am an and any are as at be been before being but by can cannot
could did do does doing don for from get got had has have having he her here hi hello his how
i if in into is it its just me my no not now of on once only or other our out over please
same she should so some still such than thank thanks that the their them then there these
they this those through to too under until up very was we were what when where which while
who why will with would you your
""".split())


def index(conn: sqlite3.Connection, ticket: Ticket) -> None:
    """Insert or replace the ticket's title and first post in the index."""
    conn.execute("DELETE FROM ticket_search WHERE rowid = ?", (ticket.id,))
    if ticket.deleted:
        return
    conn.execute("INSERT INTO ticket_search (rowid, title, body) VALUES (?, ?, ?)",
                 (ticket.id, ticket.title or "", ticket.body or ""))


def terms(text: str, limit: int = MAX_TERMS) -> list[str]:
    """Distinct meaningful words of ``text``, in order, at most ``limit``."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(text.lower()):
        if len(word) > 1 and word not in STOPWORDS and not word.isdigit():
            seen.setdefault(word, None)
        if len(seen) >= limit:
            break
    return list(seen)


def match_query(text: str) -> str:
    """An FTS5 MATCH expression: every term quoted (so no user text is syntax), OR-ed."""
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms(text))


def find(conn: sqlite3.Connection, ticket: Ticket, limit: int) -> list[dict]:
    """The ``limit`` resolved tickets most similar to ``ticket`` (best first)."""
    query = match_query(f"{ticket.title} {ticket.title} {ticket.body}")
    if not query or limit <= 0:
        return []
    sql = ("SELECT t.id, t.title, t.url FROM ticket_search "
           "JOIN tickets t ON t.id = ticket_search.rowid "
           "WHERE ticket_search MATCH ? AND t.status = 'resolved' AND t.id != ? "
           "AND (t.visibility != 'private' OR ?) "
           f"ORDER BY bm25(ticket_search, {TITLE_WEIGHT}, {BODY_WEIGHT}) LIMIT ?")
    rows = conn.execute(sql, (query, ticket.id, int(ticket.private), int(limit))).fetchall()
    return [{"id": r[0], "title": r[1], "url": r[2]} for r in rows]
