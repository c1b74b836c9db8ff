"""Reading categories and staff group members from Discourse (responses fakes the API)."""
from __future__ import annotations

import responses
from responses import matchers

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
    """Every page of /categories.json, the version and every page of each staff group's
    members are remembered."""
    settings = online(make_settings(tmp_path))
    store, _ = prepare(settings)
    base = "https://forum.example.com"
    for page, cats in ((1, [{"id": 5, "slug": "support"}]), (2, [{"id": 12, "slug": "exams"}]),
                       (3, [])):
        responses.get(f"{base}/categories.json", json={"category_list": {"categories": cats}},
                      content_type=JSON, match=[matchers.query_param_matcher(
                          {"page": str(page), "include_subcategories": "true"})])
    responses.get(f"{base}/about.json", json={"about": {"version": "3.4.2"}}, content_type=JSON)
    responses.get(f"{base}/groups/support-team/members.json",
                  json={"members": [member(i) for i in range(50)],
                        "meta": {"total": 60, "limit": 50, "offset": 0}}, content_type=JSON)
    responses.get(f"{base}/groups/support-team/members.json",
                  json={"members": [member(i) for i in range(50, 60)],
                        "meta": {"total": 60, "limit": 50, "offset": 50}}, content_type=JSON)
    directory.refresh(settings, store)
    conn = store.db().conn
    assert categories.load(conn).by_slug["exams"] == 12
    from syncd.store import site
    assert site.version(conn) == "3.4.2"
    assert conn.execute("SELECT COUNT(*) FROM staff_members").fetchone()[0] == 60
    assert "offset=50" in responses.calls[-1].request.url


@responses.activate
def test_refresh_survives_a_forum_that_is_down(tmp_path):
    """Discourse answering 502 leaves the cached map in place and does not raise."""
    settings = online(make_settings(tmp_path))
    store, _ = prepare(settings)
    responses.get("https://forum.example.com/categories.json", status=502, body="bad gateway")
    directory.refresh(settings, store)
    assert categories.load(store.db().conn).by_slug["support"] == 5


def test_dry_run_reads_nothing(tmp_path):
    """Without a Discourse URL nothing is read (and no network is touched)."""
    settings = make_settings(tmp_path)
    store, _ = prepare(settings)
    directory.refresh(settings, store, client=object())
    with transaction(store.db()) as conn:
        assert conn.execute("SELECT COUNT(*) FROM staff_members").fetchone()[0] == 0


def test_refresh_finds_categories_a_lazy_loading_site_leaves_out_of_site_json(tmp_path):
    """On a site that lazy-loads categories /site.json has only the sidebar's: the category
    map is read from /categories.json instead, all of it."""
    from dataclasses import replace
    from standins.discourse import DiscourseStandIn
    from standins.discourse_site import many
    with DiscourseStandIn(lazy_categories=True) as forum:
        forum.categories += many(30)
        forum.sidebar = [5]
        s = online(make_settings(tmp_path), forum.base_url)
        settings = replace(s, discourse=replace(s.discourse, api_key="test-api-key"))
        store, _ = prepare(settings)
        directory.refresh(settings, store)
        by_slug = categories.load(store.db().conn).by_slug
        assert by_slug["course-029"] == 129 and by_slug["faq-archive"] == 11
