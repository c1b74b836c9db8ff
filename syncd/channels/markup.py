"""Text written by students, made safe for each destination's markup: one function each.

A topic title ``<users/all>`` must not notify a whole Chat space, and ``<https://evil|Open
in Discourse>`` must not become a disguised link. Every channel passes student text (titles,
usernames, tags, post excerpts, rendered notify texts) through the function of its markup:

- ``chat``: Google Chat's text syntax (``MARKUP_SYNTAX_CHAT``, the default for incoming
  webhooks; developers.google.com/workspace/chat/format-messages): ``<users/…>`` mentions,
  ``<url|text>`` links, ``*bold*``, ``_italic_``, ``~strike~``, `` `code` ``, and ``>``
  quotes. The page documents no escape character, so the characters that open these are
  replaced by look-alikes that no parser reads as markup (``＜`` U+FF1C, ``＞`` U+FF1E,
  ``∗`` U+2217, ``＿`` U+FF3F, ``∼`` U+223C, ``ˋ`` U+02CB): the text reads the same, nothing
  in it is formatted, mentioned or linked.
- ``slack``: Slack's mrkdwn. ``&``, ``<`` and ``>`` become ``&amp;``, ``&lt;``, ``&gt;`` as
  Slack documents ("Escaping text" in its formatting reference), which disarms
  ``<!channel>``, ``<@U…>`` and ``<url|text>``; the formatting characters, which Slack
  cannot escape, get the same look-alikes as in Chat.
- ``html``: card widgets (Chat's cards take a subset of HTML), e-mail and web pages:
  ``html.escape`` with quotes.

Control characters (other than newline and tab) are dropped by all three. A rule's notify
text arrives with its interpolated values marked (``core/marks.py``): ``*_marked`` escape
those and keep the admin's own formatting; ``plain`` drops the marks.
"""
from __future__ import annotations

import html as _html
import re
from typing import Any

from syncd.core.marks import escape_marked, unmark

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LOOKALIKES = {"*": "\u2217", "_": "\uff3f", "~": "\u223c", "`": "\u02cb"}
_CHAT = str.maketrans({"<": "\uff1c", ">": "\uff1e", **_LOOKALIKES})
_SLACK = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", **_LOOKALIKES})


def _text(value: Any) -> str:
    return _CONTROL.sub("", "" if value is None else str(value))


def chat(value: Any) -> str:
    """For Google Chat's ``text``, ``fallbackText`` and card header: shown as written."""
    return _text(value).translate(_CHAT)


def slack(value: Any) -> str:
    """For Slack mrkdwn (``text`` and ``mrkdwn`` blocks)."""
    return _text(value).translate(_SLACK)


def html(value: Any) -> str:
    """For HTML: Chat card widgets, e-mail bodies, web pages."""
    return _html.escape(_text(value), quote=True)


def chat_marked(text: Any) -> str:
    """A rendered notify text for Chat: interpolated values escaped, the rest as written."""
    return escape_marked(_text(text), chat)


def slack_marked(text: Any) -> str:
    return escape_marked(_text(text), slack)


def html_marked(text: Any) -> str:
    """Everything escaped (an admin's HTML is not trusted either), marks dropped."""
    return html(unmark(text))


def plain(text: Any) -> str:
    """No markup at all (logs, e-mail subjects): the marks dropped, control characters too."""
    return _text(unmark(text))
