"""The import is never twice and always resumable: SIGKILL at random points, a lost network,
429s, Ctrl-C; then the same command again ends with each user, topic and post once."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

from standins import wait_for
from standins.discourse_import import ImportDiscourseStandIn
from test_import_e2e import KEY, assert_exactly_once, config, run, small_export

ROOT = Path(__file__).resolve().parent.parent


def _spawn(cfg: Path, folder: Path, rate: str = "6000") -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "syncd", "--config", str(cfg), "import", "freshdesk", "--export",
         str(folder), "--set-site-settings", "--calls-per-minute", rate, "--workers", "3"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_sigkill_at_ten_random_points_then_a_rerun_leaves_exactly_one_of_each(tmp_path):
    """Ten runs killed with SIGKILL after a random number of writes (in flight items
    included), then one run to the end: every user, topic and note exists exactly once."""
    folder = small_export(tmp_path, users=25, tickets=30, seed=11)
    rng = random.Random(1515)
    with ImportDiscourseStandIn(api_key=KEY) as forum:
        cfg = config(tmp_path, forum.base_url)
        kills = 0
        for _ in range(10):
            before = len(forum.writes())
            proc = _spawn(cfg, folder)
            target = before + rng.randint(1, 25)
            reached = wait_for(lambda t=target, p=proc: len(forum.writes()) >= t or p.poll() is not None,
                               timeout=60)
            assert reached, "the import made no progress"
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait(timeout=30)
            proc.stderr.close()
        assert kills >= 5, "most runs must have been killed mid-way"
        final = _spawn(cfg, folder, rate="100000")
        assert final.wait(timeout=240) == 0, final.stderr.read().decode()[-2000:]
        final.stderr.close()
        assert_exactly_once(forum, folder)
        lookups = [p for m, p, q, b in forum.log if m == "GET" and (
            p.startswith("/t/external_id/") or p.startswith("/admin/users/list/") or "include_raw" in q)]
        assert lookups, "some killed run left an item in flight, and it was looked up"
        closed = sum(t["closed"] for t in forum.topics.values())
        assert closed > 0
        assert forum.site_settings["disable_emails"] == "no", "the originals came back at the end"


def test_a_lost_network_stops_with_a_resume_message_and_the_rerun_finishes(tmp_path, monkeypatch):
    """Discourse unreachable mid-import: the run stops saying how to resume; the same
    command again carries on and nothing is doubled."""
    from syncd.importers.freshdesk import client, plan as shared
    monkeypatch.setattr(client, "READ_RETRIES", 1)
    monkeypatch.setattr(shared, "NETWORK_TRIES", 2)
    monkeypatch.setattr(shared, "BACKOFF_MAX", 0.01)
    folder = small_export(tmp_path)
    with ImportDiscourseStandIn(api_key=KEY) as forum:
        cfg = config(tmp_path, forum.base_url)
        original = forum._create_post
        count = {"n": 0}

        def flaky(query, payload):
            count["n"] += 1
            if count["n"] == 12:   # the 12th post is created, then the network goes
                answer = original(query, payload)
                forum.down = True
                return answer
            return original(query, payload)
        forum._create_post = flaky
        first = run(cfg, "freshdesk", "--export", str(folder), "--set-site-settings",
                    "--calls-per-minute", "100000")
        assert first.exit_code == 2
        assert "run the same command again to resume" in first.output
        forum.down = False
        second = run(cfg, "freshdesk", "--export", str(folder), "--set-site-settings",
                     "--calls-per-minute", "100000")
        assert second.exit_code == 0, second.output
        assert_exactly_once(forum, folder)


def test_429_answers_are_waited_out_and_retried(tmp_path):
    """A 429 with Retry-After pauses the pacer and the same call goes again; nothing fails."""
    folder = small_export(tmp_path, users=8, agents=2, tickets=5)
    with ImportDiscourseStandIn(api_key=KEY) as forum:
        cfg = config(tmp_path, forum.base_url)
        forum.rate_limit_next(3, wait=0.05)
        out = run(cfg, "freshdesk", "--export", str(folder), "--set-site-settings",
                  "--calls-per-minute", "100000")
        assert out.exit_code == 0, out.output
        assert forum.rejected_429 == 3
        assert "3 answered 429" in out.output
        assert_exactly_once(forum, folder)


def test_dry_run_calls_nothing_and_writes_nothing(tmp_path):
    """--dry-run prints what it would create and the problems; no request, no database."""
    folder = small_export(tmp_path)
    with ImportDiscourseStandIn(api_key=KEY) as forum:
        cfg = config(tmp_path, forum.base_url)
        out = run(cfg, "freshdesk", "--export", str(folder), "--dry-run")
        assert out.exit_code == 0, out.output
        assert forum.log == []
        assert "would create user" in out.output and "would create topic fd-" in out.output
        assert "dry run: would create 30 users" in out.output
        assert not (tmp_path / "syncd.db").exists()


def test_ctrl_c_stops_cleanly_saying_how_to_resume(tmp_path):
    """SIGINT mid-import: exit 2 with the resume hint, the run marked interrupted; the same
    command again finishes with exactly one of each."""
    folder = small_export(tmp_path, users=20, tickets=20, seed=12)
    with ImportDiscourseStandIn(api_key=KEY) as forum:
        cfg = config(tmp_path, forum.base_url)
        proc = _spawn(cfg, folder, rate="3000")
        assert wait_for(lambda: len(forum.writes()) >= 30 or proc.poll() is not None, timeout=60)
        assert wait_for(lambda: '"running": true' in run(cfg, "status", "--json").output, timeout=30), \
            "syncd import status sees the run from the database while it goes"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 2
        err = proc.stderr.read().decode()
        proc.stderr.close()
        assert "run the same command again to resume" in err
        status = run(cfg, "status").output
        assert "interrupted" in status
        final = _spawn(cfg, folder, rate="100000")
        assert final.wait(timeout=240) == 0
        final.stderr.close()
        assert_exactly_once(forum, folder)


def test_even_a_lost_database_creates_nothing_twice(tmp_path):
    """The map deleted after an import: users are found by email, topics by external_id
    (Discourse refuses a second), notes by their markers; the forum keeps one of each."""
    folder = small_export(tmp_path, users=12, agents=3, tickets=8)
    with ImportDiscourseStandIn(api_key=KEY) as forum:
        cfg = config(tmp_path, forum.base_url)
        args = ("freshdesk", "--export", str(folder), "--set-site-settings", "--calls-per-minute", "100000")
        assert run(cfg, *args).exit_code == 0
        for suffix in ("", "-wal", "-shm"):
            (tmp_path / f"syncd.db{suffix}").unlink(missing_ok=True)
        again = run(cfg, *args)
        assert again.exit_code == 0, again.output
        assert "found" in again.output
        assert_exactly_once(forum, folder)


def test_ctrl_c_during_a_long_429_pause_stops_without_waiting_it_out(tmp_path):
    """Discourse asked for 10 minutes' rest; Ctrl-C wakes the waiting workers at once."""
    import time
    folder = small_export(tmp_path, users=20, tickets=20, seed=13)
    with ImportDiscourseStandIn(api_key=KEY) as forum:
        cfg = config(tmp_path, forum.base_url)
        proc = _spawn(cfg, folder, rate="3000")
        assert wait_for(lambda: len(forum.writes()) >= 20 or proc.poll() is not None, timeout=60)
        forum.rate_limit_next(1, wait=600)
        assert wait_for(lambda: forum.rejected_429 >= 1, timeout=30)
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 2
        proc.stderr.close()
        assert time.monotonic() - started < 120, "not the 600 s Discourse asked for"
