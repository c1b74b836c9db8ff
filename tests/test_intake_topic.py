"""The create_intake_topic action against the Discourse stand-in: who posts, where, exactly
once across a crash, and what an admin sees when Discourse is down or refuses.

The stand-in follows Discourse's own source for what these calls meet: PostsController
#create (``external_id`` unique, 422 "External has already been taken"), TopicsController
#show_by_external_id (301), Admin::UsersController#index with AdminUserIndexQuery's exact
``email`` match, DefaultCurrentUserProvider's ``Api-Username``.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from standins.discourse import DiscourseStandIn
from syncd.cli import main
from syncd.config import load_settings
from syncd.inbox.http import Receiver, create_app
from syncd.inbox.teams import sign
from syncd.outbox import queue as outbox
from syncd.outbox.workers import make_workers
from syncd.service import prepare

from test_intake_http import BEARER, FORM, GOOD_TEXT, INTAKE, TEAMS_TOKEN, TITLE, activity



def t0() -> datetime:
    """Now, a second ahead: actions are due from when they were stored (real time)."""
    return datetime.now(timezone.utc) + timedelta(seconds=1)


def setup(tmp_path, forum):
    path = tmp_path / "config.yaml"
    path.write_text(f"database: {tmp_path / 'syncd.db'}\nrules: {tmp_path / 'rules'}\n"
                    "discourse:\n  api_key: test-api-key\n  api_calls_per_minute: 100000\n"
                    f"  url: {forum.base_url}\n  categories: [support, hardware]\n"
                    "  category_map: {support: 5, hardware: 7}\n"
                    "outbox: {workers: 1, lease_seconds: 2}\n" + INTAKE)
    settings = load_settings(str(path), env={})
    store, secret = prepare(settings)
    client = create_app(Receiver(settings, store, secret)).test_client()
    worker = make_workers(settings, store)[0]
    worker.sleep = lambda s: None
    return store, client, worker


def drain(worker, now=None, limit=50):
    now = now or t0()
    for _ in range(limit):
        if not worker.run_once(now=now):
            now += timedelta(seconds=30)
            if not worker.run_once(now=now):
                return now
    raise AssertionError("the outbox did not drain")


def intake(store, intake_id=1):
    row = store.db().conn.execute("SELECT topic_id, topic_url, posted_as FROM intakes WHERE id = ?",
                                  (intake_id,)).fetchone()
    return row


def created(forum):
    return [t for t in forum.topics.values() if (t.get("external_id") or "").startswith("intake-")]


def test_a_form_from_a_forum_user_is_posted_as_that_user(tmp_path):
    """The requester's email matches an active user: the topic is theirs (Api-Username),
    with no 'Reported by' line, external_id intake-1, in the form's default category."""
    with DiscourseStandIn() as forum:
        forum.add_user("jsmith", "Jane@Example.edu")
        store, client, worker = setup(tmp_path, forum)
        assert client.post("/intake/form", json=FORM, headers=BEARER).status_code == 202
        drain(worker)
        [topic] = created(forum)
        first = forum.posts[topic["post_ids"][0]]
        assert (topic["external_id"], topic["category_id"], first["username"]) == \
            ("intake-1", 5, "jsmith")
        assert "Reported by" not in first["raw"] and first["raw"].startswith("Since 9am.")
        assert [t["name"] for t in topic["tags"]] == ["vpn"]
        assert intake(store) == (topic["id"], f"{forum.base_url}/t/{topic['slug']}/{topic['id']}",
                                 "jsmith")
        lookups = [q for m, p, q, b in forum.log if p == "/admin/users/list/active.json"]
        assert lookups and "email=jane%40example.edu" in lookups[0]


@pytest.mark.parametrize("setup_forum", [
    lambda f: None,                                                      # nobody has that email
    lambda f: f.add_user("jsmith", "jane@example.edu", staged=True),     # a staged user
    lambda f: f.add_user("jsmith", "jane@example.edu", suspended=True),
    lambda f: (f.add_user("jsmith", "jane@example.edu"), setattr(f, "single_user_key", True)),
    lambda f: (f.add_user("jsmith", "jane@example.edu"), f.forbidden.add("/admin/")),
])
def test_otherwise_syncd_posts_it_saying_who_asked(tmp_path, setup_forum):
    """No active user with that email, or a key that may not look users up or act as them:
    syncd's API user posts it with 'Reported by NAME via ...'."""
    with DiscourseStandIn() as forum:
        setup_forum(forum)
        store, client, worker = setup(tmp_path, forum)
        client.post("/intake/form", json=FORM, headers=BEARER)
        drain(worker)
        [topic] = created(forum)
        first = forum.posts[topic["post_ids"][0]]
        assert first["username"] == "system"
        assert first["raw"].endswith("Reported by Jane Smith via the helpdesk form")
        assert intake(store)[2] == "system"


def test_a_teams_request_goes_to_the_category_of_its_priority(tmp_path):
    """Teams sends no email: syncd posts it, 'Reported by Jane Smith via Teams', in
    categories_by_priority's category for urgent (hardware, id 7)."""
    with DiscourseStandIn() as forum:
        store, client, worker = setup(tmp_path, forum)
        body = activity(GOOD_TEXT)
        client.post("/intake/teams", data=body, headers={"Authorization": sign(TEAMS_TOKEN, body)})
        drain(worker)
        [topic] = created(forum)
        assert (topic["title"], topic["category_id"]) == (TITLE, 7)
        assert forum.posts[topic["post_ids"][0]]["raw"].endswith("Reported by Jane Smith via Teams")
        assert not [p for m, p, q, b in forum.log if p.startswith("/admin/")]


def test_a_crash_after_posting_makes_no_second_topic(tmp_path):
    """A worker posts and dies before marking the action sent; the retry finds the topic by
    /t/external_id/intake-1.json and takes it."""
    with DiscourseStandIn() as forum:
        store, client, worker = setup(tmp_path, forum)
        client.post("/intake/form", json=FORM, headers=BEARER)
        ghost = outbox.claim(store.db(), "ghost", t0(), 2)
        worker.gateway.perform(ghost, lambda k, v: None, retrying=False)   # then it dies
        assert len(created(forum)) == 1 and intake(store)[0] is None
        drain(worker, t0() + timedelta(seconds=5))
        assert len(created(forum)) == 1
        [topic] = created(forum)
        assert intake(store)[0] == topic["id"]
        assert any(p == "/t/external_id/intake-1.json" for m, p, q, b in forum.log)
        row = store.db().conn.execute("SELECT status, result FROM outbox").fetchone()
        assert row[0] == "sent" and json.loads(row[1])["already_posted"] is True


def test_discourse_down_leaves_the_intake_pending_with_the_reason(tmp_path):
    """502s: pending, the error visible in GET /intake/1 and `outbox --failed`; once
    Discourse is back the topic is made once."""
    with DiscourseStandIn() as forum:
        store, client, worker = setup(tmp_path, forum)
        client.post("/intake/form", json=FORM, headers=BEARER)
        forum.down = True
        worker.run_once(now=t0())
        view = client.get("/intake/1", headers=BEARER).get_json()
        assert view["status"] == "pending" and "502" in view["error"]
        failed = outbox.list_actions(store.db(), failed=True)
        assert [(a["kind"], a["status"]) for a in failed] == [("create_intake_topic", "pending")]
        forum.down = False
        drain(worker, t0() + timedelta(hours=1))
        assert client.get("/intake/1", headers=BEARER).get_json()["status"] == "created"
        assert len(created(forum)) == 1


def test_discourse_refusing_fails_the_intake_with_its_words(tmp_path):
    """A 422 (the site wants longer titles): dead at once, GET /intake/1 failed with the
    reason, /healthz counts it, `syncd outbox --failed` lists it."""
    with DiscourseStandIn() as forum:
        forum.min_topic_title_length = 40
        store, client, worker = setup(tmp_path, forum)
        client.post("/intake/form", json=FORM, headers=BEARER)
        drain(worker)
        view = client.get("/intake/1", headers=BEARER).get_json()
        assert view["status"] == "failed" and "Title is too short" in view["error"]
        assert client.get("/healthz").get_json()["intake"]["failed"] == 1
        assert outbox.list_actions(store.db(), failed=True)[0]["status"] == "dead"
        assert created(forum) == []
        out = CliRunner().invoke(main, ["--config", str(tmp_path / "config.yaml"), "outbox",
                                        "--failed"], catch_exceptions=False).output
        assert "intake 1" in out and "create_intake_topic" in out and "Title is too short" in out
        out = CliRunner().invoke(main, ["--config", str(tmp_path / "config.yaml"), "intake",
                                        "--failed"], catch_exceptions=False).output
        assert "form  failed" in out and TITLE in out and "Title is too short" in out


def test_a_topic_held_for_approval_fails_saying_where_it_is(tmp_path):
    """Discourse queued the user's topic for review (PostsController answers action
    "enqueued"): failed, the reason names the review queue; nothing is posted twice."""
    with DiscourseStandIn() as forum:
        forum.add_user("jsmith", "jane@example.edu")
        forum.needs_approval.add("jsmith")
        store, client, worker = setup(tmp_path, forum)
        client.post("/intake/form", json=FORM, headers=BEARER)
        drain(worker)
        view = client.get("/intake/1", headers=BEARER).get_json()
        assert view["status"] == "failed" and "review queue" in view["error"]
        assert len([1 for m, p, q, b in forum.log if (m, p) == ("POST", "/posts.json")]) == 1


def test_the_same_title_twice_gets_the_request_number(tmp_path):
    """Discourse's titles are unique ('Title has already been used'): the second request with
    the same title is posted with its request number; a crash retry still finds it."""
    with DiscourseStandIn() as forum:
        store, client, worker = setup(tmp_path, forum)
        client.post("/intake/form", json=FORM, headers=BEARER)
        client.post("/intake/form", json={**FORM, "external_id": "other"}, headers=BEARER)
        drain(worker)
        titles = sorted(t["title"] for t in created(forum))
        assert titles == [TITLE, f"{TITLE} (request #2)"]
        assert client.get("/intake/2", headers=BEARER).get_json()["status"] == "created"
        action = outbox.Action(id=2, ticket_id=-2, kind="create_intake_topic",
                               params=json.loads(store.db().conn.execute(
                                   "SELECT params FROM outbox WHERE id = 2").fetchone()[0]),
                               rule=None, delivery_id=None, attempts=2, created_at="x")
        again = worker.gateway.perform(action, lambda k, v: None, retrying=True)
        assert again["already_posted"] is True and len(created(forum)) == 2
