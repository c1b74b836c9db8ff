"""Reading a Teams message: ``Title:``, ``Priority:``, ``Description:`` from free text.

Pure (standard library only). ``teams_request(activity)`` takes the Bot Framework Activity of
a Teams outgoing webhook: the text (the ``text/html`` attachment when there is one, it keeps
the line breaks; mentions dropped, HTML and entities stripped, ``<br>``/``<p>`` as line
breaks), the field names in any case and with small typos forgiven when they name one field
only, the description running to the end. It gives an ``IntakeRequest`` or the problems,
and ``corrective_reply`` shows them with the format.
"""
from __future__ import annotations

import html.parser
import re
from dataclasses import dataclass
from typing import Any, Mapping

from syncd.core.intake import (MAX_DESCRIPTION, IntakeRequest, Problem, closest,
                               normalise_priority, title_problems)
from syncd.core.tickets import Requester

# Field labels of the Teams format, with the other names people use for them.
FIELDS = {
    "title": ("title", "subject"),
    "priority": ("priority", "prio", "severity", "urgency"),
    "description": ("description", "desc", "descr", "details", "detail", "body"),
}
FIELD_NAMES = {"title": "Title", "priority": "Priority", "description": "Description"}

TEAMS_FORMAT = ("Title: Printer on floor 3 jams on every job\n"
                "Priority: high   (low, normal, high or urgent)\n"
                "Description: What happened, since when, what you tried.\n"
                "It may take several lines.")


# --- text helpers ------------------------------------------------------------------------

class _TextOfHtml(html.parser.HTMLParser):
    """Text of an HTML fragment: block ends and ``<br>`` become line breaks, entities are
    decoded, and mentions (``<at>Name</at>`` in ``text``, ``<span itemtype=".../Mention">`` in
    the HTML) of the webhook itself are dropped; other mentions keep their name."""

    BREAKS = {"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote",
              "pre", "ul", "ol", "table"}

    def __init__(self, webhook: str | None) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.webhook = (webhook or "").strip().casefold() or None
        self._mention: list[str] | None = None   # the text of the mention being read
        self._depth = 0                           # tags open inside it
        self._mentions = 0

    def _is_mention(self, tag: str, attrs: Any) -> bool:
        return tag == "at" or (tag == "span" and any(
            k == "itemtype" and (v or "").endswith("/Mention") for k, v in attrs))

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if self._mention is not None:
            self._depth += 1
        elif self._is_mention(tag, attrs):
            self._mention, self._depth = [], 0
        elif tag == "br":
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in self.BREAKS:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: Any) -> None:
        if tag == "br" and self._mention is None:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if self._mention is not None:
            if self._depth:
                self._depth -= 1
                return
            name, self._mention = "".join(self._mention).strip(), None
            self._mentions += 1
            ours = name.casefold() == self.webhook if self.webhook else self._mentions == 1
            if not ours:
                self.parts.append(name)
        elif tag in self.BREAKS and tag != "br":
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        (self._mention if self._mention is not None else self.parts).append(data)


def text_of_html(fragment: str, webhook: str | None = None) -> str:
    """Plain text of a Teams message (HTML or plain, with mentions). ``webhook``: the name of
    the outgoing webhook, whose mentions are dropped (unknown: the first mention is)."""
    parser = _TextOfHtml(webhook)
    parser.feed(fragment or "")
    parser.close()
    text = "".join(parser.parts).replace("\xa0", " ").replace("\r\n", "\n").replace("\r", "\n")
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# --- Teams free text ---------------------------------------------------------------------

_LABEL = re.compile(r"(?P<start>^|(?<=\s))(?P<lead>[-*•>#\s]*)(?P<word>[A-Za-z][A-Za-z]{1,15})[ \t]*[:：]",
                    re.MULTILINE)
_SPELLINGS = {alias: name for name, aliases in FIELDS.items() for alias in aliases}


def _label_field(match: re.Match, text: str) -> str | None:
    word = match.group("word").lower()
    if word in _SPELLINGS:
        return _SPELLINGS[word]
    at_line_start = match.start("word") == 0 or \
        text[text.rfind("\n", 0, match.start("word")) + 1:match.start("word")].strip(" \t-*•>#") == ""
    return closest(word, _SPELLINGS) if at_line_start else None


def _labels(text: str) -> list[tuple[str, int, int]]:
    """``(field, label start, value start)`` in order, up to and with Description."""
    out = []
    for match in _LABEL.finditer(text):
        name = _label_field(match, text)
        if name is None:
            continue
        out.append((name, match.start("lead"), match.end()))
        if name == "description":
            break
    return out


@dataclass(frozen=True)
class TeamsText:
    """What a Teams message says (values as written), or the problems with it."""

    title: str | None
    priority: str | None
    description: str | None
    problems: tuple[Problem, ...] = ()
    priority_given: bool = True


def parse_teams_text(text: str, min_title: int = 15) -> TeamsText:
    """Read ``Title:``, ``Priority:`` and ``Description:`` from a message's plain text."""
    found: dict[str, str] = {}
    problems: list[Problem] = []
    labels = _labels(text)
    for index, (name, _start, value_at) in enumerate(labels):
        end = labels[index + 1][1] if index + 1 < len(labels) else len(text)
        value = text[value_at:end].strip()
        if name != "description":
            value = re.sub(r"\s+", " ", value).strip(" *_")
        if name in found and found[name] != value:
            problems.append(Problem(FIELD_NAMES[name], f"{FIELD_NAMES[name]} is given twice "
                                    f"('{found[name][:40]}' and '{value[:40]}'): give it once"))
            continue
        found[name] = value
    title = found.get("title")
    if not title:
        problems.append(Problem("Title", "Title is missing" if title is None else "Title is empty"))
    else:
        problems += title_problems("Title", title, min_title)
    priority_given = "priority" in found
    priority = "normal"
    if priority_given:
        priority, why = normalise_priority(found["priority"])
        if why:
            problems.append(Problem("Priority", f"Priority: {why}"))
    description = found.get("description")
    if not description:
        problems.append(Problem("Description", "Description is missing (it goes last and may "
                                "take several lines)" if description is None
                                else "Description is empty"))
    elif len(description) > MAX_DESCRIPTION:
        problems.append(Problem("Description", f"Description is too long ({len(description)} "
                                f"characters; at most {MAX_DESCRIPTION})"))
    return TeamsText(title, priority, description, tuple(problems), priority_given)


def teams_request(activity: Mapping[str, Any], min_title: int = 15) -> tuple[IntakeRequest | None,
                                                                          tuple[Problem, ...]]:
    """A Bot Framework Activity from a Teams outgoing webhook → a request, or its problems."""
    parsed = parse_teams_text(activity_text(activity), min_title)
    if parsed.problems:
        return None, parsed.problems
    sender = activity.get("from") if isinstance(activity.get("from"), Mapping) else {}
    email = sender.get("email") or sender.get("userPrincipalName")
    requester = Requester(name=str(sender.get("name") or "someone in Teams"),
                          email=email.lower() if isinstance(email, str) and "@" in email else None,
                          source="teams")
    extra = {k: sender.get(k) for k in ("id", "aadObjectId") if sender.get(k)}
    conversation = activity.get("conversation")
    if isinstance(conversation, Mapping) and conversation.get("id"):
        extra["conversation"] = str(conversation["id"])
    activity_id = activity.get("id")
    return IntakeRequest(
        source="teams", title=str(parsed.title), priority=str(parsed.priority),
        description=str(parsed.description), requester=requester,
        external_id=str(activity_id) if activity_id else None,
        priority_given=parsed.priority_given, requester_extra=extra), ()


def activity_text(activity: Mapping[str, Any]) -> str:
    """The message's text: the ``text/html`` attachment when there is one (it keeps the line
    breaks), else ``text``; mentions of the webhook (the Activity's ``recipient``) removed."""
    recipient = activity.get("recipient")
    webhook = recipient.get("name") if isinstance(recipient, Mapping) else None
    for attachment in activity.get("attachments") or []:
        if isinstance(attachment, Mapping) and attachment.get("contentType") == "text/html" \
                and isinstance(attachment.get("content"), str):
            return text_of_html(attachment["content"], webhook)
    text = activity.get("text")
    return text_of_html(text, webhook) if isinstance(text, str) else ""


# --- what Teams is answered ---------------------------------------------------------------

def accepted_reply(request: IntakeRequest, intake_id: int) -> str:
    """The Teams answer once the request is stored."""
    assumed = "" if request.priority_given else " (no priority was given, so normal)"
    return (f"Got it: **{request.title}**, priority **{request.priority}**{assumed}. "
            f"The helpdesk topic is on its way (request #{intake_id}).")


def duplicate_reply(intake_id: int) -> str:
    return f"This message was already received (request #{intake_id}); nothing was created twice."


def corrective_reply(problems: tuple[Problem, ...] | list[Problem]) -> str:
    """The Teams answer when nothing was stored: what is wrong, and the format."""
    lines = "\n".join(f"- {p.message}" for p in problems)
    fields = {p.field for p in problems}
    if fields == {"Title", "Description"} and all("missing" in p.message for p in problems):
        lines = "- I found no Title: or Description: in your message"   # "help", or a chat
    return ("I could not make a ticket of that, and saved nothing:\n\n" + lines +
            "\n\nTo ask the helpdesk, mention me and write, each on its own line:\n\n" +
            "\n\n".join(TEAMS_FORMAT.split("\n")))   # Teams' markdown: a line a paragraph
