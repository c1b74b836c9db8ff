"""Shapes and ranges of a delivery, checked before anything else reads it.

Pure (standard library only). ``load_json`` parses a body without Python's surprises
(``NaN``, ``Infinity``, ``1e400``, nesting deep enough to exhaust the stack, lone surrogates);
``check_delivery`` checks the fields syncd reads against the shapes Discourse's serializers
give them (WebHookTopicViewSerializer, WebHookPostSerializer, WebHookLikeSerializer and
discourse-solved's payload, see ``webhooks/README.md``): ids are positive 64-bit integers
(user ids may be negative: Discourse's system user is -1),
counts are non-negative ones, text is text, times are ISO-8601. Fields syncd does not read
are left alone, so a new Discourse field never breaks a delivery. Every problem raises
``PayloadError`` naming the field, which the receiver answers with 400.
"""
from __future__ import annotations

import json
import math
from datetime import datetime
from collections.abc import Mapping   # not typing.Mapping: isinstance() is 5x faster
from typing import Any, Callable

from syncd.errors import PayloadError

MAX_ID = 2 ** 63 - 1          # SQLite's INTEGER, Discourse's bigint
MAX_DEPTH = 32                # Discourse's payloads nest 4 levels deep
MAX_TAGS = 100                # far above any site's max_tags_per_topic (events.py keeps fewer)
MAX_TEXT = 1024 * 1024        # no field is longer than the body limit anyway

TOPIC_KINDS = {"topic"}
POST_KINDS = {"post", "solved"}


def _bad_constant(name: str) -> float:
    raise PayloadError(f"body has {name}, which is not JSON (RFC 8259 has no NaN or Infinity)")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise PayloadError(f"body has the number {text[:40]}, too large for any field")
    return value


def load_json(body: bytes | str) -> Any:
    """``json.loads`` that refuses NaN, Infinity, numbers that overflow a float and
    nesting deeper than ``MAX_DEPTH``, with ``PayloadError`` instead of 500s."""
    try:
        data = json.loads(body, parse_constant=_bad_constant, parse_float=_float)
    except RecursionError:
        raise PayloadError(f"body nests deeper than {MAX_DEPTH} levels") from None
    except PayloadError:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"body is not JSON: {exc}") from exc
    if isinstance(data, (dict, list)) and _may_nest_deeper(body):
        _check_depth(data)
    return data


def _may_nest_deeper(body: bytes | str) -> bool:
    """False when the body has too few brackets to nest past ``MAX_DEPTH`` (every level
    opens one), so a usual delivery skips the walk; counting is C-speed."""
    if isinstance(body, str):
        return body.count("{") + body.count("[") > MAX_DEPTH
    return body.count(b"{") + body.count(b"[") > MAX_DEPTH


def _check_depth(data: Any) -> None:
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise PayloadError(f"body nests deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)


# --- field checks: each returns None when the value is fine, else what it must be -----------

def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def id_(v: Any) -> str | None:
    if _is_int(v) and 0 < v <= MAX_ID:
        return None
    if isinstance(v, str) and v.isdigit() and v.isascii() and 0 < int(v) <= MAX_ID:
        return None   # older plugins send ids as strings
    return "a positive 64-bit integer id"


def user_id(v: Any) -> str | None:
    """User ids may be negative: Discourse's system user is -1, discobot -2."""
    if _is_int(v) and -MAX_ID - 1 <= v <= MAX_ID:
        return None
    if isinstance(v, str) and v.lstrip("-").isdigit() and v.isascii() \
            and -MAX_ID - 1 <= int(v) <= MAX_ID:
        return None
    return "a 64-bit integer user id"


def count(v: Any) -> str | None:
    return None if _is_int(v) and 0 <= v <= MAX_ID else "a whole number, 0 or more, below 2**63"


def text(v: Any) -> str | None:
    if not isinstance(v, str):
        return "text"
    if len(v) > MAX_TEXT:
        return f"text of at most {MAX_TEXT} characters"
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        return "text without lone surrogates (\\ud800-\\udfff)"
    return None


def timestamp(v: Any) -> str | None:
    problem = text(v)
    if problem:
        return "an ISO-8601 time such as 2026-03-02T09:14:03.123Z"
    try:
        datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        return "an ISO-8601 time such as 2026-03-02T09:14:03.123Z"
    return None


def flag(v: Any) -> str | None:
    return None if isinstance(v, bool) else "true or false"


def anything(v: Any) -> str | None:
    return None


def user(v: Any) -> str | None:
    if not isinstance(v, Mapping):
        return "an object"
    return _first_problem(v, USER)


def tags(v: Any) -> str | None:
    if not isinstance(v, list):
        return "a list of tags"
    if len(v) > MAX_TAGS:
        return f"a list of at most {MAX_TAGS} tags"
    for tag in v:
        if isinstance(tag, Mapping):
            if any(k in tag and tag[k] is not None and text(tag[k]) for k in ("name", "slug")):
                return "a list of tag names or {id, name, slug} objects"
        elif text(tag):
            return "a list of tag names or {id, name, slug} objects"
    return None


def accepted(v: Any) -> str | None:
    if not isinstance(v, Mapping):
        return "an object"
    return _first_problem(v, {"post_id": id_})


Check = Callable[[Any], "str | None"]
USER: dict[str, Check] = {"id": user_id, "username": text, "name": text}
TOPIC: dict[str, Check] = {
    "id": id_, "title": text, "fancy_title": text, "slug": text, "category_id": id_,
    "user_id": user_id, "tags": tags, "closed": flag, "archived": flag, "visible": flag,
    "archetype": text, "created_at": timestamp, "last_posted_at": timestamp,
    "deleted_at": timestamp, "like_count": count, "posts_count": count,
    "created_by": user, "last_poster": user, "accepted_answer": accepted, "vote_count": count,
}
POST: dict[str, Check] = {
    "id": id_, "topic_id": id_, "post_number": count, "post_type": count, "raw": text,
    "created_at": timestamp, "updated_at": timestamp, "user_id": user_id, "username": text,
    "name": text, "staff": flag, "admin": flag, "moderator": flag, "trust_level": count,
    "primary_group_name": text, "topic_title": text, "topic_slug": text,
    "topic_archetype": text, "category_id": id_, "category_slug": text,
    "deleted_at": timestamp, "user_deleted": flag,
}
# discourse-topic-voting's and discourse-assign's payloads (see events.py for their sources)
VOTE: dict[str, Check] = {"topic_id": id_, "topic_slug": text, "voter_id": user_id,
                          "vote_count": count}
ASSIGN: dict[str, Check] = {
    "type": text, "topic_id": id_, "topic_title": text,
    **{f"{side}_{key}": check for side in ("assigned_by", "unassigned_by")
       for key, check in (("id", user_id), ("username", text))},
    **{f"{side}_{key}": check for side in ("assigned_to", "unassigned_to")
       for key, check in (("id", user_id), ("username", text), ("group_id", id_),
                          ("group_name", text))},
}
REQUIRED = {"topic": ("id",), "post": ("id", "topic_id"), "solved": ("id", "topic_id"),
            "topic_voting": ("topic_id",), "assign": ("topic_id",)}
OTHER_KINDS = {"topic_voting": VOTE, "assign": ASSIGN}


def _first_problem(obj: Mapping[str, Any], spec: Mapping[str, Check],
                   prefix: str = "") -> str | None:
    for key, check in spec.items():
        value = obj.get(key)
        if value is None:
            continue
        problem = check(value)
        if problem:
            return f"{prefix}{key} must be {problem}"
    return None


def check_payload(kind: str, payload: Any) -> None:
    """Raise ``PayloadError`` unless the ``kind`` payload has the shapes syncd reads."""
    if kind in TOPIC_KINDS:
        _check_object(kind, payload, TOPIC)
    elif kind in POST_KINDS:
        _check_object(kind, payload, POST)
    elif kind in OTHER_KINDS:
        _check_object(kind, payload, OTHER_KINDS[kind])
    elif kind == "like":
        if not isinstance(payload, Mapping):
            raise PayloadError("'like' must be an object")
        if not isinstance(payload.get("post"), Mapping):
            raise PayloadError("like.post must be an object (the liked post)")
        _check_object("like.post", payload["post"], POST, required=REQUIRED["post"])
        if not isinstance(payload.get("user"), Mapping):
            raise PayloadError("like.user must be an object (who liked)")
        _check_object("like.user", payload["user"], USER, required=("id",))


def _check_object(name: str, payload: Any, spec: Mapping[str, Check],
                  required: tuple[str, ...] | None = None) -> None:
    if not isinstance(payload, Mapping):
        raise PayloadError(f"'{name}' must be an object")
    for key in REQUIRED.get(name, ()) if required is None else required:
        if payload.get(key) is None:
            raise PayloadError(f"{name} payload is missing or has a bad field: "
                               f"{name}.{key} is missing")
    problem = _first_problem(payload, spec, f"{name}.")
    if problem:
        raise PayloadError(problem)


def check_event_kind(name: str, kind: str, expected: str | None) -> None:
    """``X-Discourse-Event`` must belong to ``X-Discourse-Event-Type`` (``post_created`` is a
    ``post`` event, ``expected``): a mismatch would hand one payload to another's parser."""
    if expected is not None and expected != kind:
        raise PayloadError(f"X-Discourse-Event {name!r} is a {expected!r} event, but "
                           f"X-Discourse-Event-Type says {kind!r}")
