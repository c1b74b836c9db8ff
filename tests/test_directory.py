"""Reading categories and staff group members from Discourse (responses fakes the API)."""
from __future__ import annotations

import responses

from syncd.store import categories
from syncd.discourse import directory
from syncd.service import prepare
from syncd.store.db import transaction

from conftest import make_settings, online

JSON = "application/json; charset=utf-8"


def member(i):
    return {"id": i, "username": f"staff{i}", "name": None, "avatar_template": "/a/{size}.png",
            "title": None, "last_posted_at": "2026-01-01T00:00:00.000Z",
            "last_seen_at": "2026-01-01T00:00:00.000Z", "added_at": "2026-01-01T00:00:00.000Z",
            "timezone": "UTC"}


@responses.activate
def test_refresh_learns_categories_and_paged_staff_members(tmp_path):
    """Site categories and every page of each staff group's members are remembered."""
    settings = online(make_settings(tmp_path))
    store, _ = prepare(settings)
    base = "https://forum.example.com"
    responses.get(f"{base}/site.json", json={"categories": [
        {"id": 5, "slug": "support"}, {"id": 12, "slug": "exams"}]}, content_type=JSON)
    responses.get(f"{base}/groups/support-team/members.json",
                  json={"members": [member(i) for i in range(50)],
                        "meta": {"total": 60, "limit": 50, "offset": 0}}, content_type=JSON)
    responses.get(f"{base}/groups/support-team/members.json",
                  json={"members": [member(i) for i in range(50, 60)],
                        "meta": {"total": 60, "limit": 50, "offset": 50}}, content_type=JSON)
    directory.refresh(settings, store)
    conn = store.db().conn
    assert categories.load(conn).by_slug["exams"] == 12
    assert conn.execute("SELECT COUNT(*) FROM staff_members").fetchone()[0] == 60
    assert "offset=50" in responses.calls[-1].request.url


@responses.activate
def test_refresh_survives_a_forum_that_is_down(tmp_path):
    """Discourse answering 502 leaves the cached map in place and does not raise."""
    settings = online(make_settings(tmp_path))
    store, _ = prepare(settings)
    responses.get("https://forum.example.com/site.json", status=502, body="bad gateway")
    directory.refresh(settings, store)
    assert categories.load(store.db().conn).by_slug["support"] == 5


def test_dry_run_reads_nothing(tmp_path):
    """Without a Discourse URL nothing is read (and no network is touched)."""
    settings = make_settings(tmp_path)
    store, _ = prepare(settings)
    directory.refresh(settings, store, client=object())
    with transaction(store.db()) as conn:
        assert conn.execute("SELECT COUNT(*) FROM staff_members").fetchone()[0] == 0
