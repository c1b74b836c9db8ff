"""The outbox action ``create_intake_topic``: a Teams message or a form becomes a topic.

``POST /posts.json`` with ``title``, ``raw``, ``category`` (an id) and ``external_id =
intake-<id>``. Exactly once: a retry (the worker crashed after posting, or Discourse timed
out) first looks up ``GET /t/external_id/intake-<id>.json`` (a 301 to the topic) and, when
the topic is there, takes it instead of posting again; a 422 "External has already been
taken" is treated the same way. Discourse's titles are unique: when two people ask
about the same thing in the same words ("Title has already been used"), the second topic's
title gets its request number.

Who posts: when the requester's email belongs to an active forum user (``GET
/admin/users/list/active.json?email=``, AdminUserIndexQuery's exact match on the primary
email; staged, suspended and deactivated users are skipped), the topic is posted as that
user (``Api-Username``: a global API key, or one for all users, may act as anyone). Otherwise,
or when the key may not look users up or act as them (403), syncd's own API user posts it
with a "Reported by NAME via Teams" line.
"""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from syncd import logs
from syncd.core.intake import topic_raw
from syncd.core.tickets import Requester
from syncd.errors import PermanentError

log = logs.get("syncd.discourse.intake")
USERS_PATH = "/admin/users/list/active.json"


def _loose(title: Any) -> str:
    """Titles compared as Discourse may have cleaned them (case, spacing, punctuation)."""
    return re.sub(r"[\W_]+", "", str(title or "")).casefold()


def find_user(gw: Any, email: str | None) -> str | None:
    """The username of the active forum user with this primary email, if any."""
    if not email:
        return None
    try:
        found = gw._call("GET", USERS_PATH, email=email)
    except PermanentError as exc:
        log.warning("intake_user_lookup_refused", status=exc.status, error=str(exc),
                    hint="the API key cannot list users (scope users:list): topics are posted "
                         "by the API user with a 'Reported by' line")
        return None
    for user in found if isinstance(found, list) else []:
        if not isinstance(user, dict) or not user.get("username"):
            continue
        if user.get("staged") or user.get("active") is False or user.get("suspended_till") \
                or user.get("suspended_at"):
            continue
        return str(user["username"])
    return None


def second_title(params: dict[str, Any]) -> str:
    """The title used when the forum already has a topic with the first (titles are unique
    unless allow_duplicate_topic_titles): the same words and the request number."""
    suffix = f" (request #{params['intake_id']})"
    return params["title"][:255 - len(suffix)].rstrip() + suffix


def existing(gw: Any, external_id: str, title: str | tuple[str, ...]) -> dict[str, Any] | None:
    """The topic made for this intake by an earlier attempt, if Discourse has it."""
    topic = gw._call("GET", f"/t/external_id/{quote(external_id, safe='')}.json",
                     missing_ok=True, follow=True)
    if not isinstance(topic, dict) or not topic.get("id"):
        return None
    titles = (title,) if isinstance(title, str) else title
    if _loose(topic.get("title")) not in {_loose(t) for t in titles}:
        raise PermanentError(f"Discourse already has topic {topic['id']} with external_id "
                             f"{external_id} but another title ({topic.get('title')!r}): was "
                             "syncd's database replaced? Rename that topic's external_id or "
                             "delete it, then retry this action")
    details = topic.get("details") or {}
    created_by = (details.get("created_by") or {}).get("username")
    return {"topic_id": int(topic["id"]), "slug": topic.get("slug"), "posted_as": created_by,
            "already_posted": True}


def create_topic(gw: Any, params: dict[str, Any], retrying: bool) -> dict[str, Any]:
    """Carry out one ``create_intake_topic`` action; returns what to keep as its result."""
    found = existing(gw, params["external_id"], _titles(params)) if retrying else None
    if found is None:
        found = _post(gw, params)
    slug = found.pop("slug", None) or "topic"
    found["topic_url"] = f"{gw.base_url}/t/{slug}/{found['topic_id']}"
    found["intake_id"] = params["intake_id"]
    return found


def _titles(params: dict[str, Any]) -> tuple[str, str]:
    return params["title"], second_title(params)


def _post(gw: Any, params: dict[str, Any]) -> dict[str, Any]:
    requester = Requester.from_dict(params.get("requester")) or Requester()
    cat_id = gw.category_id(params.get("category"), params.get("category_id")) \
        if params.get("category") not in (None, "") else params.get("category_id")
    fields: dict[str, Any] = {"title": params["title"], "external_id": params["external_id"]}
    if cat_id is not None:
        fields["category"] = int(cat_id)
    if params.get("tags"):
        fields["tags"] = list(params["tags"])
    user = find_user(gw, requester.email)
    if user is not None:
        try:
            data = _create(gw, params, {**fields, "raw": topic_raw(
                params["description"], requester, params["source"], True)}, user)
            return _result(data, user)
        except PermanentError as exc:
            if exc.status != 403:
                raise
            log.warning("intake_post_as_user_refused", user=user, error=str(exc),
                        hint="the API key may not act as other users (use a global key, or "
                             "one for all users): posted by the API user instead")
    data = _create(gw, params, {**fields, "raw": topic_raw(
        params["description"], requester, params["source"], False)}, None)
    return _result(data, gw.username)


def _create(gw: Any, params: dict[str, Any], fields: dict[str, Any],
            user: str | None) -> dict[str, Any]:
    try:
        return gw._call("POST", "/posts.json", as_user=user, **fields) or {}
    except PermanentError as exc:
        words = str(exc).lower()
        if exc.status == 422 and "external" in words:
            found = existing(gw, params["external_id"], _titles(params))
            if found is not None:
                return {"topic_id": found["topic_id"], "topic_slug": found.get("slug"),
                        "username": found.get("posted_as"), "already_posted": True}
        if exc.status == 422 and "already been used" in words and \
                fields["title"] != second_title(params):   # two people, one problem
            log.info("intake_title_taken", intake_id=params["intake_id"],
                     hint="the forum has a topic with this title: posted with the request number")
            return _create(gw, params, {**fields, "title": second_title(params)}, user)
        raise


def _result(data: dict[str, Any], posted_as: str | None) -> dict[str, Any]:
    if data.get("action") == "enqueued":   # NewPostManager sent it to the review queue
        pending = (data.get("pending_post") or {}).get("id")
        raise PermanentError(f"Discourse put {posted_as}'s topic in its review queue (pending "
                             f"post {pending}): approve it there (it then becomes a ticket "
                             "without this intake's link), or let that category take new "
                             "topics from this user without approval")
    if not data.get("topic_id"):
        raise PermanentError(f"Discourse answered POST /posts.json without a topic_id: {data!r:.200}")
    out = {"topic_id": int(data["topic_id"]), "post_id": data.get("id"),
           "slug": data.get("topic_slug"), "posted_as": data.get("username") or posted_as}
    if data.get("already_posted"):
        out["already_posted"] = True
    return out
