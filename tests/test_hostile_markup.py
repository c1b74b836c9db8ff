"""Issue 18, finding 6: student text reaches Google Chat escaped for Chat's markup.

What must be escaped follows Google's "Format messages" page for Chat apps
(developers.google.com/workspace/chat/format-messages): in ``text`` Chat reads
``<users/…>`` mentions (``<users/all>`` is everyone), ``<url|text>`` links and
``*bold*``/``_italic_``/``~strike~``/```code```; card widgets take a subset of HTML.
"""
from __future__ import annotations

import json

import pytest

from standins import notify_params
from standins.gchat import message_errors
from syncd.channels import markup
from syncd.channels.gchat import message
from syncd.core.marks import CLOSE, OPEN, mark
from syncd.rules.templates import compile_template

HOSTILE = ["<users/all> printer down", "<https://evil.example/login|Open in Discourse>",
           "*bold* _it_ ~x~ `code`", "> quoted", "a <b>tag</b> & more"]
CHAT_MARKUP = ["<users/", "<https://", "*bold*", "_it_", "~x~", "`code`", "<b>"]


def _chat_markup_in(text: str) -> list[str]:
    return [m for m in CHAT_MARKUP if m in text] + (["> at line start"]
                                                    if text.lstrip().startswith(">") else [])


@pytest.mark.parametrize("title", HOSTILE)
def test_a_hostile_title_is_escaped_in_text_fallback_and_header(settings, title):
    """The title in text, fallbackText and the card header carries no Chat markup, and the
    card's widgets carry no HTML from it; the message still fits Chat's schema."""
    msg = message(notify_params(42, title=title), settings.tz)
    assert message_errors(msg) == []
    card = msg["cardsV2"][0]["card"]
    for field in (msg["text"], msg["fallbackText"], card["header"]["title"]):
        assert _chat_markup_in(field.split("#42 ", 1)[-1]) == [], field
    widgets = json.dumps(card["sections"])
    assert "<users/all>" not in widgets and "<https://evil" not in widgets
    assert "<b>tag</b>" not in widgets


def test_a_rule_text_keeps_the_admins_formatting_and_escapes_the_students():
    """A notify template's own `*Urgent*` and `<users/all>` stay; the title it interpolates
    is escaped."""
    t = compile_template("<users/all> *Urgent*: {{ ticket.title }}")
    marked = t.render({"ticket": {"title": "<users/all> *me*"}, "event": {}, "rule": {},
                       "similar": []}, marked=True)
    text = markup.chat_marked(marked)
    assert text.startswith("<users/all> *Urgent*: ")
    assert "<users/" not in text[len("<users/all>"):] and "*me*" not in text


def test_a_student_cannot_forge_the_marks():
    """Mark characters inside student text are removed before it is marked."""
    forged = f"{CLOSE}<users/all>{OPEN}"
    assert "<users/all>" not in markup.chat_marked("hi " + mark(forged))


def test_the_escapes_of_each_markup():
    """chat: look-alikes; slack: Slack's &amp; &lt; &gt; plus look-alikes; html: entities."""
    assert markup.chat("<users/all> *b*") == "\uff1cusers/all\uff1e \u2217b\u2217"
    assert markup.slack("<!channel> & *b*") == "&lt;!channel&gt; &amp; \u2217b\u2217"
    assert markup.html('<a href="x">') == "&lt;a href=&quot;x&quot;&gt;"
    assert markup.plain(f"a{OPEN}b{CLOSE}\x07") == "ab"


def test_the_rendered_notify_text_in_the_card_has_no_marks(settings):
    """The card paragraph shows the rule's text without the mark characters."""
    params = notify_params(42, text="x y")
    params["text_marked"] = f"x {mark('<y>')}"
    msg = message(params, settings.tz)
    assert OPEN not in json.dumps(msg) and CLOSE not in json.dumps(msg)
    assert msg["text"] == "x \uff1cy\uff1e"
