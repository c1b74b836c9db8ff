"""``DiscourseGateway``: the actions syncd takes in Discourse, over pydiscourse.

A thin adapter. Every call goes through ``_call``, which
- paces under ``api_calls_per_minute × delivery_share`` (all admin keys of a site share one
  budget of 60 calls a minute) with a token bucket shared by the delivery workers;
- passes a timeout (pydiscourse waits forever by default);
- answers 429 itself: pydiscourse would sleep-retry four times blindly, so a response hook
  raises on the first 429, the bucket pauses for ``Retry-After`` / ``extras.wait_seconds``
  and the action goes back to the outbox;
- maps failures: connection errors, timeouts, 429 and 5xx are ``TransientError``; other
  4xx are ``PermanentError`` (403 names the API-key scope that is missing).

Idempotency (an action may be taken again after a crash): replies carry a hidden marker
``<!-- syncd:action:KEY -->`` and, when an action is retried, the topic's posts by the API
user (matched ignoring case, as Discourse matches ``Api-Username``) are read for it before
posting again, newest first and back to the action's creation however busy the topic; new
topics (a message to the author, an FAQ copy) carry ``external_id = syncd-KEY`` and a retry
looks that id up first. Changes of state (category, tags, status, visibility) are idempotent
by nature: the topic is read and only what differs is changed. Before each change that comes
back as a webhook, ``expect`` records the echo (``syncd/echoes.py``). See docs/delivery.md."""
from __future__ import annotations

import re
import threading
import time
from typing import Any, Callable

import requests
from pydiscourse import DiscourseClient
from pydiscourse.exceptions import DiscourseError

from syncd import logs
from syncd.clock import parse
from syncd.core import version as versions
from syncd.errors import PermanentError, SyncdError, TransientError
from syncd.discourse import categorylist
from syncd.discourse.actions import Expect, GatewayActions
from syncd.discourse.assign import AssignActions
from syncd.outbox.pacing import TokenBucket
from syncd.store import site
from syncd.store.db import transaction

log = logs.get("syncd.discourse")
MAX_INLINE_WAIT = 10.0
RECENT_POSTS = 20          # posts a chunk of /t/{id}/posts.json
MARKER_SEARCH_POSTS = 2000  # how far back a retry looks for its marker, at most
CLOCK_SKEW = 600.0          # syncd's and Discourse's clocks may differ this much (seconds)
ABOUT_TTL_SECONDS = 3600.0
CATEGORY_TTL_SECONDS = 3600.0
DEFAULT_WAIT = 10.0

SCOPES = [  # (verb, path pattern, the granular API-key scope it needs)
    ("POST", r"^/posts\.json$", "topics:write"),
    ("PUT", r"^/t/-/\d+\.json$", "topics:update"),
    ("PUT", r"^/t/\d+/status\.json$", "topics:update"),
    ("PUT", r"^/t/\d+/convert-topic/", "a global key (no granular scope covers convert-topic)"),
    ("POST", r"^/t/\d+/invite-group\.json$", "a global key (no granular scope covers invite-group)"),
    ("GET", r"^/categories\.json$", "categories:list"),
    ("GET", r"^/t/", "topics:read"),
    ("GET", r"^/posts/", "global read (GET /posts/{id}.json)"),
    ("GET", r"^/admin/users/list/", "users:list (or a global key)"),
]


def scope_for(verb: str, path: str) -> str:
    for method, pattern, scope in SCOPES:
        if method == verb and re.search(pattern, path):
            return scope
    return "a global key"


class _RateLimited(Exception):
    def __init__(self, wait: float, code: str):
        super().__init__(f"rate limited ({code}), wait {wait:g}s")
        self.wait, self.code = wait, code


def wait_seconds(response: requests.Response) -> float:
    """How long Discourse asked us to wait: ``Retry-After``, else ``extras.wait_seconds``."""
    try:
        return max(0.0, float(response.headers["Retry-After"]))
    except (KeyError, ValueError):
        pass
    try:
        return max(0.0, float(response.json()["extras"]["wait_seconds"]))
    except (ValueError, KeyError, TypeError):
        return DEFAULT_WAIT


def _stop_at_429(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
    if response.status_code == 429:
        raise _RateLimited(wait_seconds(response),
                           response.headers.get("Discourse-Rate-Limit-Error-Code", "unknown"))
    return response


class _Client(DiscourseClient):
    """pydiscourse with a response hook that stops its blind sleep-retry of 429s."""

    def _request(self, verb, path, params=None, files=None, data=None, json=None,
                 override_request_kwargs=None):
        extra = {"hooks": {"response": [_stop_at_429]}, **(override_request_kwargs or {})}
        return super()._request(verb, path, params=params, files=files, data=data, json=json,
                                override_request_kwargs=extra)


def _errors(response: requests.Response | None) -> str:
    try:
        data = response.json()
        errors = data.get("errors") or ([data["error"]] if data.get("error") else [])
        return "; ".join(map(str, errors))[:300]   # plugins (discourse-assign) send "error"
    except (ValueError, AttributeError):
        return ""


def _refused(verb: str, path: str, exc: DiscourseError) -> Exception:
    response = exc.response
    status = getattr(response, "status_code", None)
    what = f"{verb} {path}"
    if status is None or status >= 500:
        return TransientError(f"Discourse answered {status} to {what}: {exc}")
    if status == 403:
        return PermanentError(f"Discourse refused {what} (403): the API key lacks the scope "
                              f"{scope_for(verb, path)}, or its user is not staff. Give the "
                              f"key that scope (or use a global key). "
                              f"{_errors(response)}".strip(), status)
    if status in (301, 302):
        return PermanentError(f"Discourse redirected {what} ({status}): check discourse.url "
                              "and the API key", status)
    return PermanentError(f"Discourse refused {what} ({status}): {_errors(response) or exc}",
                          status)


class DiscourseGateway(GatewayActions, AssignActions):
    """Discourse actions for the delivery workers; safe to share between threads."""

    def __init__(self, settings: Any, bucket: TokenBucket | None = None,
                 client: DiscourseClient | None = None, store: Any = None):
        d = settings.discourse
        self.base_url, self.username = d.url.rstrip("/"), d.api_username
        self.staff_groups = tuple(d.staff_groups)
        self.client = client or _Client(d.url, api_username=d.api_username, api_key=d.api_key,
                                        timeout=d.timeout_seconds)
        rate = max(1.0, d.api_calls_per_minute * d.delivery_share)
        self.bucket = bucket or TokenBucket(rate, capacity=min(3.0, rate))
        self._categories: dict[str, int] = {}
        self._categories_at = 0.0
        self._lock = threading.Lock()
        self._local = threading.local()   # each worker thread's lease keeper
        self.store = store                 # where the forum's version is remembered
        self._about: tuple[float, str | None] | None = None

    def keep_lease(self, renew: Callable[[], None] | None) -> Callable[[], None] | None:
        """Call ``renew`` before every request of this thread: a slow action renews its
        outbox lease, and stops if another worker has taken it over. Returns the previous
        one, to put back afterwards."""
        previous = getattr(self._local, "renew", None)
        self._local.renew = renew
        return previous

    # --- one call ------------------------------------------------------------------------

    def _call(self, verb: str, path: str, *, missing_ok: bool = False,
              follow: bool = False, as_user: str | None = None, **fields: Any) -> Any:
        if self.bucket.acquire(max_wait=MAX_INLINE_WAIT) is None:
            raise TransientError("Discourse API budget spent; paced", self.bucket.wait_needed())
        renew = getattr(self._local, "renew", None)
        if renew is not None:
            renew()
        kwargs: dict[str, Any] = {"override_request_kwargs": {"allow_redirects": True}} if follow else {}
        if as_user:  # act as that forum user (a global key, or one for all users): intake
            kwargs.setdefault("override_request_kwargs", {})["headers"] = {
                "Accept": "application/json; charset=utf-8", "Api-Key": self.client.api_key,
                "Api-Username": as_user}
        try:
            if verb == "GET":
                return self.client._get(path, **kwargs, **fields)
            method = self.client._put if verb == "PUT" else self.client._post
            return method(path, json=True, **kwargs, **fields)
        except _RateLimited as exc:
            self.bucket.pause(exc.wait)
            raise TransientError(f"Discourse rate limit ({exc.code}) on {verb} {path}",
                                 exc.wait) from None
        except DiscourseError as exc:
            if missing_ok and getattr(exc.response, "status_code", None) == 404:
                return None
            raise _refused(verb, path, exc) from None
        except requests.RequestException as exc:
            raise TransientError(f"cannot reach Discourse for {verb} {path} "
                                 f"({type(exc).__name__})") from None

    def topic(self, topic_id: int) -> dict[str, Any]:
        """A topic by id (never by slug: a wrong slug is a 301 pydiscourse turns into None)."""
        data = self._call("GET", f"/t/{int(topic_id)}.json")
        if not isinstance(data, dict):
            raise TransientError(f"Discourse gave no topic for /t/{topic_id}.json")
        return data

    def post(self, post_id: int) -> dict[str, Any]:
        return self._call("GET", f"/posts/{int(post_id)}.json") or {}

    # --- categories ----------------------------------------------------------------------

    def category_id(self, slug: Any, fallback: Any = None) -> int:
        """A category slug's id through ``/categories.json`` (cached), else ``fallback``."""
        if isinstance(slug, int) or (isinstance(slug, str) and slug.isdigit()):
            return int(slug)
        with self._lock:
            fresh = time.monotonic() - self._categories_at < CATEGORY_TTL_SECONDS
            known = self._categories.get(slug) if fresh else None
        if known is None:
            try:
                self._load_categories()
            except TransientError:
                if fallback is None:
                    raise
            known = self._categories.get(slug)
        if known is not None:
            return known
        if fallback is not None:
            return int(fallback)
        raise PermanentError(f"Discourse has no category '{slug}'")

    def _load_categories(self) -> None:
        """Every page of ``/categories.json`` (paginated on lazy-loading sites)."""
        found = categorylist.pairs(lambda path, **params: self._call("GET", path, **params))
        with self._lock:
            self._categories, self._categories_at = found, time.monotonic()

    # --- posts ---------------------------------------------------------------------------

    @staticmethod
    def marker(key: str) -> str:
        return f"<!-- syncd:action:{key} -->"

    def _find_marker(self, topic_id: int, marker: str, since: str | None = None) -> int | None:
        """A post by the API user whose raw holds ``marker`` (on retries only). The topic's
        posts are read newest first, 20 a ``/t/{id}/posts.json?include_raw=true`` call
        (``TopicsController#posts``), back to the action's creation (a marker cannot be
        older) or ``MARKER_SEARCH_POSTS``. Usernames compare ignoring case, as Discourse
        matches ``Api-Username`` (``username_lower``)."""
        stream = self.topic(topic_id).get("post_stream") or {}
        ids = list(stream.get("stream") or [])[-MARKER_SEARCH_POSTS:]
        me, oldest = (self.username or "").lower(), _older_than(since)
        end = len(ids)
        while end > 0:
            chunk = ids[max(0, end - RECENT_POSTS):end]
            end -= len(chunk)
            more = self._call("GET", f"/t/{int(topic_id)}/posts.json", include_raw="true",
                              **{"post_ids[]": chunk})
            posts = {p.get("id"): p for p in ((more or {}).get("post_stream") or {})
                     .get("posts") or []}
            for pid in reversed(chunk):
                post = posts.get(pid) or {}
                if str(post.get("username") or "").lower() == me:
                    raw = post["raw"] if "raw" in post else self.post(pid).get("raw")
                    if marker in (raw or ""):
                        return pid
                if oldest is not None and _created(post) is not None and _created(post) < oldest:
                    return None
        return None

    def reply(self, topic_id: int, raw: str, key: str, retrying: bool) -> dict[str, Any]:
        """A post in the topic, exactly once (see the module docstring)."""
        marker = self.marker(key)
        if retrying:
            found = self._find_marker(topic_id, marker, getattr(self._local, "since", None))
            if found:
                return {"post_id": found, "already_posted": True}
        data = self._call("POST", "/posts.json", topic_id=int(topic_id), raw=f"{raw}\n\n{marker}")
        return {"post_id": (data or {}).get("id"), "post_number": (data or {}).get("post_number")}

    def _existing_topic(self, external_id: str) -> int | None:
        data = self._call("GET", f"/t/external_id/{external_id}.json", missing_ok=True, follow=True)
        return int(data["id"]) if isinstance(data, dict) and data.get("id") else None

    def new_topic(self, key: str, retrying: bool, **fields: Any) -> dict[str, Any]:
        """A new topic or private message, exactly once (``external_id`` = the action)."""
        external_id = f"syncd-{key}"
        if retrying:
            found = self._existing_topic(external_id)
            if found:
                return {"topic_id": found, "already_posted": True}
        fields["raw"] = f"{fields['raw']}\n\n{self.marker(key)}"
        data = self._call("POST", "/posts.json", external_id=external_id, **fields) or {}
        return {"topic_id": data.get("topic_id"), "post_id": data.get("id")}

    # --- topic state ---------------------------------------------------------------------

    def set_status(self, topic_id: int, status: str, enabled: bool) -> None:
        self._call("PUT", f"/t/{int(topic_id)}/status.json", status=status,
                   enabled="true" if enabled else "false")

    def update_topic(self, topic_id: int, **fields: Any) -> None:
        """``PUT /t/-/{id}.json`` as JSON (tags as ``tags_field`` shapes them)."""
        self._call("PUT", f"/t/-/{int(topic_id)}.json", **fields)

    def tags_field(self, tags: list[dict[str, Any]]) -> list[Any]:
        """A topic's whole tag list as this forum's version takes it: objects ``{id, name}``
        from 2026.1 (names are deprecated there, dropped from 2026.07), names before
        (``tag_topic_by_names``: objects fail). No tags: ``[]``, or ``[""]`` for names
        (Rails keeps the key; ``resolve_tag_names`` drops the empty name)."""
        if versions.tag_objects(self.version()):
            return [{k: t[k] for k in ("id", "name") if t.get(k) is not None} for t in tags]
        names = [str(t["name"]) for t in tags if t.get("name")]
        return names or [""]

    def version(self) -> str | None:
        """The forum's version: what syncd remembered (every delivery's ``User-Agent``,
        ``/about.json`` at start), else ``GET /about.json`` (at most once an hour)."""
        if self.store is not None:
            known = site.version(self.store.db().conn)
            if known:
                return known
        with self._lock:
            if self._about and time.monotonic() - self._about[0] < ABOUT_TTL_SECONDS:
                return self._about[1]
        try:
            found = ((self._call("GET", "/about.json") or {}).get("about") or {}).get("version")
        except SyncdError as exc:
            log.warning("discourse_version_unknown", error=str(exc),
                        hint="tags are sent as names until the version is known")
            found = None
        with self._lock:
            self._about = (time.monotonic(), found)
        if found and self.store is not None:
            with transaction(self.store.db()) as conn:
                site.remember_version(conn, found, "/about.json")
        return found

    def make_private(self, topic_id: int, topic: dict[str, Any], expect: Expect) -> list[str]:
        """Convert to a private message, then invite each staff group not yet in it."""
        done = []
        if topic.get("archetype") != "private_message":
            expect("visibility", "private")
            self._call("PUT", f"/t/{int(topic_id)}/convert-topic/private")
            done.append("converted")
        allowed = {g.get("name") for g in (topic.get("details") or {}).get("allowed_groups") or []}
        for group in self.staff_groups:
            if group not in allowed:
                self.invite_group(topic_id, group)
                done.append(f"invited {group}")
        return done

    def invite_group(self, topic_id: int, group: str) -> None:
        """``should_notify`` goes as the *string* "false": Rails reads JSON ``false`` as
        blank, and a blank ``should_notify`` notifies every member of the group."""
        try:
            self._call("POST", f"/t/{int(topic_id)}/invite-group.json", group=group,
                       should_notify="false")
        except PermanentError as exc:
            if exc.status != 403:
                raise
            raise self._invite_refused(topic_id, group, exc) from None

    def _invite_refused(self, topic_id: int, group: str, exc: PermanentError) -> PermanentError:
        """A 403 here is usually the group's "Who can message this group" level, not the
        key's scope (``Guardian#can_send_private_message?``): ask the group which it is."""
        try:
            info = (self._call("GET", f"/groups/{group}.json", missing_ok=True) or {}).get("group")
        except SyncdError:
            info = None
        if isinstance(info, dict) and info.get("messageable") is False:
            return PermanentError(
                f"Discourse refused to invite the group '{group}' to topic {topic_id} (403): "
                f"the group's \"Who can message this group\" level (messageable_level "
                f"{info.get('messageable_level')}) excludes the API user '{self.username}'. "
                "In Discourse, open the group → Settings → Interaction and set \"Who can "
                "message this group\" to at least \"Only admins\" (or to a level the API user "
                "is in), or use the API user 'system'.", 403)
        return PermanentError(f"{exc} If the key has that scope, check the group's \"Who can "
                              f"message this group\" level: it must include the API user "
                              f"'{self.username}'.", 403)

    def make_public(self, topic_id: int, category_id: int | None) -> None:
        """A private message back to a topic (its category from the ticket)."""
        fields = {"category_id": int(category_id)} if category_id else {}
        self._call("PUT", f"/t/{int(topic_id)}/convert-topic/public", **fields)


def _created(post: dict[str, Any]) -> float | None:
    try:
        return parse(post["created_at"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return None


def _older_than(since: str | None) -> float | None:
    """Posts created before this (an action's creation, less the clock skew) cannot hold
    its marker."""
    if not since:
        return None
    try:
        return parse(since).timestamp() - CLOCK_SKEW
    except (TypeError, ValueError):
        return None
