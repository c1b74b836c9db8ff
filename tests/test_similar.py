"""Similar tickets: FTS5 index of title and first post, BM25, resolved only, privacy kept."""
from __future__ import annotations

import pytest

from syncd.store import similar
from syncd.store import tickets as ticketstore
from syncd.store.db import open_db
from syncd.core.tickets import Ticket


@pytest.fixture
def conn(tmp_path):
    return open_db(tmp_path / "x.db").conn


def put(conn, ticket: Ticket) -> Ticket:
    ticketstore.save(conn, ticket)
    similar.index(conn, ticket)
    return ticket


def resolved(id_, title, body="", **kw):
    return Ticket(id=id_, title=title, body=body, stage="resolved",
                  url=f"https://f.example/t/{id_}", **kw)


def test_finds_resolved_tickets_best_first(conn):
    """The most similar resolved tickets come first, with id, title and url."""
    put(conn, resolved(1, "Printer jams on duplex jobs", "grey roller torn"))
    put(conn, resolved(2, "Wifi drops in the library", "printer nearby"))
    put(conn, resolved(3, "Duplex printing jams the printer", "duplex tray jam"))
    new = put(conn, Ticket(id=10, title="Printer jam when printing duplex", body="jams"))
    found = similar.find(conn, new, 5)
    assert [f["id"] for f in found][:2] in ([1, 3], [3, 1]) and found[-1]["id"] == 2
    assert found[0]["url"].startswith("https://f.example/t/")


def test_only_resolved_and_never_itself(conn):
    """Open, closed and deleted tickets are not suggested, nor the ticket itself."""
    put(conn, Ticket(id=1, title="Printer jams", stage="open"))
    put(conn, Ticket(id=2, title="Printer jams", stage="resolved", closed=True))
    me = put(conn, resolved(3, "Printer jams"))
    assert similar.find(conn, me, 5) == []


def test_private_tickets_only_for_private_tickets(conn):
    """A private resolved ticket is suggested only when the ticket itself is private."""
    put(conn, resolved(1, "Grade missing for CS101", visibility="private"))
    put(conn, resolved(2, "Grade appeal for CS101"))
    public = Ticket(id=10, title="My CS101 grade is missing")
    private = Ticket(id=11, title="My CS101 grade is missing", visibility="private")
    assert [f["id"] for f in similar.find(conn, public, 5)] == [2]
    assert {f["id"] for f in similar.find(conn, private, 5)} == {1, 2}


def test_index_is_an_upsert(conn):
    """Indexing a ticket again replaces its text; a deleted ticket leaves the index."""
    put(conn, resolved(1, "Printer jams"))
    put(conn, resolved(1, "Projector flickers"))
    assert conn.execute("SELECT count(*) FROM ticket_search").fetchone()[0] == 1
    assert similar.find(conn, Ticket(id=9, title="printer"), 5) == []
    assert [f["id"] for f in similar.find(conn, Ticket(id=9, title="projector"), 5)] == [1]
    put(conn, resolved(1, "Projector flickers", deleted=True))
    assert conn.execute("SELECT count(*) FROM ticket_search").fetchone()[0] == 0


@pytest.mark.parametrize("title", [
    'printer" OR title:*', "NEAR(a b)", "printer AND NOT", "-printer ^col", "{title}: jams",
    "'; DROP TABLE tickets; --", "\"\"\"", "*", "",
])
def test_user_text_is_quoted_for_match(conn, title):
    """FTS5 syntax in a title is searched as words, never raises."""
    put(conn, resolved(1, "Printer jams"))
    found = similar.find(conn, Ticket(id=9, title=title), 5)
    assert found in ([], [{"id": 1, "title": "Printer jams", "url": "https://f.example/t/1"}])


def test_limit_and_stopwords(conn):
    """limit caps the answer; a title of only common words finds nothing."""
    for i in range(1, 6):
        put(conn, resolved(i, f"Printer jams {i}"))
    assert len(similar.find(conn, Ticket(id=9, title="printer"), 2)) == 2
    assert similar.find(conn, Ticket(id=9, title="How do I do this?"), 5) == []
