"""The Freshdesk API v2 catch-up (``--freshdesk-url``), against `responses`.

Shapes follow Freshdesk's API v2 (api/app/controllers/constants/api_constants.rb:
per_page 100 at most, MAX_PAGE_LIMIT 300; tickets list with updated_since,
order_by=updated_at, order_type=asc; conversations per ticket; basic auth key:X)."""
from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlparse

import responses

from syncd.importers.freshdesk import api as fdapi
from syncd.store.db import Store, transaction
from syncd.store import imports

URL = "https://acme.freshdesk.com"


def _ticket(tid: int, updated: str) -> dict:
    return {"id": tid, "subject": f"Ticket {tid} subject", "description": "<p>d</p>",
            "description_text": "d", "requester_id": 5, "status": 2, "priority": 1, "source": 2,
            "created_at": "2024-05-01T00:00:00Z", "updated_at": updated, "tags": ["x"]}


def test_walks_updated_since_ascending_and_restarts_at_the_page_limit(tmp_path, monkeypatch):
    """Past MAX_PAGES the walk restarts from the last updated_at, skipping what was yielded;
    notes come from conversations; a known display id maps to its imported ticket."""
    monkeypatch.setattr(fdapi, "PER_PAGE", 2)
    monkeypatch.setattr(fdapi, "MAX_PAGES", 2)
    store = Store(tmp_path / "s.db")
    with transaction(store.db()) as conn:
        imports.save_ticket(conn, 1001, "90001", "1", {})
    times = ["2024-06-01T00:00:0%dZ" % i for i in range(6)]
    pages = {  # (updated_since, page) -> tickets
        ("2024-06-01T00:00:00Z", "1"): [_ticket(1, times[0]), _ticket(2, times[1])],
        ("2024-06-01T00:00:00Z", "2"): [_ticket(3, times[2]), _ticket(4, times[3])],
        ("2024-06-01T00:00:03Z", "1"): [_ticket(4, times[3]), _ticket(5, times[4])],
        ("2024-06-01T00:00:03Z", "2"): [_ticket(6, times[5])],
    }
    seen_auth = []

    def tickets(request):
        q = parse_qs(urlparse(request.url).query)
        assert q["order_by"] == ["updated_at"] and q["order_type"] == ["asc"]
        seen_auth.append(request.headers["Authorization"])
        import json
        return 200, {}, json.dumps(pages[(q["updated_since"][0], q["page"][0])])

    with responses.RequestsMock() as rsps:
        rsps.add_callback(responses.GET, f"{URL}/api/v2/tickets", callback=tickets)
        for tid in range(1, 7):
            rsps.add(responses.GET, f"{URL}/api/v2/tickets/{tid}/conversations",
                     json=[{"id": tid * 10, "body": "<p>n</p>", "body_text": "n", "user_id": 9,
                            "private": tid == 1, "incoming": False,
                            "created_at": "2024-06-02T00:00:00Z"}])
        client = fdapi.FreshdeskApi(URL, "fd-key-not-real", store, sleep=lambda s: None)
        got = list(client.changed_tickets("2024-06-01T00:00:00.000000Z"))
    assert [t.display_id for t in got] == ["1", "2", "3", "4", "5", "6"]
    assert got[0].id == "90001" and got[1].id == "d2"
    assert got[0].notes[0].private and got[0].notes[0].id == "10"
    assert seen_auth[0] == "Basic " + base64.b64encode(b"fd-key-not-real:X").decode()


def test_a_429_is_waited_out(tmp_path):
    """Freshdesk's 429 Retry-After is slept, then the same page is read again."""
    store = Store(tmp_path / "s.db")
    slept = []
    with responses.RequestsMock() as rsps:
        rsps.add(responses.GET, f"{URL}/api/v2/tickets", status=429, headers={"Retry-After": "7"})
        rsps.add(responses.GET, f"{URL}/api/v2/tickets", json=[])
        client = fdapi.FreshdeskApi(URL, "k", store, sleep=slept.append)
        assert list(client.changed_tickets(None)) == []
    assert slept == [7.0]


def test_catch_up_adds_new_notes_to_imported_topics_and_new_tickets_once(tmp_path, monkeypatch):
    """--freshdesk-url: a ticket changed after the export gets its new note in its topic;
    a ticket created after it becomes a topic, by a contact made after the export (read
    from /api/v2/contacts/{id}); a second run adds nothing."""
    from standins.discourse_import import ImportDiscourseStandIn
    from test_import_e2e import KEY, config, run, small_export
    from syncd.importers.freshdesk.reader import ExportReader
    folder = small_export(tmp_path)
    old = next(t for t in ExportReader(folder).tickets() if t.status == 2)
    monkeypatch.setenv("FRESHDESK_API_KEY", "fd-key-not-real")
    changed = {**_ticket(int(old.display_id), "2025-01-01T00:00:00Z"), "requester_id": int(old.requester_id)}
    new = {**_ticket(555555, "2025-01-02T00:00:00Z"), "requester_id": 777}
    with ImportDiscourseStandIn(api_key=KEY) as forum, responses.RequestsMock() as rsps:
        rsps.add_passthru(forum.base_url)
        rsps.add(responses.GET, f"{URL}/api/v2/tickets", json=[changed, new])
        old_notes = [{"id": int(n.id), "body": n.body_html, "user_id": int(n.user_id or 0),
                      "private": n.private, "created_at": n.created_at} for n in old.notes]
        later = {"id": 4_000_001, "body": "<p>Any news on this one?</p>", "user_id": int(old.requester_id),
                 "private": False, "created_at": "2025-01-01T00:00:00Z"}
        rsps.add(responses.GET, f"{URL}/api/v2/tickets/{old.display_id}/conversations",
                 json=old_notes + [later])
        rsps.add(responses.GET, f"{URL}/api/v2/tickets/555555/conversations", json=[])
        rsps.add(responses.GET, f"{URL}/api/v2/contacts/777",
                 json={"id": 777, "name": "Late Comer", "email": "late@example.edu"})
        cfg = config(tmp_path, forum.base_url)
        for _ in range(2):
            out = run(cfg, "freshdesk", "--export", str(folder), "--set-site-settings",
                      "--calls-per-minute", "100000", "--freshdesk-url", URL)
            assert out.exit_code == 0, out.output
        got = forum.imported()
        late = next(t for t in forum.topics.values() if t["external_id"] == "fd-d555555")
        assert forum.posts[late["post_ids"][0]]["username"] == "Late_Comer"
    assert got["users"].count("late@example.edu") == 1
    assert got["notes"].count("4000001") == 1
    assert got["topics"].count("fd-d555555") == 1
    assert got["topics"].count(f"fd-{old.id}") == 1
    assert len(got["notes"]) == len(set(got["notes"]))
