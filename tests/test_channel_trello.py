"""Trello, end to end through the outbox against a stand-in of Trello's REST API
(tests/standins/trello.py: key/token auth, 300/10 s per key, 100/10 s per token, 429 bodies)."""
from __future__ import annotations

from standins.outbox import (FakeClock, channel_settings, done, drain, fake_pacing, notify, outbox_rows, refs,
                             workers)
from standins.trello import TrelloStandIn

LISTS = "{urgent: L-urgent, high: L-high, normal: L-normal, low: L-low, closed: L-closed}"
LABELS = "{urgent: LB-urgent, high: LB-high, normal: LB-normal, low: LB-low}"


def _settings(tmp_path, trello, per_minute=60000, token=None):
    return channel_settings(tmp_path, (
        f"  board: {{type: trello, key: {trello.key}, token: {token or trello.token}, lists: {LISTS},"
        f" labels: {LABELS}, api_url: '{trello.api_url}', messages_per_minute: {per_minute}}}"))


def test_one_card_per_ticket_in_its_prioritys_list(tmp_path):
    """A new ticket makes one card in its priority's list, labelled, with the topic attached."""
    with TrelloStandIn() as trello:
        settings = _settings(tmp_path, trello)
        notify(settings, 42, "board", priority="urgent")
        drain(workers(settings), lambda: done(settings))
        [card] = trello.cards.values()
        assert card["idList"] == "L-urgent" and card["idLabels"] == ["LB-urgent"]
        assert card["attachments"] == [{"url": "https://forum.example.com/t/printer-42-on-fire/42"}]
        assert "syncd-ticket-42" in card["desc"] and card["name"] == "#42 Printer 42 on fire"
        assert refs(settings, "board")[(42, "card")] == card["id"]


def test_priority_change_moves_the_card_and_close_archives_it(tmp_path):
    """Later notifications update the same card: moved to the new list, archived on close."""
    with TrelloStandIn() as trello:
        settings = _settings(tmp_path, trello)
        notify(settings, 42, "board", priority="normal")
        notify(settings, 42, "board", priority="high")
        ws = workers(settings)
        drain(ws, lambda: done(settings))
        [card] = trello.cards.values()
        assert card["idList"] == "L-high" and card["idLabels"] == ["LB-high"] and not card["closed"]
        notify(settings, 42, "board", priority="high", status="closed")
        drain(ws, lambda: done(settings))
        assert len(trello.cards) == 1 and card["closed"] and card["idList"] == "L-closed"


def test_lost_answer_after_create_finds_the_card_by_its_marker(tmp_path):
    """Trello made the card but the answer was lost (504): the retry finds it, no second card."""
    with TrelloStandIn() as trello:
        settings = _settings(tmp_path, trello)
        trello.fail_after_create = 1
        notify(settings, 42, "board")
        drain(workers(settings), lambda: done(settings))
        assert len(trello.cards) == 1 and outbox_rows(settings)[0]["status"] == "sent"
        assert refs(settings, "board")[(42, "card")] == next(iter(trello.cards))
        assert any(m == "GET" and p.startswith("/1/lists/") for m, p, _ in trello.calls)


def test_card_deleted_in_trello_is_made_again(tmp_path):
    """A card someone deleted (404) is created again rather than the action dying."""
    with TrelloStandIn() as trello:
        settings = _settings(tmp_path, trello)
        notify(settings, 42, "board")
        ws = workers(settings)
        drain(ws, lambda: done(settings))
        trello.cards.clear()
        notify(settings, 42, "board", priority="urgent")
        drain(ws, lambda: done(settings))
        assert [c["idList"] for c in trello.cards.values()] == ["L-urgent"]


def test_bad_token_and_bad_list_are_dead_with_the_fix(tmp_path):
    """401 invalid token: 'update key and token'; a list id Trello does not know: 'check lists'."""
    with TrelloStandIn() as trello:
        settings = _settings(tmp_path, trello, token="wrong-token")
        notify(settings, 1, "board")
        drain(workers(settings), lambda: done(settings))
        row = outbox_rows(settings)[0]
        assert row["status"] == "dead" and "update key and token" in row["last_error"]
        assert "wrong-token" not in row["last_error"] and trello.key not in row["last_error"]
    with TrelloStandIn(lists=("L-other",)) as trello:
        (tmp_path / "b").mkdir()
        settings = _settings(tmp_path / "b", trello)
        notify(settings, 2, "board")
        drain(workers(settings), lambda: done(settings))
        row = outbox_rows(settings)[0]
        assert row["status"] == "dead" and "check the list and label ids" in row["last_error"]


def test_429_is_retried_after_a_pause(tmp_path):
    """A 429 (API_TOKEN_LIMIT_EXCEEDED, no Retry-After) goes back to the outbox; delivered later."""
    clock = FakeClock()
    with TrelloStandIn(token_limit=1, window=10.0, clock=clock) as trello:
        settings = _settings(tmp_path, trello)
        notify(settings, 1, "board")
        notify(settings, 2, "board")
        ws = workers(settings)
        fake_pacing(ws, clock)
        drain(ws, lambda: done(settings), clock=clock)
        assert len(trello.cards) == 2 and trello.rejected_429 >= 1
        assert all(r["status"] == "sent" for r in outbox_rows(settings))


def test_paced_under_the_token_limit(tmp_path):
    """At 290 requests a minute against a 5-a-second token limit, no 429 at all."""
    with TrelloStandIn(token_limit=5, window=1.0) as trello:
        settings = _settings(tmp_path, trello, per_minute=290)
        for i in range(8):
            notify(settings, 10 + i, "board")
        drain(workers(settings), lambda: done(settings))
        assert len(trello.cards) == 8 and trello.rejected_429 == 0


def test_unconfigured_board_is_dry_run(tmp_path):
    """Without key, token or lists the channel renders the card and sends nothing."""
    settings = channel_settings(tmp_path, "  board: {type: trello}")
    notify(settings, 3, "board")
    drain(workers(settings), lambda: done(settings))
    assert outbox_rows(settings)[0]["status"] == "dry_run"
