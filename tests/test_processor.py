"""The processor: stored deliveries become tickets, one transaction each, in order."""
from __future__ import annotations

from datetime import timedelta

from syncd.store import deliveries
from syncd.store import echoes
from syncd.store import tickets as ticketstore
from syncd.clock import iso, utcnow
from syncd.processor import Processor
from syncd.service import prepare
from syncd.store.db import transaction

from conftest import make_settings, sample_body, signed_sample


def setup(tmp_path, **kw):
    settings = make_settings(tmp_path, **kw)
    store, _ = prepare(settings)
    return settings, store, Processor(settings, store)


def put(store, name, body=None, event_id=None):
    headers, raw = signed_sample(name, event_id=event_id, body=body)
    with transaction(store.db()) as conn:
        return deliveries.store(conn, headers, raw, 1234).id


def drain(processor, now=None, limit=100):
    for _ in range(limit):
        if not processor.run_once(now):
            return


def test_story_builds_one_ticket_with_history(tmp_path):
    """The recorded story makes one ticket whose history lists each event in order."""
    settings, store, p = setup(tmp_path)
    for name in ["topic_created", "post_created", "post_created_reply", "post_liked",
                 "accepted_solution"]:
        put(store, name)
    drain(p)
    conn = store.db().conn
    t = ticketstore.load(conn, 1234)
    assert (t.status, t.likes, t.author, t.announced) == ("resolved", 1, "alice", True)
    assert t.url == "https://forum.example.com/t/printer-jams-on-duplex-jobs/1234"
    assert t.first_response_at is not None and "printer" in t.body.lower()
    events = [h["name"] for h in ticketstore.history(conn, 1234) if h["kind"] == "event"]
    assert events == ["topic_created", "post_created", "post_created", "post_liked",
                      "accepted_solution"]
    assert deliveries.counts(conn) == {"processed": 5}


def test_first_post_before_topic_makes_one_ticket(tmp_path):
    """post_created #1 stored before topic_created: one ticket, body kept."""
    _, store, p = setup(tmp_path)
    put(store, "post_created")
    put(store, "topic_created")
    drain(p)
    rows = store.db().conn.execute("SELECT id, body != '', announced FROM tickets").fetchall()
    assert rows == [(1234, 1, 1)]


def test_unreadable_stored_delivery_is_marked_failed_not_lost(tmp_path):
    """A stored delivery that cannot be parsed is marked failed with the reason and kept."""
    _, store, p = setup(tmp_path)
    body = sample_body("topic_created")
    del body["topic"]["id"]
    put(store, "topic_created", body=body)
    drain(p)
    row = store.db().conn.execute("SELECT status, error, length(body) FROM deliveries").fetchone()
    assert row[0] == "failed" and "id" in row[1] and row[2] > 0


def test_a_crash_mid_step_reruns_only_the_uncommitted_step(tmp_path, monkeypatch):
    """An exception inside the transaction leaves neither the ticket nor the processed mark."""
    settings, store, p = setup(tmp_path)
    put(store, "topic_created")
    boom = RuntimeError("disk on fire")

    def explode(*a, **k):
        raise boom
    monkeypatch.setattr(ticketstore, "save", explode)
    p.run_once()
    conn = store.db().conn
    assert conn.execute("SELECT COUNT(*) FROM tickets").fetchone()[0] == 0
    status, error = conn.execute("SELECT status, error FROM deliveries").fetchone()
    assert status == "failed" and "disk on fire" in error


def test_topic_without_first_post_is_announced_after_grace(tmp_path):
    """A topic whose first post never arrives is announced once the grace period passes."""
    _, store, p = setup(tmp_path)
    put(store, "topic_created")
    drain(p)
    conn = store.db().conn
    assert conn.execute("SELECT announced FROM tickets").fetchone()[0] == 0
    assert p.run_once(utcnow() + timedelta(seconds=5)) is False
    assert p.run_once(utcnow() + timedelta(seconds=31)) is True
    assert conn.execute("SELECT announced FROM tickets").fetchone()[0] == 1
    changes = [h["name"] for h in ticketstore.history(conn, 1234) if h["kind"] == "change"]
    assert changes == ["topic_created"]


def test_post_in_non_ticket_category_makes_no_ticket(tmp_path):
    """Processing drops a first event for a topic outside the ticket categories."""
    _, store, p = setup(tmp_path)
    body = sample_body("post_created")
    body["post"]["category_id"] = 99
    body["post"]["category_slug"] = "off-topic"
    put(store, "post_created", body=body)
    drain(p)
    assert store.db().conn.execute("SELECT COUNT(*) FROM tickets").fetchone()[0] == 0


def test_every_category_when_categories_is_empty(tmp_path):
    """categories: [] makes every category a ticket category."""
    _, store, p = setup(tmp_path, categories="[]")
    body = sample_body("topic_created")
    body["topic"]["category_id"] = 99
    put(store, "topic_created", body=body)
    drain(p)
    assert store.db().conn.execute("SELECT id FROM tickets").fetchall() == [(1234,)]


def test_echo_of_syncds_own_move_is_marked(tmp_path):
    """A category change syncd asked for comes back flagged by_syncd in the history."""
    _, store, p = setup(tmp_path)
    put(store, "topic_created")
    put(store, "post_created")
    drain(p)
    with transaction(store.db()) as conn:
        echoes.expect(conn, 1234, "category", 7)
    put(store, "topic_edited")
    drain(p)
    changes = {h["name"]: h["detail"] for h in ticketstore.history(store.db().conn, 1234)
               if h["kind"] == "change"}
    assert changes["category_changed"].get("by_syncd") is True
    assert "by_syncd" not in changes["tag_added"]  # a moderator's tag is not syncd's


def test_category_slugs_are_learnt_from_post_payloads(tmp_path):
    """post payloads teach the slug ↔ id map (remembered for offline use)."""
    _, store, p = setup(tmp_path)
    put(store, "post_created")
    drain(p)
    row = store.db().conn.execute("SELECT slug FROM categories WHERE id = 5").fetchone()
    assert row == ("support",)


PING = "rules:\n  - name: ping\n    on: topic_created\n    then:\n      - notify: staff\n"


def rules_processor(tmp_path, settings, store, text=PING):
    from syncd.rules.reloader import RulesHolder
    rules = tmp_path / "rules.yaml"
    rules.write_text(text)
    return Processor(settings, store, RulesHolder(str(rules), ["staff"], {"support": 5}))


def test_activity_on_an_unknown_old_topic_is_imported_quietly(tmp_path):
    """A like on a topic syncd never saw makes a ticket, announced later without rules."""
    settings, store, _ = setup(tmp_path)
    p = rules_processor(tmp_path, settings, store)
    put(store, "post_liked")
    drain(p)
    drain(p, utcnow() + timedelta(seconds=31))
    conn = store.db().conn
    t = ticketstore.load(conn, 1234)
    assert t.announced and t.likes == 1
    assert conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0
    notes = [h["detail"]["note"] for h in ticketstore.history(conn, 1234) if h["kind"] == "note"]
    assert any("imported quietly" in n for n in notes)


def test_a_new_topic_without_first_post_still_runs_rules_after_grace(tmp_path):
    """A topic created just now whose first post never came is announced with its rules."""
    settings, store, _ = setup(tmp_path)
    p = rules_processor(tmp_path, settings, store)
    body = sample_body("topic_created")
    body["topic"]["created_at"] = iso(utcnow())
    put(store, "topic_created", body=body)
    drain(p)
    drain(p, utcnow() + timedelta(seconds=31))
    conn = store.db().conn
    assert conn.execute("SELECT kind, rule FROM outbox").fetchall() == [("notify", "ping")]


def test_an_edit_after_syncds_reply_is_not_taken_for_syncds_own(tmp_path):
    """last_poster being syncd's user (it replied last) does not make a person's edit an echo."""
    _, store, p = setup(tmp_path)
    put(store, "topic_created")
    put(store, "post_created")
    drain(p)
    body = sample_body("topic_edited")
    body["topic"]["last_poster"]["username"] = "system"
    put(store, "topic_edited", body=body)
    drain(p)
    changes = [h for h in ticketstore.history(store.db().conn, 1234) if h["kind"] == "change"]
    edits = [h for h in changes if h["name"] in ("category_changed", "tag_added", "topic_edited")]
    assert len(edits) == 3 and not any(h["detail"].get("by_syncd") for h in edits)


def test_a_locked_database_leaves_the_delivery_pending(tmp_path, monkeypatch):
    """sqlite3.OperationalError (locked, disk full) is not the delivery's fault: it waits."""
    import sqlite3
    _, store, p = setup(tmp_path)
    put(store, "topic_created")

    def locked(*a, **k):
        raise sqlite3.OperationalError("database is locked")
    monkeypatch.setattr(ticketstore, "save", locked)
    assert p.run_once() is False
    assert deliveries.counts(store.db().conn) == {"pending": 1}
    monkeypatch.undo()
    drain(p)
    assert deliveries.counts(store.db().conn) == {"processed": 1}


def test_failed_deliveries_are_listed_and_processed_again(tmp_path, monkeypatch):
    """A delivery that failed on a bug is kept; `syncd deliveries retry` processes it."""
    from click.testing import CliRunner
    from syncd.cli import main
    settings, store, p = setup(tmp_path)
    put(store, "topic_created")
    monkeypatch.setattr(ticketstore, "save", lambda *a, **k: 1 / 0)
    drain(p)
    monkeypatch.undo()
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"database: {settings.database}\n")
    listed = CliRunner().invoke(main, ["--config", str(cfg), "deliveries", "--failed"])
    assert "ZeroDivisionError" in listed.output
    again = CliRunner().invoke(main, ["--config", str(cfg), "deliveries", "retry", "--all-failed"])
    assert "1 deliveries will be processed again" in again.output
    drain(p)
    assert ticketstore.load(store.db().conn, 1234) is not None


def test_staff_group_members_count_as_staff_for_rules(tmp_path):
    """A reply by a member of a staff group (read from Discourse) is actor_is_staff."""
    settings, store, _ = setup(tmp_path)
    p = rules_processor(tmp_path, settings, store,
                        "rules:\n  - name: staff-replied\n    on: post_created\n"
                        "    if: {actor_is_staff: true}\n    then:\n      - notify: staff\n")
    with transaction(store.db()) as conn:
        conn.execute("INSERT INTO staff_members VALUES ('dave', 'helpers', '2026-01-01')")
    body = sample_body("post_created_reply")
    body["post"].update(username="dave", staff=False, moderator=False, admin=False,
                        primary_group_name=None)
    put(store, "topic_created")
    put(store, "post_created")
    put(store, "post_created_reply", body=body)
    drain(p)
    fired = store.db().conn.execute("SELECT rule FROM rule_firings").fetchall()
    assert fired == [("staff-replied",)]


def test_the_echo_of_a_tag_matches_whatever_its_case(tmp_path):
    """syncd asked for 'Ticket-Open'; Discourse stores and echoes 'ticket-open'."""
    _, store, p = setup(tmp_path)
    put(store, "topic_created")
    put(store, "post_created")
    drain(p)
    with transaction(store.db()) as conn:
        echoes.expect(conn, 1234, "tag_added", "Ticket-Open")
        echoes.expect(conn, 1234, "category", 7)
    put(store, "topic_edited")
    drain(p)
    changes = {h["name"]: h["detail"] for h in ticketstore.history(store.db().conn, 1234)
               if h["kind"] == "change"}
    assert changes["tag_added"].get("by_syncd") is True


def test_syncds_own_reply_is_known_whatever_the_case_of_api_username(tmp_path):
    """api_username "System": Discourse posts as "system" (it matches Api-Username ignoring
    case), and that reply is still syncd's own: no "answered", marked by_syncd."""
    from dataclasses import replace
    _, store, p = setup(tmp_path)
    p.settings = replace(p.settings, discourse=replace(p.settings.discourse, api_username="System"))
    put(store, "topic_created")
    put(store, "post_created")
    drain(p)
    reply = sample_body("post_created_reply")
    reply["post"].update(username="system", admin=True, staff=True, moderator=False)
    put(store, "post_created_reply", body=reply)
    drain(p)
    conn = store.db().conn
    assert ticketstore.load(conn, 1234).stage == "open"
    mine = [h for h in ticketstore.history(conn, 1234)
            if h["kind"] == "change" and h["name"] == "post_created"]
    assert mine and all(h["detail"].get("by_syncd") for h in mine)
