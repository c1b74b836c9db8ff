"""Teams, end to end through the outbox against a Workflows-webhook stand-in that validates
every card against the Adaptive Card 1.4 schema (tests/reference/adaptive-card-1.4.json)."""
from __future__ import annotations

from zoneinfo import ZoneInfo

from standins import notify_params
from standins.outbox import channel_settings, done, drain, notify, outbox_rows, workers
from standins.teams import TeamsStandIn, card_errors, envelope_errors
from syncd.channels.teams import card, envelope


def _settings(tmp_path, teams, per_minute=60000):
    return channel_settings(tmp_path, f"  t: {{type: teams, url: '{teams.url}', "
                                      f"messages_per_minute: {per_minute}}}")


def test_every_card_is_a_valid_adaptive_card_1_4():
    """Public, private, with and without rule text or URL: all valid against the schema."""
    tz = ZoneInfo("Asia/Kolkata")
    for params in (notify_params(1, "t"), notify_params(2, "t", private=True),
                   notify_params(3, "t", text="Escalated: {{x}}"), notify_params(4, "t", url=None)):
        assert envelope_errors(envelope(card(params, tz))) == []


def test_the_schema_check_is_strict():
    """A misspelled element or a wrong version fails (the stand-in would refuse it)."""
    good = card(notify_params(1, "t"), ZoneInfo("UTC"))
    bad = {**good, "body": [{"type": "TextBlok", "text": "x"}]}
    assert card_errors(bad) and card_errors({**good, "version": "1.5"})
    assert card_errors({**good, "msteams": {"width": "Full"}})   # not in the 1.4 schema


def test_student_text_is_plain_text_runs():
    """Title and question are TextRuns (shown as typed), not markdown TextBlocks."""
    params = notify_params(9, "t", title="[click](https://evil.example) **now**", body="_hi_")
    body = card(params, ZoneInfo("UTC"))["body"]
    runs = [i for b in body if b["type"] == "RichTextBlock" for i in b["inlines"]]
    assert any(r["text"] == "[click](https://evil.example) **now**" for r in runs)
    assert not any("evil" in b.get("text", "") for b in body if b["type"] == "TextBlock")


def test_delivers_the_card_in_the_message_envelope(tmp_path):
    """The flow gets type=message with the card as attachments[0].content: 202 is sent."""
    with TeamsStandIn(limit=1000) as teams:
        settings = _settings(tmp_path, teams)
        notify(settings, 42, "t")
        drain(workers(settings), lambda: done(settings))
        assert [r["status"] for r in outbox_rows(settings)] == ["sent"]
        assert teams.invalid == [] and teams.cards[0]["card"]["version"] == "1.4"


def test_refusals_are_dead_with_the_fix_and_no_signature(tmp_path):
    """A wrong sig (401) and a deleted flow (404) are dead; the reason never shows the URL."""
    with TeamsStandIn(limit=1000) as teams:
        old = teams.url.replace("test-sig", "old-sig")
        settings = channel_settings(tmp_path, f"  t: {{type: teams, url: '{old}'}}")
        notify(settings, 1, "t")
        drain(workers(settings), lambda: done(settings))
        row = outbox_rows(settings)[0]
        assert row["status"] == "dead" and "401" in row["last_error"] and "update `url`" in row["last_error"]
        assert "old-sig-not-real" not in row["last_error"] and "/workflows/" not in row["last_error"]
        teams.deleted = True
        notify(settings, 2, "t")
        drain(workers(settings), lambda: done(settings))
        row = outbox_rows(settings)[1]
        assert row["status"] == "dead"
        assert "404" in row["last_error"]
        assert "create it again" in row["last_error"]


def test_outage_and_throttling_are_retried(tmp_path):
    """502 and 429 + Retry-After go back to the outbox; every card arrives once."""
    with TeamsStandIn(limit=1000) as teams:
        settings = _settings(tmp_path, teams)
        teams.down = True
        notify(settings, 1, "t")
        ws = workers(settings)
        ws[0].run_once()
        assert outbox_rows(settings)[0]["status"] == "pending"
        teams.down = False
        drain(ws, lambda: done(settings))
        assert len(teams.cards) == 1


def test_paced_under_four_a_second(tmp_path):
    """At 200 a minute (under the connectors' 4 a second) six cards meet no 429."""
    with TeamsStandIn(limit=4, window=1.0) as teams:
        settings = _settings(tmp_path, teams, per_minute=200)
        for i in range(6):
            notify(settings, 10 + i, "t")
        drain(workers(settings), lambda: done(settings))
        assert len(teams.cards) == 6 and teams.rejected_429 == 0
