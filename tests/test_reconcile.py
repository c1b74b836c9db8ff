"""Reconcile: Discourse's topic lists against the tickets, through the same state machine."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from syncd.store import tickets as ticketstore
from syncd.cli import main
from syncd.clock import utcnow
from syncd.errors import TransientError
from syncd.core.events import Topic
from syncd.processor import Processor
from syncd.discourse.reconcile import CHECKPOINT, Reconciler, make_worker
from syncd.discourse.reader import ApiReader
from syncd.core.drift import Listed, plan
from syncd.service import prepare
from syncd.store.db import get_setting, transaction
from syncd.core.tickets import Ticket

from conftest import make_settings
from standins.discourse_catalog import BASE_TIME, Catalog

ROOT = Path(__file__).resolve().parent.parent


class FakeTime:
    """A clock and a sleep that only move time forward, recording each sleep."""

    def __init__(self):
        self.now, self.sleeps = 1000.0, []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 3))
        self.now += seconds


@pytest.fixture(params=["3.4.2", "2026.2.0-latest"])
def forum(request):
    """The forum before the 2026 tag change (tags as names) and after (tag objects)."""
    with Catalog(categories={5: "support", 7: "hardware"}, limit_per_minute=100_000,
                 version=request.param) as c:
        yield c


def online(tmp_path, url, categories="[support, hardware]"):
    s = make_settings(tmp_path, categories=categories)
    return replace(s, discourse=replace(s.discourse, url=url, api_key="test-key",
                                        api_calls_per_minute=100_000, reconcile_share=1.0))


def reconciler(settings, fake=None):
    store, _ = prepare(settings)
    fake = fake or FakeTime()
    reader = ApiReader.from_settings(settings, clock=fake.clock, sleep=fake.sleep)
    return Reconciler(settings, store, Processor(settings, store), reader), store


def history(store, tid):
    return ticketstore.history(store.db().conn, tid)


def test_topics_no_webhook_announced_become_tickets(tmp_path, forum):
    """A sync turns unseen topics into announced tickets, body and likes included."""
    forum.add_topic(1, title="Printer jams", likes=2)
    forum.add_topic(2, category_id=7, replies=1)
    rec, store = reconciler(online(tmp_path, forum.url))
    walk = rec.sync()
    conn = store.db().conn
    t1, t2 = ticketstore.load(conn, 1), ticketstore.load(conn, 2)
    assert walk.created == 2
    assert t1.announced and t1.body == "Body of topic 1" and t1.likes == 2 and t1.author == "alice"
    assert t2.category_id == 7 and t2.announced
    names = [(h["name"], h["source"]) for h in history(store, 1)]
    assert ("topic_created", "reconcile") in names and ("post_liked", "reconcile") in names


def test_drift_is_corrected_with_source_reconcile(tmp_path, forum):
    """Likes, solved state, category and closed drift are fed as reconcile changes."""
    for tid in range(1, 6):
        forum.add_topic(tid, replies=1)
    forum.topics[5].posts[1].accepted = True
    rec, store = reconciler(online(tmp_path, forum.url))
    rec.sync()
    forum.topics[1].posts[0].likers += [7, 8]
    forum.topics[2].posts[1].accepted = True
    forum.topics[3].category_id = 7
    forum.topics[4].closed = True
    forum.topics[5].posts[1].accepted = False
    forum.changed()
    walk = rec.sync(full=True)
    conn = store.db().conn
    t = {i: ticketstore.load(conn, i) for i in range(1, 6)}
    assert walk.corrected == 5
    assert t[1].likes == 2 and t[1].likers == frozenset({7, 8})
    assert t[2].status == "resolved" and t[2].accepted_post_id == forum.topics[2].posts[1].id
    assert t[3].category_id == 7 and t[4].status == "closed"
    assert t[5].status == "open" and t[5].accepted_post_id is None
    expected = {1: "post_liked", 2: "solution_accepted", 3: "category_changed",
                4: "topic_closed", 5: "solution_unaccepted"}
    for tid, change in expected.items():
        rows = [h for h in history(store, tid) if h["name"] == change]
        assert rows and rows[-1]["source"] == "reconcile", (tid, change)


def test_nothing_changed_means_no_events_and_few_calls(tmp_path, forum):
    """A second sync with nothing new writes no history and makes one call a list."""
    forum.generate(70)
    rec, store = reconciler(online(tmp_path, forum.url, "[support]"))
    rec.sync()
    rows = store.db().conn.execute("SELECT COUNT(*) FROM ticket_history").fetchone()[0]
    calls = rec.reader.calls
    rec.sync()
    assert rec.reader.calls - calls == 1
    full_calls = rec.reader.calls
    rec.sync(full=True)
    # /categories.json (page 1, and page 2 empty: no pagination here) and 3 pages of 30
    assert rec.reader.calls - full_calls == 2 + 3
    assert store.db().conn.execute("SELECT COUNT(*) FROM ticket_history").fetchone()[0] == rows


def test_incremental_sync_sees_bumped_topics_only(tmp_path, forum):
    """Incremental: stops at topics older than the cursor; a bumped old topic is seen."""
    forum.generate(90)
    rec, store = reconciler(online(tmp_path, forum.url, "[support]"))
    rec.sync()
    forum.reply(3, user_id=2)
    forum.topics[3].posts[0].likers.append(9)
    forum.topics[50].closed = True  # not bumped: only a full walk sees it
    forum.changed()
    calls = rec.reader.calls
    rec.sync()
    conn = store.db().conn
    assert ticketstore.load(conn, 3).likes == forum.topics[3].posts[0].likers.__len__()
    assert not ticketstore.load(conn, 50).closed
    assert rec.reader.calls - calls <= 4
    rec.sync(full=True)
    assert ticketstore.load(conn, 50).closed


def test_interrupted_full_walk_resumes_from_its_checkpoint(tmp_path, forum):
    """A walk broken at page 2 resumes there: pages 0 and 1 are not fetched again."""
    forum.generate(100)
    forum.fail_path("latest.json?page=2", times=10)
    rec, store = reconciler(online(tmp_path, forum.url, "[support]"))
    with pytest.raises(TransientError):
        rec.sync(full=True)
    saved = json.loads(get_setting(store.db(), CHECKPOINT))
    assert saved["page"] == 2 and saved["mode"] == "full"
    assert store.db().conn.execute("SELECT COUNT(*) FROM tickets").fetchone()[0] == 60
    forum.broken.clear()
    forum.log.clear()
    walk = rec.sync(full=True)
    lists = [p for p in forum.log if p.startswith("/c/")]
    assert walk.resumed and lists[0].endswith("page=2") and len(lists) == 2
    assert store.db().conn.execute("SELECT COUNT(*) FROM tickets").fetchone()[0] == 100
    assert get_setting(store.db(), CHECKPOINT) is None


def test_429_waits_as_told_and_is_not_a_failure(tmp_path, forum):
    """JSON 429s wait extras.wait_seconds, plain-text ones their stated seconds; then go on."""
    forum.add_topic(1)
    forum.fail_next(2, "json", wait=7)
    forum.fail_next(1, "plain", wait=3)
    fake = FakeTime()
    rec, store = reconciler(online(tmp_path, forum.url, "[support]"), fake)
    rec.sync()
    assert ticketstore.load(store.db().conn, 1) is not None
    assert rec.reader.rate_limited == 3 and fake.sleeps[:3] == [7, 7, 3]


def test_pacing_spaces_calls_under_the_share(tmp_path, forum):
    """At 60 calls a minute × 0.5, calls are two seconds apart."""
    forum.generate(65)
    settings = online(tmp_path, forum.url, "[support]")
    settings = replace(settings, discourse=replace(settings.discourse, api_calls_per_minute=60,
                                                   reconcile_share=0.5))
    fake = FakeTime()
    rec, _ = reconciler(settings, fake)
    rec.sync()
    assert rec.reader.calls >= 3 and set(fake.sleeps) == {2.0}


def test_dry_run_worker_does_nothing(tmp_path):
    """Without discourse.url the worker never calls out and never starts a walk."""
    settings = make_settings(tmp_path)
    store, _ = prepare(settings)
    worker = make_worker(settings, store, Processor(settings, store))
    assert worker.name == "reconcile"
    assert worker.run_once() is False and worker.run_once() is False
    assert get_setting(store.db(), CHECKPOINT) is None


def test_worker_runs_on_start_then_every_interval(tmp_path, forum):
    """Due at start, then idle until interval_minutes have passed."""
    forum.generate(40)
    settings = online(tmp_path, forum.url, "[support]")
    store, _ = prepare(settings)
    worker = make_worker(settings, store, Processor(settings, store))
    worker._reader = ApiReader.from_settings(settings)
    now = utcnow()
    steps = 0
    while worker.run_once(now) and steps < 10:
        steps += 1
    assert steps == 1 and store.db().conn.execute("SELECT COUNT(*) FROM tickets").fetchone()[0] == 40
    calls = sum(forum.calls.values())
    assert worker.run_once(now + timedelta(minutes=5)) is False
    assert sum(forum.calls.values()) == calls
    forum.add_topic(41)
    worker.run_once(now + timedelta(minutes=11))
    assert ticketstore.load(store.db().conn, 41) is not None


def test_webhook_tickets_are_left_alone(tmp_path, forum):
    """A ticket that already matches the forum gets no event: no rule can fire twice."""
    forum.add_topic(1, likes=1)
    rec, store = reconciler(online(tmp_path, forum.url, "[support]"))
    rec.sync()
    store.db().conn.execute("DELETE FROM reconcile_topics")  # as if webhooks made the ticket
    before = len(history(store, 1))
    rec.sync(full=True)
    assert len(history(store, 1)) == before


def _listed(**kw) -> Listed:
    topic = Topic(id=1, title="T", slug="t", category_id=5, tags=(), closed=False,
                  archived=False, visible=True, archetype="regular", created_at=None,
                  author=None)
    fields = dict(topic=topic, bumped_at="2026-01-01T00:00:00.000Z", pinned=False,
                  like_count=0, posts_count=1, op_like_count=None, has_accepted_answer=False)
    fields.update(kw)
    return Listed(**fields)


def test_plan_is_quiet_when_the_ticket_matches():
    """Equal title, category, tags, closed, solved and likes: nothing to fetch or feed."""
    ticket = Ticket(id=1, title="T", category_id=5)
    assert plan(_listed(), ticket, None).quiet


def test_plan_fetches_likes_only_when_the_list_shows_a_change():
    """Likes are fetched when like_count moved since last seen, not otherwise."""
    ticket = Ticket(id=1, title="T", category_id=5, likes=1)
    seen = ("2026-01-01T00:00:00.000Z", 3, 1)
    assert plan(_listed(like_count=3), ticket, seen).quiet
    assert plan(_listed(like_count=4), ticket, seen).count_likes
    assert plan(_listed(like_count=0), ticket, seen).likes == 0
    assert plan(_listed(like_count=1), ticket, None).quiet


def test_sync_command_prints_progress_lines_and_a_summary(tmp_path, forum):
    """`syncd sync --full` off a terminal prints plain lines and the summary."""
    forum.generate(45)
    config = tmp_path / "config.yaml"
    config.write_text(
        f"database: {tmp_path / 'syncd.db'}\nrules: {tmp_path / 'none'}\n"
        f"discourse:\n  url: {forum.url}\n  api_key: test-key\n  categories: [support]\n"
        "  webhook_secret: test-secret-not-real-0001\n  category_map: {support: 5}\n"
        "  api_calls_per_minute: 100000\n  reconcile_share: 1\n")
    result = CliRunner().invoke(main, ["--config", str(config), "sync", "--full"])
    assert result.exit_code == 0, result.output
    assert "sync: full, 2 pages, 45 topics, 45 new tickets" in result.output
    help_text = CliRunner().invoke(main, ["sync", "-h"]).output
    assert "Example:" in help_text and "--full" in help_text


def test_rules_fire_once_for_reconciled_tickets(tmp_path, forum):
    """A topic_created rule fires once when reconcile creates a ticket, not again on drift."""
    from syncd.rules.reloader import RulesHolder
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: new-is-high\n    on: topic_created\n"
                     "    then:\n      - set_priority: high\n")
    forum.add_topic(1, likes=1)
    settings = online(tmp_path, forum.url, "[support]")
    store, _ = prepare(settings)
    processor = Processor(settings, store, RulesHolder(rules, [], {"support": 5}))
    just_after = lambda: BASE_TIME + timedelta(hours=1)  # noqa: E731  the topic is recent
    rec = Reconciler(settings, store, processor, ApiReader.from_settings(settings),
                     clock=just_after)
    rec.sync()
    forum.topics[1].posts[0].likers.append(77)
    forum.reply(1)
    rec.sync()
    conn = store.db().conn
    fired = conn.execute("SELECT rule, event FROM rule_firings").fetchall()
    assert fired == [("new-is-high", "topic_created")]
    assert ticketstore.load(conn, 1).priority == "high" and ticketstore.load(conn, 1).likes == 2


def test_worker_walks_everything_again_after_full_every_hours(tmp_path, forum):
    """A change that does not bump a topic (a close) is found by the periodic full walk."""
    forum.generate(40)
    settings = online(tmp_path, forum.url, "[support]")
    settings = replace(settings, reconcile=replace(settings.reconcile, full_every_hours=24))
    store, _ = prepare(settings)
    worker = make_worker(settings, store, Processor(settings, store))
    worker._reader = ApiReader.from_settings(settings)
    now = utcnow()
    for _ in range(10):
        if not worker.run_once(now):
            break
    target = next(t for t in forum.topics.values() if not t.closed and t.bumped_at < max(
        x.bumped_at for x in forum.topics.values()))
    target.closed = True          # closing does not bump the topic
    forum.changed()
    for _ in range(10):           # an incremental walk 11 minutes later does not see it
        if not worker.run_once(now + timedelta(minutes=11)):
            break
    assert ticketstore.load(store.db().conn, target.id).status != "closed"
    for _ in range(10):           # the full walk a day later does
        if not worker.run_once(now + timedelta(hours=25)):
            break
    assert ticketstore.load(store.db().conn, target.id).status == "closed"
    assert any(h["source"] == "reconcile" and h["name"] == "topic_closed"
               for h in ticketstore.history(store.db().conn, target.id))


def test_a_second_walk_waits_for_the_first(tmp_path, forum, monkeypatch):
    """While one process walks (a live lease), another sync refuses with a clear reason."""
    import syncd.discourse.reconcile as rec_mod
    forum.generate(70)
    settings = online(tmp_path, forum.url, "[support]")
    rec, store = reconciler(settings)
    walk = rec.begin(full=True)
    rec.step(walk)                                    # one page done, the lease is live
    monkeypatch.setattr(rec_mod, "HOLDER", "other-host:4242")
    other, _ = reconciler(settings)
    with pytest.raises(rec_mod.SyncdError, match="another reconcile"):
        other.begin()
    monkeypatch.undo()                                # back to this process's holder name
    rec.sync()                                        # the lease is released at the end
    assert get_setting(store.db(), rec_mod.LEASE) is None


def test_old_topics_are_imported_without_running_rules(tmp_path, forum):
    """A forum's history (older than processor.announce_within_hours) fires no rule."""
    from syncd.rules.reloader import RulesHolder
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: ping\n    on: [topic_created, post_liked]\n"
                     "    then:\n      - set_priority: high\n")
    forum.add_topic(1, likes=3)                 # created in 2024: history
    settings = online(tmp_path, forum.url, "[support]")
    store, _ = prepare(settings)
    processor = Processor(settings, store, RulesHolder(rules, [], {"support": 5}))
    Reconciler(settings, store, processor, ApiReader.from_settings(settings)).sync()
    conn = store.db().conn
    ticket = ticketstore.load(conn, 1)
    assert ticket.announced and ticket.likes == 3 and ticket.priority == "normal"
    assert conn.execute("SELECT COUNT(*) FROM rule_firings").fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0
    notes = [h["detail"]["note"] for h in history(store, 1) if h["kind"] == "note"]
    assert notes and all("imported quietly" in n for n in notes)


def test_a_failed_sync_command_can_be_run_again_at_once(tmp_path):
    """syncd sync against a forum that is down fails, and the next run is not locked out."""
    import socket as sock
    with sock.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket closes
    settings = online(tmp_path, f"http://127.0.0.1:{port}", "[support]")
    cfg = tmp_path / "sync.yaml"
    cfg.write_text(f"database: {settings.database}\nrules: {tmp_path / 'none'}\n"
                   f"discourse:\n  url: http://127.0.0.1:{port}\n  api_key: k\n"
                   "  categories: [support]\n  category_map: {support: 5}\n"
                   "  timeout_seconds: 1\n")
    for _ in range(2):
        out = CliRunner().invoke(main, ["--config", str(cfg), "sync"])
        assert out.exit_code == 2 and "another reconcile" not in out.output, out.output


def test_a_webhook_between_list_and_commit_is_not_undone(tmp_path, forum, monkeypatch):
    """A snapshot read before a webhook changed the ticket is skipped, not applied."""
    forum.add_topic(1, tags=["printer"])
    rec, store = reconciler(online(tmp_path, forum.url, "[support]"))
    rec.sync()
    forum.topics[1].tags = ["printer", "wifi"]     # drift reconcile will want to apply
    forum.changed()
    real_commit = rec._commit

    def webhook_then_commit(walk, events, prints):
        with transaction(store.db()) as conn:      # a webhook closes the ticket meanwhile
            t = ticketstore.load(conn, 1)
            ticketstore.save(conn, replace(t, closed=True, updated_at="2099-01-01T00:00:00Z"))
        real_commit(walk, events, prints)
    monkeypatch.setattr(rec, "_commit", webhook_then_commit)
    rec.sync(full=True)
    t = ticketstore.load(store.db().conn, 1)
    assert t.closed and t.tags == ("printer",)     # the webhook's state stands
