"""Intake beyond Discourse: what a Teams message or a form asks for, checked and normalised.

Pure (standard library only). ``check_form`` checks a form's JSON body field by field;
``teams_text.py`` reads a Teams message. Both give an ``IntakeRequest`` or a list of
``Problem`` (field, message) that the caller shows the person. Priorities are tolerant
(``normalise_priority``: case, ``medium`` for normal, small typos); ``topic_raw`` is the
first post of the topic syncd creates; ``choose_category`` says where it goes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from syncd.core.tickets import Requester

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


# --- tolerant matching -------------------------------------------------------------------

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


def title_problems(name: str, title: str, min_title: int) -> list[Problem]:
    if len(title) < min_title:
        return [Problem(name, f"{name} is too short ({len(title)} characters; the forum needs "
                        f"at least {min_title}): say what is wrong and where")]
    if len(title) > MAX_TITLE:
        return [Problem(name, f"{name} is too long ({len(title)} characters; at most {MAX_TITLE})")]
    return []


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
                     title_problems("title", title, min_title)]
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
