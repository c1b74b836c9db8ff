"""The gateway against a stand-in that behaves as Discourse's source says (not as syncd
expects): tags by version, should_notify as Rails reads it, paginated categories, unique
titles, the group messageable level, Api-Username case, busy topics, convert-to-public."""
from __future__ import annotations

import pytest

from standins.discourse import NOBODY, DiscourseStandIn
from standins.discourse_site import many
from syncd.config import load_settings
from syncd.discourse.gateway import DiscourseGateway
from syncd.errors import PermanentError
from syncd.outbox.pacing import TokenBucket
from syncd.outbox.queue import Action
from syncd.store.db import Store, transaction

OLD, NEW = "3.4.2", "2026.2.0-latest"


def _gateway(tmp_path, forum, api_username="system", groups="[support-team]"):
    path = tmp_path / "config.yaml"
    path.write_text(f"database: {tmp_path / 'syncd.db'}\nrules: {tmp_path / 'rules'}\n"
                    f"discourse:\n  url: {forum.base_url}\n  api_key: test-api-key\n"
                    f"  api_username: {api_username}\n  staff_groups: {groups}\n")
    settings = load_settings(str(path), env={})
    store = Store(settings.resolve(settings.database))
    gateway = DiscourseGateway(settings, TokenBucket(60000, capacity=100))
    gateway.store = store    # where the forum's version is remembered
    return gateway


def _action(kind, params, ticket_id=42, attempts=1, action_id=9,
            created_at="2000-01-01T00:00:00.000000Z"):
    return Action(id=action_id, ticket_id=ticket_id, kind=kind, params=params, rule="r",
                  delivery_id=None, attempts=attempts, created_at=created_at)


def _perform(gw, action, retrying=False, category=None):
    return gw.perform(action, lambda kind, value: None, retrying, category)


@pytest.mark.parametrize("version", [OLD, NEW])
def test_tags_go_as_names_before_2026_and_as_objects_after(tmp_path, version):
    """add/remove tags work on both versions: names on 3.x (objects are a 500 there), objects
    on 2026.x (no deprecated names); the version comes from /about.json and is remembered."""
    with DiscourseStandIn(version=version) as forum:
        forum.add_topic(42, tags=["printer", "wifi"])
        gw = _gateway(tmp_path, forum)
        _perform(gw, _action("add_tags", {"tags": ["Urgent"]}))
        _perform(gw, _action("remove_tags", {"tags": ["wifi"]}))
        assert [t["name"] for t in forum.topics[42]["tags"]] == ["printer", "urgent"]
        sent = [b["tags"] for m, p, b in forum.writes() if p == "/t/-/42.json"]
        kinds = {type(t) for tags in sent for t in tags}
        assert kinds == ({str} if version == OLD else {dict})
        assert forum.deprecations == []
        from syncd.store import site
        assert site.version(gw.store.db().conn) == version


@pytest.mark.parametrize("version", [OLD, NEW])
def test_removing_every_tag_clears_them_on_both_versions(tmp_path, version):
    """The last tag removed: names send [""] (Rails keeps the key), objects send []."""
    with DiscourseStandIn(version=version) as forum:
        forum.add_topic(42, tags=["printer"])
        gw = _gateway(tmp_path, forum)
        _perform(gw, _action("remove_tags", {"tags": ["printer"]}))
        assert forum.topics[42]["tags"] == []


def test_a_known_version_is_used_without_asking_about_json(tmp_path):
    """A version remembered from a delivery's User-Agent decides; /about.json is not called."""
    with DiscourseStandIn(version=OLD) as forum:
        forum.add_topic(42, tags=["printer"])
        gw = _gateway(tmp_path, forum)
        from syncd.store import site
        with transaction(gw.store.db()) as conn:
            site.remember_version(conn, OLD, "webhook User-Agent")
        _perform(gw, _action("add_tags", {"tags": ["urgent"]}))
        assert not [q for m, p, q, b in forum.log if p == "/about.json"]
        assert [t["name"] for t in forum.topics[42]["tags"]] == ["printer", "urgent"]


def test_staff_groups_are_invited_without_notifying_anyone(tmp_path):
    """invite-group sends should_notify as Rails reads it: the string "false", not JSON false
    (which is blank to Rails, and notifies every member)."""
    with DiscourseStandIn() as forum:
        forum.add_topic(42)
        gw = _gateway(tmp_path, forum, groups="[support-team, staff]")
        _perform(gw, _action("set_visibility", {"visibility": "private"}))
        assert forum.topics[42]["allowed_groups"] == ["support-team", "staff"]
        assert forum.notified == [(42, "support-team", False), (42, "staff", False)]


def test_invite_refused_by_the_groups_messageable_level_says_so(tmp_path):
    """A 403 because the group's "who can message" level excludes the API user names that
    setting, not the key's scope."""
    with DiscourseStandIn() as forum:
        forum.add_topic(42)
        forum.users["helpdesk"] = {"id": 9, "admin": True, "moderator": False, "trust_level": 4}
        forum.groups["support-team"] = NOBODY
        gw = _gateway(tmp_path, forum, api_username="helpdesk")
        with pytest.raises(PermanentError) as err:
            _perform(gw, _action("set_visibility", {"visibility": "private"}))
        text = str(err.value)
        assert err.value.status == 403
        assert "Who can message this group" in text and "'helpdesk'" in text
        assert "lacks the scope" not in text


def test_category_slugs_are_found_on_every_page_of_a_lazy_loaded_site(tmp_path):
    """/categories.json pages 20 top-level categories on lazy-loading sites: a slug on page 3
    and a sixth subcategory (beyond the 5 sent inline) are still found."""
    with DiscourseStandIn(lazy_categories=True) as forum:
        forum.categories += many(45)
        from standins.discourse_site import SiteCategory
        forum.categories += [SiteCategory(900 + i, f"faq-{i}", f"Old {i}", parent_category_id=10)
                             for i in range(6)]
        forum.add_topic(42)
        gw = _gateway(tmp_path, forum)
        assert gw.category_id("course-044") == 144
        assert gw.category_id("faq-5") == 905
        pages = [q for m, p, q, b in forum.log if p == "/categories.json"]
        assert len(pages) >= 4 and any("parent_category_id=10" in q for q in pages)


@pytest.mark.parametrize("title", ["FAQ: Printer reset", "How do I reset the printer"])
def test_faq_copy_gets_a_title_discourse_accepts(tmp_path, title):
    """Titles are unique among topics ignoring case: a copy whose title is taken (by the
    original itself, or an earlier FAQ) gets a new one instead of a 422 dead action."""
    with DiscourseStandIn() as forum:
        forum.add_topic(42, title=title)
        forum.add_topic(50, title="faq: how do i reset the printer", category_id=10)
        gw = _gateway(tmp_path, forum)
        result = _perform(gw, _action("promote_faq", {"category": "faq", "category_id": 10,
                                                       "mode": "copy", "title": title}))
        copy = forum.topics[result["topic_id"]]
        assert copy["category_id"] == 10 and copy["title"].lower().startswith("faq")
        titles = [t["title"].lower() for t in forum.topics.values()]
        assert len(titles) == len(set(titles))


def test_a_retried_reply_finds_its_marker_whatever_the_case_of_api_username(tmp_path):
    """Api-Username "System" acts as the user "system" (Discourse matches it ignoring case):
    a retry finds the earlier post and does not post twice."""
    with DiscourseStandIn() as forum:
        forum.add_topic(42)
        gw = _gateway(tmp_path, forum, api_username="System")
        action = _action("reply", {"raw": "We are on it."})
        _perform(gw, action)
        again = _perform(gw, _action("reply", {"raw": "We are on it."}, attempts=2), retrying=True)
        assert again["already_posted"] is True
        assert len(forum.replies(42, "system")) == 1


def test_a_retried_reply_finds_its_marker_in_a_busy_topic(tmp_path):
    """Thirty posts after syncd's reply (beyond the last 20): the retry still finds it."""
    with DiscourseStandIn() as forum:
        forum.add_topic(42)
        gw = _gateway(tmp_path, forum)
        _perform(gw, _action("reply", {"raw": "We are on it."}))
        forum.add_posts(42, 30)
        again = _perform(gw, _action("reply", {"raw": "We are on it."}, attempts=2), retrying=True)
        assert again["already_posted"] is True
        assert len(forum.replies(42)) == 1


def test_a_retry_stops_looking_at_posts_older_than_its_action(tmp_path):
    """The search for a marker goes back only to the action's creation (less clock skew)."""
    with DiscourseStandIn() as forum:
        forum.add_topic(42)
        forum.add_posts(42, 60)
        gw = _gateway(tmp_path, forum)
        _perform(gw, _action("reply", {"raw": "Hi"}, attempts=2, created_at="2999-01-01T00:00:00Z"),
                 retrying=True)
        fetched = [p for m, p, q, b in forum.log if p == "/t/42/posts.json"]
        assert len(fetched) <= 1 and len(forum.replies(42)) == 1


def test_back_to_public_reads_visible_back_and_lists_the_topic(tmp_path):
    """convert-topic/public leaves visible alone: an unlisted topic made private then public
    is listed again because syncd reads visible back instead of assuming it."""
    with DiscourseStandIn() as forum:
        forum.add_topic(42, visible=False)
        gw = _gateway(tmp_path, forum)
        _perform(gw, _action("set_visibility", {"visibility": "private"}))
        assert forum.topics[42]["archetype"] == "private_message"
        result = _perform(gw, _action("set_visibility", {"visibility": "public"}), category=5)
        assert forum.topics[42]["archetype"] == "regular" and forum.topics[42]["visible"] is True
        assert result["done"] == ["converted", "listed"]
