"""Slack, end to end through the outbox against the Slack stand-in (tests/standins/slack.py,
built from Slack's documented webhook and Web API answers)."""
from __future__ import annotations

import time

from standins import notify_params
from standins.outbox import channel_settings, done, drain, notify, outbox_rows, refs, workers
from standins.slack import SlackStandIn, block_errors
from syncd.channels.slack import blocks, mrkdwn
from syncd.outbox.queue import Action
from zoneinfo import ZoneInfo


def _webhook(tmp_path, slack, per_minute=60000):
    return channel_settings(tmp_path, f"  it: {{type: slack, url: '{slack.url}', "
                                      f"messages_per_minute: {per_minute}}}")


def _bot(tmp_path, slack, per_minute=60000, token=None):
    return channel_settings(tmp_path, f"  it: {{type: slack, token: {token or slack.token}, channel: "
                                      f"{slack.channel_id}, api_url: '{slack.api_url}', "
                                      f"messages_per_minute: {per_minute}}}")


def test_blocks_are_within_slacks_limits_and_escape_student_text():
    """The blocks pass the stand-in's Block Kit checks; <!channel> and & in a title are shown, not run."""
    params = notify_params(42, "it", title="Help <!channel> & <https://x|y>", body="x" * 5000)
    out = blocks(params, ZoneInfo("Asia/Kolkata"), "syncd-42-abc")
    assert block_errors(out) == []
    head = out[0]["text"]["text"]
    assert "<!channel>" not in head and "&lt;!channel&gt; &amp;" in head
    assert head.startswith("*<https://forum.example.com/t/printer-42-on-fire/42|")
    assert mrkdwn("a<b>&") == "a&lt;b&gt;&amp;"
    fields = [f["text"] for f in out[1]["fields"]]
    assert fields[0].startswith("*Priority*") and "high" in fields[0]
    assert any(b.get("block_id") == "syncd-42-abc" for b in out)


def test_private_ticket_body_is_not_sent():
    """A private ticket's question never reaches Slack."""
    params = notify_params(7, "it", private=True, body="my grades are secret")
    text = str(blocks(params, ZoneInfo("UTC"), "m"))
    assert "secret" not in text and "Private ticket" in text


def test_webhook_mode_delivers_with_a_text_fallback(tmp_path):
    """An incoming webhook gets blocks and a text fallback; the outbox marks it sent."""
    with SlackStandIn(limit=1000) as slack:
        settings = _webhook(tmp_path, slack)
        notify(settings, 42, "it", text="New ticket #42")
        drain(workers(settings), lambda: done(settings))
        assert [r["status"] for r in outbox_rows(settings)] == ["sent"]
        [msg] = slack.messages
        assert msg["text"] == "New ticket #42" and slack.invalid == []
        assert msg["blocks"][0]["type"] == "section"


def test_webhook_answers_map_to_dead_with_what_to_fix(tmp_path):
    """channel_not_found, channel_is_archived: dead at once, with the fix in the reason."""
    with SlackStandIn(limit=1000) as slack:
        settings = _webhook(tmp_path, slack)
        slack.deleted = True
        notify(settings, 1, "it")
        drain(workers(settings), lambda: done(settings))
        slack.deleted, slack.archived = False, True
        notify(settings, 2, "it")
        drain(workers(settings), lambda: done(settings))
        rows = outbox_rows(settings)
        assert [r["status"] for r in rows] == ["dead", "dead"]
        assert "404: channel_not_found" in rows[0]["last_error"] and "update `url`" in rows[0]["last_error"]
        assert "410: channel_is_archived" in rows[1]["last_error"] and "unarchive" in rows[1]["last_error"]
        assert "test-webhook-secret" not in rows[0]["last_error"]


def test_webhook_outage_and_429_are_retried_until_delivered(tmp_path):
    """rollup_error (500) and 429 + Retry-After go back to the outbox; delivered once after."""
    with SlackStandIn(limit=1000, retry_after=1) as slack:
        settings = _webhook(tmp_path, slack)
        slack.down = True
        notify(settings, 3, "it")
        ws = workers(settings)
        for w in ws:
            w.run_once()
        row = outbox_rows(settings)[0]
        assert row["status"] == "pending" and "answered 500" in row["last_error"]
        slack.down = False
        drain(ws, lambda: done(settings))
        assert len(slack.messages) == 1 and outbox_rows(settings)[0]["status"] == "sent"


def test_unknown_webhook_is_no_service(tmp_path):
    """A removed webhook (no_service) is dead with 'create a new one'."""
    with SlackStandIn() as slack:
        gone = f"{slack.base_url}/services/T/B/gone"
        settings = channel_settings(tmp_path, f"  it: {{type: slack, url: '{gone}'}}")
        notify(settings, 4, "it")
        drain(workers(settings), lambda: done(settings))
        row = outbox_rows(settings)[0]
        assert row["status"] == "dead"
        assert "no_service" in row["last_error"]
        assert "create a new one" in row["last_error"]
        assert "/services/" not in row["last_error"]


def test_bot_mode_keeps_one_thread_per_ticket(tmp_path):
    """The first notification starts the thread; later ones reply in it (thread_ts stored)."""
    with SlackStandIn(limit=1000) as slack:
        settings = _bot(tmp_path, slack)
        for _ in range(3):
            notify(settings, 42, "it")
        notify(settings, 43, "it")
        drain(workers(settings), lambda: done(settings))
        first = [m for m in slack.messages if m["thread_ts"] is None]
        assert len(first) == 2 and len(slack.messages) == 4
        replies = [m for m in slack.messages if m["thread_ts"]]
        assert {m["thread_ts"] for m in replies} == {first[0]["ts"]}
        assert refs(settings, "it")[(42, "thread_ts")] == first[0]["ts"]


def test_bot_mode_lost_answer_does_not_post_twice(tmp_path):
    """Slack posted but the answer was lost (502): the retry finds its marker and does not repost."""
    with SlackStandIn(limit=1000) as slack:
        settings = _bot(tmp_path, slack)
        notify(settings, 42, "it")
        notify(settings, 42, "it")
        slack.fail_after_post = 2      # both the thread's first message and a reply
        drain(workers(settings), lambda: done(settings))
        assert len(slack.messages) == 2
        assert [r["status"] for r in outbox_rows(settings)] == ["sent", "sent"]
        assert slack.messages[1]["thread_ts"] == slack.messages[0]["ts"]
        assert (42, "sending") not in refs(settings, "it")


def test_bot_mode_refusals_say_what_to_fix(tmp_path):
    """invalid_auth and not_in_channel are dead with the fix; the token is never in the reason."""
    with SlackStandIn(limit=1000) as slack:
        (tmp_path / "a").mkdir()
        settings = _bot(tmp_path / "a", slack, token="xoxb-wrong-token")
        notify(settings, 1, "it")
        drain(workers(settings), lambda: done(settings))
        row = outbox_rows(settings)[0]
        assert row["status"] == "dead"
        assert "invalid_auth" in row["last_error"]
        assert "update `token`" in row["last_error"]
        assert "xoxb" not in row["last_error"]
    with SlackStandIn(limit=1000) as slack:
        slack.members = set()
        (tmp_path / "b").mkdir()
        settings = _bot(tmp_path / "b", slack)
        notify(settings, 2, "it")
        drain(workers(settings), lambda: done(settings))
        assert "/invite" in outbox_rows(settings)[0]["last_error"]


def test_pacing_stays_under_one_a_second_without_429(tmp_path):
    """At Slack's 60 a minute, three messages take two seconds and meet no 429.

    The stand-in counts at receipt, so a message that arrived late (a loaded machine) would
    leave a gap under a second before the next one, sent on time: its window is 0.95 s, as
    Slack's own "about one a second, short bursts allowed" is no stricter. Unpaced, the
    three would arrive within milliseconds and two be refused."""
    with SlackStandIn(limit=1, window=0.95) as slack:
        settings = _webhook(tmp_path, slack, per_minute=60)
        for i in range(3):
            notify(settings, 100 + i, "it")
        ws = workers(settings)
        started = time.monotonic()
        drain(ws, lambda: done(settings))
        assert len(slack.messages) == 3 and slack.rejected_429 == 0
        assert time.monotonic() - started >= 2.0


def test_dry_run_without_url_or_token(tmp_path):
    """A slack channel without url or token renders and logs; nothing is sent."""
    settings = channel_settings(tmp_path, "  it: {type: slack}")
    assert settings.channels["it"].dry_run
    notify(settings, 5, "it")
    drain(workers(settings), lambda: done(settings))
    row = outbox_rows(settings)[0]
    assert row["status"] == "dry_run" and row["result"]["message"]["blocks"]


def test_bot_mode_needs_both_token_and_channel(tmp_path):
    """token without channel is a config error naming the line."""
    import pytest
    from syncd.errors import ConfigError
    with pytest.raises(ConfigError) as err:
        channel_settings(tmp_path, "  it: {type: slack, token: xoxb-1}")
    assert "config.yaml:" in str(err.value) and "channel" in str(err.value)


def test_action_key_is_the_marker():
    """The marker in the context block is the action's key."""
    a = Action(id=5, ticket_id=1, kind="notify", params=notify_params(1, "it"), rule=None,
               delivery_id=None, attempts=1, created_at="2026-03-02T09:00:00.000000Z")
    from syncd.channels.slack import marker
    assert marker(a) == f"syncd-{a.key}"


def test_rule_text_keeps_the_admins_mrkdwn_and_escapes_the_students():
    """In a notify text, the admin's *bold* stays; an interpolated title cannot <!channel>."""
    from syncd.channels.slack import message
    from syncd.core.marks import mark
    params = notify_params(42, "it", text="*Escalated*: " + mark("<!channel> *now*"))
    msg = message(params, ZoneInfo("UTC"), "m")
    assert msg["text"].startswith("*Escalated*: &lt;!channel&gt; ")
    assert "*now*" not in msg["text"] and "\ue000" not in str(msg)
