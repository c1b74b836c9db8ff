"""Reconcile against a forum that behaves as Discourse's source says: "Top" default views,
translated poster descriptions, paged likers, empty ticket categories, lazy-loaded
categories; on a pre-2026 version (tags as names) and a 2026 one (tag objects)."""
from __future__ import annotations

from dataclasses import replace

import pytest

from conftest import make_settings
from standins.discourse_catalog import Catalog
from syncd.discourse.reader import ApiReader
from syncd.discourse.reconcile import Reconciler
from syncd.processor import Processor
from syncd.service import prepare
from syncd.store import tickets as ticketstore

VERSIONS = ["3.4.2", "2026.2.0-latest"]


def _reconciler(tmp_path, forum, categories="[support]", category_map=None):
    s = make_settings(tmp_path, categories=categories)
    d = replace(s.discourse, url=forum.url, api_key="test-key", api_calls_per_minute=100_000,
                reconcile_share=1.0)
    if category_map is not None:
        d = replace(d, category_map=category_map)
    settings = replace(s, discourse=d)
    store, _ = prepare(settings)
    reader = ApiReader.from_settings(settings, sleep=lambda s: None)
    return Reconciler(settings, store, Processor(settings, store), reader), store


@pytest.mark.parametrize("version", VERSIONS)
def test_a_top_category_is_walked_by_latest_activity(tmp_path, version):
    """A category whose default view is "Top" lists by score on /c/{slug}/{id}.json: the
    incremental walk reads /l/latest instead and sees a bumped low-score topic and a new one."""
    with Catalog(version=version, limit_per_minute=100_000) as forum:
        forum.generate(90)
        forum.default_views[5] = "top"
        rec, store = _reconciler(tmp_path, forum)
        rec.sync()
        quiet = min(forum.topics.values(), key=lambda t: (t.like_count, len(t.posts), t.id))
        quiet.tags = ["escalated"]
        forum.reply(quiet.id, user_id=2)
        forum.add_topic(500, title="Projector flickers", tags=["av"])
        rec.sync()
        conn = store.db().conn
        assert ticketstore.load(conn, 500) is not None
        assert ticketstore.load(conn, 500).tags == ("av",)
        assert ticketstore.load(conn, quiet.id).tags == ("escalated",)
        assert all("/l/latest.json" in p for p in forum.log if p.startswith("/c/"))


@pytest.mark.parametrize("version", VERSIONS)
def test_the_author_is_posters_first_whatever_the_sites_language(tmp_path, version):
    """On a German forum the descriptions say "Ursprünglicher Verfasser": the creator is still
    found, as posters[0], even when someone else posted last."""
    with Catalog(version=version, locale="de", limit_per_minute=100_000) as forum:
        forum.add_topic(1, user_id=3, replies=2)
        forum.add_topic(2, user_id=4)
        rec, store = _reconciler(tmp_path, forum)
        rec.sync(full=True)
        conn = store.db().conn
        assert ticketstore.load(conn, 1).author == "alice"
        assert ticketstore.load(conn, 2).author == "carol"


@pytest.mark.parametrize("likes", [150, 450])
def test_every_liker_is_read_across_pages(tmp_path, likes):
    """/post_action_users.json pages 200 likers: all are read, whether or not Discourse sends
    total_rows_post_action_users (only above one page)."""
    with Catalog(limit_per_minute=100_000) as forum:
        forum.add_topic(1, likes=likes)
        rec, store = _reconciler(tmp_path, forum)
        rec.sync(full=True)
        ticket = ticketstore.load(store.db().conn, 1)
        assert ticket.likes == likes
        assert ticket.likers == frozenset(forum.topics[1].posts[0].likers)


@pytest.mark.parametrize("version", VERSIONS)
def test_an_empty_ticket_category_does_not_make_every_sync_a_full_walk(tmp_path, version):
    """100 topics in support, none yet in grades: the sync after the full one reads one page
    a list; a first topic in grades is then picked up incrementally."""
    with Catalog(categories={5: "support", 8: "grades"}, version=version,
                 limit_per_minute=100_000) as forum:
        forum.generate(100)
        rec, store = _reconciler(tmp_path, forum, "[support, grades]")
        rec.sync()
        before = rec.reader.calls
        walk = rec.sync()
        assert walk.mode == "incremental"
        assert rec.reader.calls - before == 2
        forum.add_topic(700, category_id=8, title="Marks missing")
        walk = rec.sync()
        assert walk.mode == "incremental"
        assert ticketstore.load(store.db().conn, 700).category_id == 8


def test_categories_beyond_the_sidebar_are_found_on_a_lazy_loading_site(tmp_path):
    """/site.json lists only the sidebar's categories when lazy loading applies: a ticket
    category outside the sidebar is still found (through /categories.json) and walked."""
    with Catalog(categories={5: "support", 12: "labs"}, lazy_categories=True,
                 limit_per_minute=100_000) as forum:
        forum.sidebar = [5]
        forum.add_topic(1, category_id=5)
        forum.add_topic(2, category_id=12, title="Oscilloscope broken")
        rec, store = _reconciler(tmp_path, forum, "[support, labs]", category_map={})
        rec.sync(full=True)
        conn = store.db().conn
        assert ticketstore.load(conn, 2) is not None
        assert ticketstore.load(conn, 2).category_id == 12


@pytest.mark.parametrize("locale", ["en", "de"])
def test_a_listed_topic_names_its_creator_in_any_language(locale):
    """The list entry's author is posters[0] (TopicPostersSummary), never found by the
    translated "Original Poster" text; the last poster (extras "latest") is not the author."""
    forum = Catalog(locale=locale)
    forum.add_topic(1, user_id=3)
    forum.reply(1, user_id=4)
    forum.reply(1, user_id=2)
    from syncd.core import drift
    [item] = drift.read_page(forum.topic_list(5, 0)).topics
    assert item.topic.author is not None
    assert (item.topic.author.id, item.topic.author.username) == (3, "alice")
