"""Intake beyond Discourse: what a Teams message or a form asks for, checked and normalised.

Pure (standard library only). ``parse_teams_text`` reads the free text of a Teams message
(``Title:``, ``Priority:``, ``Description:``: any case, small typos forgiven when they name
one field only, HTML and entities stripped, ``<br>``/``<p>`` as line breaks, the description
running to the end). ``check_form`` checks a form's JSON body field by field. Both give an
``IntakeRequest`` or a list of ``Problem`` (field, message) that the caller shows the person.
``topic_raw`` is the first post of the topic syncd creates; ``choose_category`` says where it
goes.
"""
from __future__ import annotations

import html.parser
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from syncd.core.tickets import PRIORITIES, Requester

MAX_TITLE = 255          # Discourse's max_topic_title_length default
MAX_DESCRIPTION = 32000  # Discourse's max_post_length default
MAX_TAGS = 10
EXTERNAL_ID_MAX = 200
SOURCE_LABELS = {"teams": "Teams", "form": "the helpdesk form"}

# Priority words and their meaning; ``medium`` is ``normal``. Typos are forgiven on top.
PRIORITY_WORDS = {
    "low": "low", "minor": "low",
    "normal": "normal", "medium": "normal", "med": "normal", "moderate": "normal",
    "high": "high", "major": "high",
    "urgent": "urgent", "critical": "urgent", "emergency": "urgent",
    "p1": "urgent", "p2": "high", "p3": "normal", "p4": "low",
}
PRIORITY_HELP = "low, normal (or medium), high, urgent"

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


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request: ``field`` as the client names it, and what to do."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


@dataclass(frozen=True)
class IntakeRequest:
    """A ticket someone asked for outside Discourse, ready to be stored."""

    source: str                      # teams | form
    title: str
    priority: str
    description: str
    requester: Requester
    category: str | int | None = None
    tags: tuple[str, ...] = ()
    external_id: str | None = None
    priority_given: bool = True      # False: none was given, ``normal`` was assumed
    requester_extra: Mapping[str, Any] = field(default_factory=dict)


# --- text helpers ------------------------------------------------------------------------

class _TextOfHtml(html.parser.HTMLParser):
    """Text of an HTML fragment: block ends and ``<br>`` become line breaks, mentions
    (``<at>Name</at>``) are dropped, entities decoded."""

    BREAKS = {"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote",
              "pre", "ul", "ol", "table"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._in_mention = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "at":
            self._in_mention += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in self.BREAKS:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: Any) -> None:
        if tag == "br":
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "at":
            self._in_mention = max(0, self._in_mention - 1)
        elif tag in self.BREAKS and tag != "br":
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._in_mention:
            self.parts.append(data)


def text_of_html(fragment: str) -> str:
    """Plain text of a Teams message (HTML or plain, with ``<at>`` mentions)."""
    parser = _TextOfHtml()
    parser.feed(fragment or "")
    parser.close()
    text = "".join(parser.parts).replace("\xa0", " ").replace("\r\n", "\n").replace("\r", "\n")
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def distance(a: str, b: str) -> int:
    """Edit distance counting a swap of two neighbours as one edit (optimal string alignment)."""
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            row[j] = min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], rows[-2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


def _allowed(word: str) -> int:
    return 1 if len(word) <= 5 else 2


def closest(word: str, choices: Mapping[str, str]) -> str | None:
    """The meaning of ``word`` among ``choices`` (spelling → meaning): exact, or the one
    meaning within a small edit distance. None when nothing is close or two meanings are."""
    word = word.lower()
    if word in choices:
        return choices[word]
    if len(word) < 3:
        return None
    best: dict[str, int] = {}
    for spelling, meaning in choices.items():
        if len(spelling) < 4:
            continue
        d = distance(word, spelling)
        if d <= _allowed(spelling) and d <= best.get(meaning, d):
            best[meaning] = d
    if not best:
        return None
    low = min(best.values())
    winners = [m for m, d in best.items() if d == low]
    return winners[0] if len(winners) == 1 else None


def normalise_priority(value: Any) -> tuple[str | None, str | None]:
    """``(priority, None)`` or ``(None, why not)``: case, ``medium``, typos forgiven."""
    if not isinstance(value, str) or not value.strip():
        return None, f"give one of {PRIORITY_HELP}"
    words = re.findall(r"[A-Za-z0-9]+", value)
    found = closest(words[0], PRIORITY_WORDS) if words else None
    if found is None:
        return None, f"'{value.strip()[:40]}' is not a priority: give one of {PRIORITY_HELP}"
    return found, None


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
        problems += _title_problems("Title", title, min_title)
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


def _title_problems(name: str, title: str, min_title: int) -> list[Problem]:
    if len(title) < min_title:
        return [Problem(name, f"{name} is too short ({len(title)} characters; the forum needs "
                        f"at least {min_title}): say what is wrong and where")]
    if len(title) > MAX_TITLE:
        return [Problem(name, f"{name} is too long ({len(title)} characters; at most {MAX_TITLE})")]
    return []


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
    breaks), else ``text``; mentions of the webhook removed."""
    for attachment in activity.get("attachments") or []:
        if isinstance(attachment, Mapping) and attachment.get("contentType") == "text/html" \
                and isinstance(attachment.get("content"), str):
            return text_of_html(attachment["content"])
    text = activity.get("text")
    return text_of_html(text) if isinstance(text, str) else ""


# --- form JSON -----------------------------------------------------------------------------

_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


def _text(data: Mapping[str, Any], key: str, problems: list[Problem], where: str | None = None,
          required: bool = True, longest: int = MAX_TITLE) -> str | None:
    where = where or key
    value = data.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.append(Problem(where, "is required" if value is None else "is empty"))
        return None
    if not isinstance(value, str):
        problems.append(Problem(where, f"must be a string, not {type(value).__name__}"))
        return None
    value = value.strip()
    if len(value) > longest:
        problems.append(Problem(where, f"is too long ({len(value)} characters; at most {longest})"))
        return None
    return value


def check_form(data: Any, min_title: int = 15,
               categories: tuple[Any, ...] | None = None) -> tuple[IntakeRequest | None,
                                                                    tuple[Problem, ...]]:
    """A form's JSON body → a request, or every problem with it (one per field).

    ``categories``: the slugs and ids a form may choose (None: any)."""
    if not isinstance(data, Mapping):
        return None, (Problem("body", "must be a JSON object"),)
    problems: list[Problem] = []
    title = _text(data, "title", problems)
    if title is not None:
        problems += [Problem("title", p.message.removeprefix("title ")) for p in
                     _title_problems("title", title, min_title)]
    priority = None
    if data.get("priority") is None:
        problems.append(Problem("priority", f"is required: one of {PRIORITY_HELP}"))
    else:
        priority, why = normalise_priority(data.get("priority"))
        if why:
            problems.append(Problem("priority", why))
    description = _text(data, "description", problems, longest=MAX_DESCRIPTION)
    requester = _requester(data.get("requester"), problems)
    category = _category(data.get("category"), categories, problems)
    tags = _tags(data.get("tags"), problems)
    external_id = data.get("external_id")
    if isinstance(external_id, int) and not isinstance(external_id, bool):
        external_id = str(external_id)
    if external_id is not None:
        if not isinstance(external_id, str) or not external_id.strip():
            problems.append(Problem("external_id", "must be a non-empty string"))
            external_id = None
        elif len(external_id) > EXTERNAL_ID_MAX:
            problems.append(Problem("external_id", f"is too long (at most {EXTERNAL_ID_MAX})"))
    if problems:
        return None, tuple(problems)
    return IntakeRequest(source="form", title=str(title), priority=str(priority),
                         description=str(description), requester=requester,  # type: ignore[arg-type]
                         category=category, tags=tags,
                         external_id=external_id.strip() if external_id else None), ()


def _requester(value: Any, problems: list[Problem]) -> Requester | None:
    if value is None:
        problems.append(Problem("requester", "is required: {name, email}"))
        return None
    if not isinstance(value, Mapping):
        problems.append(Problem("requester", "must be an object {name, email}"))
        return None
    name = _text(value, "name", problems, "requester.name")
    email = _text(value, "email", problems, "requester.email")
    if email is not None and not _EMAIL.match(email):
        problems.append(Problem("requester.email", f"'{email[:60]}' is not an email address"))
        email = None
    if name is None or email is None:
        return None
    return Requester(name=name, email=email.lower(), source="form")


def _category(value: Any, allowed: tuple[Any, ...] | None,
              problems: list[Problem]) -> str | int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        problems.append(Problem("category", "must be a category slug or id"))
        return None
    if isinstance(value, str):
        value = value.strip().lower()
        if value.isdigit():
            value = int(value)
    if allowed is not None and value not in allowed:
        slugs = sorted(str(a) for a in allowed if isinstance(a, str))
        problems.append(Problem("category", f"'{value}' is not a ticket category"
                                + (f" (choose one of: {', '.join(slugs)})" if slugs else "")))
        return None
    return value


def _tags(value: Any, problems: list[Problem]) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [v for v in re.split(r"[,;]", value) if v.strip()]
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        problems.append(Problem("tags", "must be a list of tag names"))
        return ()
    tags = tuple(dict.fromkeys(re.sub(r"\s+", "-", t.strip().lower()) for t in value if t.strip()))
    if len(tags) > MAX_TAGS:
        problems.append(Problem("tags", f"at most {MAX_TAGS} tags, not {len(tags)}"))
        return ()
    bad = [t for t in tags if len(t) > 100 or not re.fullmatch(r"[^\s/?#&,<>\"']+", t)]
    if bad:
        problems.append(Problem("tags", f"'{bad[0][:40]}' is not a tag name (no spaces, slashes "
                                "or quotes)"))
        return ()
    return tags


# --- what syncd creates and answers -------------------------------------------------------

def choose_category(priority: str, chosen: str | int | None,
                    by_priority: Mapping[str, str | int], default: str | int | None) -> str | int | None:
    """The form's own choice, else ``categories_by_priority``, else ``category``."""
    if chosen not in (None, ""):
        return chosen
    if priority in by_priority:
        return by_priority[priority]
    return default


def topic_raw(description: str, requester: Requester, source: str, as_requester: bool) -> str:
    """The first post: the description, then who asked (when syncd posts for them)."""
    via = SOURCE_LABELS.get(source, source)
    if as_requester:
        return f"{description.rstrip()}\n\n<small>Sent through {via}.</small>"
    return f"{description.rstrip()}\n\n---\nReported by {requester.name or 'someone'} via {via}"


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
    return ("I could not make a ticket of that, and saved nothing:\n\n" + lines +
            "\n\nWrite it like this, each on its own line, mentioning me first:\n\n" +
            "\n".join(TEAMS_FORMAT.split("\n")))


__all__ = ["IntakeRequest", "PRIORITIES", "Problem", "accepted_reply", "check_form",
           "choose_category", "corrective_reply", "normalise_priority", "parse_teams_text",
           "teams_request", "text_of_html", "topic_raw"]
