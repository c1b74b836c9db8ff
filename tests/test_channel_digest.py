"""Digests and scheduled summaries (``summaries.digest_params``, issue 13) through the other
channel types: a list of tickets, never a bogus ticket #0 card, thread or Trello card."""
from __future__ import annotations

from zoneinfo import ZoneInfo

from standins import add_action
from standins.outbox import channel_settings, done, drain, outbox_rows, workers
from standins.slack import SlackStandIn, block_errors
from standins.teams import TeamsStandIn, envelope_errors
from standins.trello import TrelloStandIn
from syncd.channels.email import compose
from syncd.channels.slack import message
from syncd.channels.teams import card, envelope
from syncd.outbox.queue import Action
from syncd.store.db import Store, transaction
from syncd.timers.summaries import digest_params

HELD = [{"params": {"ticket": {"id": 7, "title": "Wi-Fi <down>", "url": "https://forum.example.com/t/wifi/7",
                               "priority": "low", "status": "open"},
                    "event": {"name": "topic_created", "at": "2026-03-02T09:00:00Z"}, "text": "t"}},
        {"params": {"ticket": {"id": 8, "title": "Printer", "priority": "normal"},
                    "event": {"name": "post_created", "at": "2026-03-02T09:05:00Z"}}}]
PARAMS = digest_params("c", HELD, "2026-03-02T09:30:00Z")


def _action(params=PARAMS):
    return Action(id=3, ticket_id=0, kind="notify", params=params, rule=None, delivery_id=None,
                  attempts=1, created_at="2026-03-02T09:30:00.000000Z")


def test_slack_and_teams_list_the_tickets_of_a_digest():
    """Slack's blocks and Teams' card list each held ticket, valid for both services."""
    msg = message(PARAMS, ZoneInfo("UTC"), "m")
    assert block_errors(msg["blocks"]) == []
    listed = msg["blocks"][-2]["text"]["text"]
    assert "*LOW* #7 <https://forum.example.com/t/wifi/7|Wi-Fi &lt;down&gt;>" in listed
    assert "#8 Printer" in listed
    teams = envelope(card(PARAMS, ZoneInfo("UTC")))
    assert envelope_errors(teams) == []
    body = teams["attachments"][0]["content"]["body"]
    facts = [f for b in body if b["type"] == "FactSet" for f in b["facts"]]
    assert [f["title"] for f in facts] == ["LOW #7", "NORMAL #8"]


def test_email_lists_the_tickets_escaped():
    """The e-mail digest lists both tickets, the HTML part escaped."""
    msg = compose(_action(), {"from": "h@example.edu", "to": ["a@example.edu"]}, ZoneInfo("UTC"))
    plain = msg.get_body(("plain",)).get_content()
    assert "- [LOW] #7 Wi-Fi <down> https://forum.example.com/t/wifi/7" in plain
    assert "Wi-Fi &lt;down&gt;</a>" in msg.get_body(("html",)).get_content()


def test_a_digest_is_not_a_thread_or_a_card(tmp_path):
    """Slack's bot posts a digest at the top level (no thread kept); Trello skips it."""
    with SlackStandIn(limit=1000) as slack, TrelloStandIn() as trello, TeamsStandIn(limit=100) as teams:
        settings = channel_settings(tmp_path, (
            f"  c: {{type: slack, token: {slack.token}, channel: {slack.channel_id},\n"
            f"       api_url: '{slack.api_url}'}}\n"
            f"  b: {{type: trello, key: {trello.key}, token: {trello.token}, lists: {{normal: L-normal}},"
            f" api_url: '{trello.api_url}'}}\n  t: {{type: teams, url: '{teams.url}'}}"))
        for name in ("c", "b", "t"):
            store = Store(settings.resolve(settings.database))
            with transaction(store.db()) as conn:
                add_action(conn, 0, "notify", {**PARAMS, "channel": name})
        drain(workers(settings), lambda: done(settings))
        rows = outbox_rows(settings)
        assert [r["status"] for r in rows] == ["sent", "sent", "sent"]
        assert len(slack.messages) == 1 and slack.messages[0]["thread_ts"] is None
        assert trello.cards == {} and "not a ticket" in rows[1]["result"]["skipped"]
        assert len(teams.cards) == 1 and teams.invalid == []
