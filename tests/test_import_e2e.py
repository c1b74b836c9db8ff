"""`syncd import freshdesk` end to end: a generated export into the Discourse stand-in.

The stand-in (tests/standins/discourse_import.py) follows Discourse's users_controller,
posts_controller and the admin routes as its docstring says; the export generator
(bench/freshdesk_export.py) writes Freshdesk's export_data_worker format.
"""
from __future__ import annotations

import json
import sqlite3
import sys
from collections import Counter
from pathlib import Path

from click.testing import CliRunner

from standins.discourse_import import ImportDiscourseStandIn
from syncd.cli import main

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from freshdesk_export import ExportSize, write_export  # noqa: E402

KEY = "test-import-key-not-real"


def config(tmp_path: Path, url: str) -> Path:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"database: {tmp_path / 'syncd.db'}\nrules: {tmp_path / 'no-rules'}\n"
                   "discourse:\n"
                   f"  url: {url}\n  api_key: {KEY}\n  api_username: system\n"
                   "  categories: [support]\n  staff_groups: [support-agents]\n")
    return cfg


def run(cfg: Path, *args: str):
    return CliRunner().invoke(main, ["--config", str(cfg), "import", *args], catch_exceptions=False)


def small_export(tmp_path: Path, **kw) -> Path:
    folder = tmp_path / "export"
    write_export(folder, ExportSize(**{"users": 30, "agents": 5, "tickets": 25, "seed": 3, **kw}))
    return folder


def expected(folder: Path) -> dict[str, int]:
    from syncd.importers.freshdesk.reader import ExportReader
    reader = ExportReader(folder)
    users = {(u.email or f"none-{u.id}").lower() for u in reader.users()}
    tickets = list(reader.tickets())
    return {"users": len(users), "topics": len(tickets),
            "notes": sum(len([n for n in t.notes if not n.deleted]) for t in tickets)}


def assert_exactly_once(forum: ImportDiscourseStandIn, folder: Path) -> None:
    want = expected(folder)
    got = forum.imported()
    assert len(got["users"]) == want["users"] == len(set(got["users"]))
    assert len(got["topics"]) == want["topics"] == len(set(got["topics"]))
    assert len(got["notes"]) == want["notes"] == len(set(got["notes"]))


def test_a_small_export_lands_once_with_dates_tags_whispers_and_closing(tmp_path):
    """Users, topics (external_id, created_at, tags, header), notes in order as their authors,
    private notes as whispers, resolved/closed topics closed, agents in the staff group."""
    folder = small_export(tmp_path)
    with ImportDiscourseStandIn(api_key=KEY) as forum:
        cfg = config(tmp_path, forum.base_url)
        out = run(cfg, "freshdesk", "--export", str(folder), "--set-site-settings",
                  "--calls-per-minute", "100000")
        assert out.exit_code == 0, out.output
        assert_exactly_once(forum, folder)
        from syncd.importers.freshdesk.reader import ExportReader
        ticket = next(t for t in ExportReader(folder).tickets() if t.notes)
        topic = next(t for t in forum.topics.values() if t.get("external_id") == f"fd-{ticket.id}")
        first = forum.posts[topic["post_ids"][0]]
        assert topic["created_at"] == ticket.created_at
        assert f"#{ticket.display_id}" in first["raw"] and f"ID {ticket.id}" in first["raw"]
        assert "freshdesk" in [t["name"] for t in topic["tags"]]
        replies = [forum.posts[p] for p in topic["post_ids"][1:]]
        notes = sorted(ticket.notes, key=lambda n: (n.created_at, int(n.id)))
        assert [p["created_at"] for p in replies] == [n.created_at for n in notes]
        assert [p["post_type"] for p in replies] == [4 if n.private else 1 for n in notes]
        closed = {t["external_id"] for t in forum.topics.values() if t["closed"]}
        want_closed = {f"fd-{t.id}" for t in ExportReader(folder).tickets() if t.status in (4, 5)}
        assert closed == want_closed
        assert forum.groups["support-agents"]["members"] == {
            u["username"].lower() for u in forum.accounts.values()
            if u["email"].startswith("user50") and int(u["email"][4:8]) < 5005}
        assert forum.site_settings["disable_emails"] == "no", "restored at the end"
        assert all(u["active"] and u["approved"] for u in forum.accounts.values() if u["id"] > 0)
        assert "created:" in out.output and "calls:" in out.output


def test_the_same_command_again_creates_nothing_and_calls_nothing_per_item(tmp_path):
    """A rerun of a finished import makes no creating call: the local map answers."""
    folder = small_export(tmp_path)
    with ImportDiscourseStandIn(api_key=KEY) as forum:
        cfg = config(tmp_path, forum.base_url)
        assert run(cfg, "freshdesk", "--export", str(folder), "--set-site-settings",
                   "--calls-per-minute", "100000").exit_code == 0
        writes_before = len(forum.writes())
        again = run(cfg, "freshdesk", "--export", str(folder), "--set-site-settings",
                    "--calls-per-minute", "100000")
        assert again.exit_code == 0, again.output
        creating = [w for w in forum.writes()[writes_before:] if w[1] in ("/posts.json", "/users.json")]
        assert creating == []
        assert_exactly_once(forum, folder)


def test_status_shows_items_calls_and_problems_from_the_database(tmp_path):
    """`syncd import status` reads the run, the items by state and the problems."""
    folder = small_export(tmp_path)
    with ImportDiscourseStandIn(api_key=KEY) as forum:
        cfg = config(tmp_path, forum.base_url)
        run(cfg, "freshdesk", "--export", str(folder), "--set-site-settings", "--calls-per-minute", "100000")
        out = run(cfg, "status")
        assert "done" in out.output and "topics" in out.output and "calls:" in out.output
        data = json.loads(run(cfg, "status", "--json").output)
        assert data["items"]["topic"]["done"] == expected(folder)["topics"]
        assert data["run"]["status"] == "done"


def test_syncd_tickets_are_written_quietly_with_freshdesk_fields(tmp_path):
    """Each topic is a syncd ticket (status, priority, source freshdesk, fields), no rules."""
    folder = small_export(tmp_path)
    with ImportDiscourseStandIn(api_key=KEY) as forum:
        cfg = config(tmp_path, forum.base_url)
        run(cfg, "freshdesk", "--export", str(folder), "--set-site-settings", "--calls-per-minute", "100000")
    conn = sqlite3.connect(tmp_path / "syncd.db")
    rows = conn.execute("SELECT t.status, t.priority, t.source, i.fields, t.closed, t.requester "
                        "FROM tickets t JOIN imported_tickets i ON i.ticket_id = t.id").fetchall()
    assert len(rows) == expected(folder)["topics"]
    assert {r[2] for r in rows} == {"freshdesk"}
    assert all(json.loads(r[5])["email"].endswith("@example.edu") for r in rows if r[5])
    assert Counter(r[1] for r in rows).keys() <= {"low", "normal", "high", "urgent"}
    for _, _, _, fields, closed, _ in rows:
        fd = json.loads(fields)
        assert bool(closed) == (fd["status"] in (4, 5))
        assert fd["display_id"] and fd["freshdesk_id"]
    assert conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM rule_firings").fetchone()[0] == 0


def test_bad_input_is_reported_by_file_and_record_and_the_rest_goes_on(tmp_path):
    """A truncated file, an unknown element, a missing author, a duplicate email, a short
    title and a 5 MB note: each a problem naming file and record; the rest is imported;
    no topic is half-written (the cut-off ticket is not created at all)."""
    from test_import_reader import NOTE, TICKET, ticket_file
    folder = small_export(tmp_path)
    (folder / "Users9.xml").write_text(
        '<?xml version="1.0"?>\n<users type="array"><user><id type="integer">8888</id>'
        "<name>Second Account</name><email>USER5006@example.edu</email></user>"
        '<user><id type="integer">8889</id><name>Admin</name><email>boss@example.edu</email>'
        "</user></users>\n")
    huge = NOTE.format(id=777001, body="x" * 5_000_000, user=5000, private="false")
    orphan = NOTE.format(id=777002, body="From someone never exported, long enough.", user=4242,
                         private="false")
    ticket_file(folder / "Tickets8.xml",
                TICKET.format(id=1, subject="Help", req=8888, extra="<mood>calm</mood>", notes=huge + orphan),
                TICKET.format(id=2, subject="This one is cut off in the middle", req=5006, extra="",
                              notes=""),
                truncate_at=None)
    text = (folder / "Tickets8.xml").read_text()
    (folder / "Tickets8.xml").write_text(text[: text.index("This one is cut off") + 10])
    with ImportDiscourseStandIn(api_key=KEY) as forum:
        cfg = config(tmp_path, forum.base_url)
        out = run(cfg, "freshdesk", "--export", str(folder), "--calls-per-minute", "100000")
        assert out.exit_code == 0, out.output
        status = run(cfg, "status", "--problems").output
        externals = {t["external_id"] for t in forum.topics.values()}
    assert "fd-1" in externals and "fd-2" not in externals
    assert "Tickets8.xml: after record 1 (id 1): malformed XML" in status
    assert "Tickets8.xml: ticket 1: unknown element <mood>" in status
    assert "Users9.xml: user 8888: duplicate email user5006@example.edu" in status
    assert "Tickets8.xml: ticket 1: title 'Help' is under min_topic_title_length" in status
    assert "Tickets8.xml: ticket 1: note 777001 is 5,000,000 characters" in status
    assert "Tickets8.xml: ticket 1: note 777002: author 4242 is not among the imported users" in status
    assert "title already used in the forum (allow_duplicate_topic_titles is off)" in status
    topic = next(t for t in forum.topics.values() if t["external_id"] == "fd-1")
    assert forum.posts[topic["post_ids"][0]]["username"].lower() == next(
        u["username"] for u in forum.accounts.values() if u["email"] == "user5006@example.edu").lower()
    assert len(topic["post_ids"]) == 3
    assert "Admin_8889" in {u["username"] for u in forum.accounts.values()}, "reserved: the id added"


def test_groups_go_to_categories_by_a_mapping_file(tmp_path):
    """--category-map: Freshdesk group name → category slug; the rest to --category."""
    folder = small_export(tmp_path)
    mapfile = tmp_path / "groups.yaml"
    mapfile.write_text("Billing: hardware\n'2': faq\n")
    with ImportDiscourseStandIn(api_key=KEY) as forum:
        cfg = config(tmp_path, forum.base_url)
        out = run(cfg, "freshdesk", "--export", str(folder), "--set-site-settings",
                  "--calls-per-minute", "100000", "--category-map", str(mapfile))
        assert out.exit_code == 0, out.output
        from syncd.importers.freshdesk.reader import ExportReader
        by_ext = {t["external_id"]: t["category_id"] for t in forum.topics.values()}
        for ticket in ExportReader(folder).tickets():
            want = {"1": 7, "2": 10}.get(ticket.group_id, 5)
            assert by_ext[f"fd-{ticket.id}"] == want


def test_a_key_that_is_not_an_admins_is_refused_before_anything_is_created(tmp_path):
    """Preflight: a non-admin API user stops the import with what to do; nothing created."""
    folder = small_export(tmp_path)
    with ImportDiscourseStandIn(api_key=KEY) as forum:
        forum.add_user("helper", "helper@example.edu")
        cfg = config(tmp_path, forum.base_url)
        cfg.write_text(cfg.read_text().replace("api_username: system", "api_username: helper"))
        out = run(cfg, "freshdesk", "--export", str(folder))
        assert out.exit_code == 2
        assert "helper is not an admin" in out.output
        assert forum.writes() == []


def test_run_rules_feeds_imported_topics_through_the_rules(tmp_path):
    """--run-rules: the rules run on imported tickets (here: one that raises priority)."""
    folder = small_export(tmp_path, tickets=6)
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: imported-are-seen\n    on: topic_created\n"
                     "    then:\n      - add_tags: [seen-by-rules]\n")
    with ImportDiscourseStandIn(api_key=KEY) as forum:
        cfg = config(tmp_path, forum.base_url)
        cfg.write_text(cfg.read_text().replace(f"rules: {tmp_path / 'no-rules'}", f"rules: {rules}"))
        out = run(cfg, "freshdesk", "--export", str(folder), "--set-site-settings",
                  "--calls-per-minute", "100000", "--run-rules")
        assert out.exit_code == 0, out.output
    conn = sqlite3.connect(tmp_path / "syncd.db")
    fired = conn.execute("SELECT COUNT(DISTINCT ticket_id) FROM rule_firings").fetchone()[0]
    assert fired == expected(folder)["topics"]
    assert conn.execute("SELECT COUNT(*) FROM outbox WHERE kind = 'add_tags'").fetchone()[0] == fired


def test_restore_settings_puts_back_what_an_unfinished_import_changed(tmp_path):
    """An import stopped for good: `syncd import restore-settings` restores the originals,
    saved before the first change."""
    folder = small_export(tmp_path, users=10, tickets=5)
    with ImportDiscourseStandIn(api_key=KEY) as forum:
        cfg = config(tmp_path, forum.base_url)
        forum.forbidden.add("/topics/bulk")   # the last phase fails: settings stay changed
        out = run(cfg, "freshdesk", "--export", str(folder), "--set-site-settings",
                  "--calls-per-minute", "100000")
        assert out.exit_code == 2, out.output
        assert forum.site_settings["disable_emails"] == "yes"
        assert "restored: " in run(cfg, "restore-settings", "--calls-per-minute", "100000").output
        assert forum.site_settings["disable_emails"] == "no"
        assert forum.site_settings["min_post_length"] == "20"


def test_tags_the_requester_may_not_create_are_dropped_once_and_reported(tmp_path):
    """A 422 naming tags (the requester may not create them): the topic goes again without
    them, once, and the problem is reported."""
    folder = small_export(tmp_path, users=8, agents=2, tickets=4)
    with ImportDiscourseStandIn(api_key=KEY) as forum:
        original = forum._create_topic

        def no_new_tags(payload, raw):
            if payload.get("tags") and forum.accounts[forum.acting.lower()]["id"] > 0:
                return 422, {"Content-Type": "application/json"}, {
                    "errors": ["You can't create the tag 'freshdesk'"]}
            return original(payload, raw)
        forum._create_topic = no_new_tags
        cfg = config(tmp_path, forum.base_url)
        out = run(cfg, "freshdesk", "--export", str(folder), "--set-site-settings",
                  "--calls-per-minute", "100000")
        assert out.exit_code == 0, out.output
        assert_exactly_once(forum, folder)
        status = run(cfg, "status", "--problems").output
    assert status.count("imported without them") == 4


def test_a_topic_held_for_review_is_a_failure_with_what_to_do_and_the_rest_goes_on(tmp_path):
    """Discourse answers `action: enqueued` (the review queue): that ticket fails with the
    reason, its notes wait; every other ticket is imported."""
    from syncd.importers.freshdesk.reader import ExportReader
    folder = small_export(tmp_path)
    held = next(t for t in ExportReader(folder).tickets())
    with ImportDiscourseStandIn(api_key=KEY) as forum:
        cfg = config(tmp_path, forum.base_url)
        out = run(cfg, "freshdesk", "--export", str(folder), "--dry-run")
        requester = next(line.split(" as ")[1].split(",")[0] for line in out.output.splitlines()
                         if line.startswith(f"would create topic fd-{held.id} "))
        forum.needs_approval.add(requester.lower())
        out = run(cfg, "freshdesk", "--export", str(folder), "--set-site-settings",
                  "--calls-per-minute", "100000")
        assert out.exit_code == 0, out.output
        assert "review queue" in out.output
        externals = {t["external_id"] for t in forum.topics.values()}
    assert f"fd-{held.id}" not in externals
    assert len(externals) == expected(folder)["topics"] - sum(
        1 for t in ExportReader(folder).tickets() if str(t.requester_id) == str(held.requester_id))


def test_a_second_import_while_one_runs_is_refused(tmp_path):
    """One import at a time: another process's live run (its pid alive) blocks a second;
    once that process is gone, the import goes."""
    import subprocess
    folder = small_export(tmp_path, users=5, tickets=2)
    with ImportDiscourseStandIn(api_key=KEY) as forum:
        cfg = config(tmp_path, forum.base_url)
        sleeper = subprocess.Popen(["sleep", "60"])
        try:
            from syncd.store.db import open_db, transaction
            from syncd.store import imports
            db = open_db(tmp_path / "syncd.db")
            with transaction(db) as conn:
                run_id = imports.start_run(conn, str(folder), 60, 10)
                imports.update_run(conn, run_id, pid=sleeper.pid)
            out = run(cfg, "freshdesk", "--export", str(folder), "--calls-per-minute", "100000")
            assert out.exit_code == 2
            assert f"an import is already running (pid {sleeper.pid}" in out.output
            assert forum.writes() == []
        finally:
            sleeper.kill()
            sleeper.wait()
        again = run(cfg, "freshdesk", "--export", str(folder), "--set-site-settings",
                    "--calls-per-minute", "100000")
        assert again.exit_code == 0, again.output


def test_without_whispers_private_notes_fail_with_the_reason_and_a_rerun_with_settings_adds_them(tmp_path):
    """whispers_allowed_groups empty (Discourse's default): a warning up front, private notes
    fail saying what to set; the rerun with --set-site-settings posts each of them once."""
    folder = small_export(tmp_path)
    with ImportDiscourseStandIn(api_key=KEY) as forum:
        cfg = config(tmp_path, forum.base_url)
        first = run(cfg, "freshdesk", "--export", str(folder), "--calls-per-minute", "100000")
        assert first.exit_code == 0, first.output
        assert "warning: whispers are off" in first.output
        assert "may not whisper: add the staff group" in first.output
        assert not any(p.get("post_type") == 4 for p in forum.posts.values())
        second = run(cfg, "freshdesk", "--export", str(folder), "--set-site-settings",
                     "--calls-per-minute", "100000")
        assert second.exit_code == 0, second.output
        assert any(p.get("post_type") == 4 for p in forum.posts.values())
        assert_exactly_once(forum, folder)
