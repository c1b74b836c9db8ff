"""Google Chat notifier: the card, the thread, the request id, errors, pacing, no URL in logs."""
from __future__ import annotations

import json
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
import structlog

from standins import notify_params
from standins.gchat import message_errors
from syncd.config import ChannelSettings
from syncd.errors import PermanentError, TransientError
from syncd.channels import notifier_for, types
from syncd.channels.gchat import GoogleChatNotifier, message, request_url
from syncd.outbox.queue import Action
from syncd.outbox.pacing import TokenBucket

URL = "https://chat.googleapis.com/v1/spaces/AAAA/messages?key=SECRETKEY&token=SECRETTOKEN"


def _action(params=None, action_id=41, ticket_id=42):
    return Action(id=action_id, ticket_id=ticket_id, kind="notify",
                  params=params or notify_params(ticket_id), rule="r", delivery_id=None,
                  attempts=1, created_at="2026-03-02T09:14:08.000000Z")


def _notifier(settings, bucket=None, url=URL):
    channel = ChannelSettings(name="staff", type="gchat", url=url, messages_per_minute=6000)
    return GoogleChatNotifier(channel, settings, bucket or TokenBucket(6000, capacity=100))


def test_card_is_a_valid_chat_message_with_every_field(settings):
    """The card has priority, linked title, category, tags, author, likes, status, event time in
    the configured zone, a button, a text fallback and the ticket's thread; it fits the schema."""
    msg = message(notify_params(42), settings.tz)
    assert message_errors(msg) == []
    card = msg["cardsV2"][0]["card"]
    assert "HIGH" in card["header"]["subtitle"] and card["header"]["title"] == "Printer 42 on fire"
    texts = {w["decoratedText"]["topLabel"]: w["decoratedText"]["text"]
             for w in card["sections"][0]["widgets"]}
    assert texts["Ticket"].startswith('<a href="https://forum.example.com/t/printer-42-on-fire/42">')
    assert texts["Category"] == "support" and texts["Tags"] == "printer, urgent-ish"
    assert texts["Author"] == "alice" and texts["Likes"] == "3" and texts["Status"] == "open"
    assert texts["Event"] == "topic created · 2 Mar 2026, 14:44 IST"  # 09:14 UTC in Asia/Kolkata
    assert "&lt;on fire&gt; &amp; smoking" in json.dumps(card)
    button = card["sections"][-1]["widgets"][0]["buttonList"]["buttons"][0]
    assert button["text"] == "Open in Discourse"
    assert msg["thread"] == {"threadKey": "syncd-ticket-42"} and "Printer 42" in msg["text"]


def test_private_ticket_is_announced_without_its_body(settings):
    """A private ticket's card says it is private and carries none of its text."""
    msg = message(notify_params(42, private=True, body="my grades are 12/20"), settings.tz)
    assert message_errors(msg) == []
    assert "12/20" not in json.dumps(msg) and "Private ticket" in json.dumps(msg)


def test_rendered_rule_text_is_the_message_text(settings):
    """A notify with text shows that text, and the card still carries the ticket."""
    msg = message(notify_params(42, text="Escalated: **urgent**"), settings.tz)
    assert msg["text"] == "Escalated: **urgent**" and message_errors(msg) == []


def test_validator_rejects_unknown_fields_bad_enums_and_output_only_fields():
    """The discovery-schema validator fails unknown fields, wrong enums and read-only fields."""
    assert message_errors({"text": "x", "bogus": 1}) == ["Message: unknown field 'bogus'"]
    card = {"cardsV2": [{"card": {"sections": [{"widgets": [{"horizontalAlignment": "LEFT"}]}]}}]}
    assert "not one of" in message_errors(card)[0]
    assert "output only" in message_errors({"text": "x", "sender": {"name": "users/1"}})[0]
    assert "not a string" in message_errors({"text": 5})[0]


def test_request_url_keeps_key_and_token_and_adds_thread_and_request_id():
    """The webhook URL keeps its key and token and gains the reply option and the request id."""
    query = parse_qs(urlsplit(request_url(URL, "syncd-41-abc")).query)
    assert query == {"key": ["SECRETKEY"], "token": ["SECRETTOKEN"],
                     "messageReplyOption": ["REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"],
                     "requestId": ["syncd-41-abc"]}


@responses.activate
def test_send_posts_the_card_with_a_request_id_derived_from_the_action(settings):
    """send posts the valid card; the same action always carries the same requestId."""
    responses.post("https://chat.googleapis.com/v1/spaces/AAAA/messages",
                   json={"name": "spaces/AAAA/messages/m1", "thread": {"name": "spaces/AAAA/threads/t1"}})
    notifier = _notifier(settings)
    result = notifier.send(_action())
    notifier.send(_action())
    assert result == {"name": "spaces/AAAA/messages/m1", "thread": "spaces/AAAA/threads/t1"}
    first, second = (parse_qs(urlsplit(c.request.url).query) for c in responses.calls)
    assert first["requestId"] == second["requestId"] and first["requestId"][0].startswith("syncd-41-")
    assert message_errors(json.loads(responses.calls[0].request.body)) == []


@pytest.mark.parametrize("status,kind,words", [
    (401, PermanentError, "rotated"), (404, PermanentError, "no longer exists"),
    (400, PermanentError, "refused"), (503, TransientError, "503"), (429, TransientError, "429")])
@responses.activate
def test_answers_map_to_transient_or_permanent(settings, status, kind, words):
    """401/404/400 are permanent with a clear reason; 5xx and 429 are transient."""
    responses.post("https://chat.googleapis.com/v1/spaces/AAAA/messages", status=status,
                   json={"error": {"code": status, "message": "nope"}}, headers={"Retry-After": "7"})
    with pytest.raises(kind) as caught:
        _notifier(settings).send(_action())
    assert words in str(caught.value) and "SECRET" not in str(caught.value)
    if status == 429:
        assert caught.value.retry_after == 7


@responses.activate
def test_429_pauses_the_channels_bucket(settings):
    """After a 429 with Retry-After the channel sends nothing until that time has passed."""
    responses.post("https://chat.googleapis.com/v1/spaces/AAAA/messages", status=429,
                   headers={"Retry-After": "30"}, json={"error": {"code": 429}})
    bucket = TokenBucket(6000, capacity=10)
    notifier = _notifier(settings, bucket)
    with pytest.raises(TransientError):
        notifier.send(_action())
    with pytest.raises(TransientError) as caught:
        notifier.send(_action())
    assert len(responses.calls) == 1 and caught.value.retry_after > 25


def test_connection_error_is_transient_and_never_shows_the_url(settings):
    """A refused connection is transient and its message does not contain the webhook URL."""
    notifier = _notifier(settings, url="http://127.0.0.1:9/v1/spaces/AAAA/messages?key=SECRETKEY&token=SECRETTOKEN")
    with structlog.testing.capture_logs() as logged:
        with pytest.raises(TransientError) as caught:
            notifier.send(_action())
    assert "SECRET" not in str(caught.value) and "SECRET" not in json.dumps(logged, default=str)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_registry_knows_gchat_and_log(settings):
    """Channel types are found by name; a log channel renders a line."""
    assert {"gchat", "log"} <= set(types())
    log_channel = ChannelSettings(name="audit", type="log")
    notifier = notifier_for(log_channel, settings)
    assert notifier.send(_action())["text"].startswith("[high] #42 Printer 42 on fire")
    assert isinstance(notifier_for(SimpleNamespace(name="s", type="gchat", url="", dry_run=True,
                                                   messages_per_minute=60), settings),
                      GoogleChatNotifier)
