"""A stand-in of the parts of Discourse's API that syncd's delivery writes to.

Endpoints: ``GET /t/{id}.json``, ``GET /t/{id}/posts.json``, ``GET /posts/{id}.json``,
``POST /posts.json`` (replies, new topics and private messages, ``external_id`` unique),
``GET /t/external_id/{id}.json`` (301), ``PUT /t/-/{id}.json`` (category, tags),
``PUT /t/{id}/status.json``, ``PUT /t/{id}/convert-topic/{private,public}``,
``POST /t/{id}/invite-group.json`` (422 unless a private message), ``GET /categories.json``.
Answers carry ``Content-Type: application/json; charset=utf-8`` as Discourse's do.
Toggles: ``down`` (502), ``rate_limit_next(n, wait)`` (429 with ``Retry-After`` and
``extras.wait_seconds``), ``forbidden`` (403), and a rolling per-minute admin limit.
Every request is kept in ``log`` as ``(method, path, query, json_body)``.

Intake (additive): forum accounts with emails (``add_user``, kept in ``accounts``);
``GET /admin/users/list/{flag}.json`` with ``email=`` (AdminUserIndexQuery's exact,
lowercased match on the primary email; an array shaped as AdminUserListSerializer, admins
only); ``Api-Username`` acting as that user (unknown users get 403
``invalid_api_credentials`` as DefaultCurrentUserProvider answers; ``single_user_key`` makes
the key act as ``system`` only); a new topic's title checked against
``min_topic_title_length`` (15, 422 as Discourse words it); ``needs_approval`` users' topics
answered ``action: enqueued`` (PostsController#backwards_compatible_json);
``stall_next_create`` (the topic is made, its answer held); and ``emit_to(url, secret)``:
every new topic is delivered to that URL as Discourse's webhooks do (``topic_created`` then
the first post's ``post_created``, WebHookTopicViewSerializer / WebHookPostSerializer shapes
with the topic's ``external_id``, signed ``sha256=`` + hex HMAC), from a thread after the
answer, retried while syncd does not answer.

Faithful to Discourse where syncd once assumed otherwise (each from Discourse's source):
- ``version`` (``/about.json``): before 2026.1 ``PUT /t/-/{id}.json`` takes tags as names
  only (``DiscourseTagging.tag_topic_by_names``: objects are a 500) and topics show tags as
  names; from 2026.1 objects ``{id, name}`` too (names deprecated), from 2026.7 objects only.
- ``invite-group`` reads ``should_notify`` as Rails does: blank (absent, ``""``, JSON
  ``false``) notifies; any other value but ``"true"`` does not (``notified`` records it).
  A group whose ``messageable_level`` the API user is not in answers 403 (``Guardian``).
- titles are unique among regular topics, ignoring case (``unique_among``): 422 "Title has
  already been used" on create, rename and convert to public (``allow_duplicate_titles``).
- ``convert-topic/public`` leaves ``visible`` as it was (``TopicConverter``).
- ``Api-Username`` is matched ignoring case (``username_lower``); posts carry the user's
  real username.
- ``/categories.json`` pages 20 top-level categories when ``lazy_categories`` (and
  ``/site.json`` then lists only the sidebar's), see ``standins.discourse_site``.
- ``/posts/{id}/revisions/latest.json`` names the last editor (404 without revisions);
  ``revise(...)`` edits as a given user; ``/u/{name}.json`` says admin/moderator.
"""
from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import threading
import time
from collections import deque
from typing import Any
from urllib.parse import parse_qs

from standins import StandIn
from standins.discourse_site import SiteCategory, about, category_list, site

JSON = {"Content-Type": "application/json; charset=utf-8"}
CATEGORIES = [SiteCategory(5, "support", "Support"), SiteCategory(10, "faq", "FAQ"),
              SiteCategory(11, "faq-archive", "Archive", parent_category_id=10),
              SiteCategory(7, "hardware", "Hardware")]
NEW_TAGS, TAG_NAMES_DROPPED = (2026, 1, 0), (2026, 7, 0)
# Group.messageable: who may message a group (ALIAS_LEVELS); admins pass every level but 0.
NOBODY, ONLY_ADMINS, EVERYONE = 0, 1, 99
USERS = {"system": {"id": -1, "admin": True, "moderator": False, "trust_level": 4},
         "bob": {"id": 2, "admin": False, "moderator": True, "trust_level": 4},
         "alice": {"id": 3, "admin": False, "moderator": False, "trust_level": 1},
         "carol": {"id": 4, "admin": False, "moderator": False, "trust_level": 2}}
FORBIDDEN = {"errors": ["You are not permitted to view the requested resource."],
             "error_type": "invalid_access"}


def version_tuple(text: str) -> tuple[int, int, int]:
    found = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    assert found, text
    return int(found.group(1)), int(found.group(2)), int(found.group(3) or 0)


class DiscourseStandIn(StandIn):
    def __init__(self, api_key: str = "test-api-key", per_minute: int = 100000,
                 version: str = "2026.2.0-latest", lazy_categories: bool = False,
                 allow_duplicate_titles: bool = False):
        super().__init__()
        self.api_key, self.per_minute = api_key, per_minute
        self.version = version
        self.lazy_categories = lazy_categories
        self.allow_duplicate_titles = allow_duplicate_titles
        self.categories: list[SiteCategory] = list(CATEGORIES)
        self.sidebar: list[int] = [5]
        self.users = {name: dict(info) for name, info in USERS.items()}
        self.groups: dict[str, int] = {}          # name -> messageable_level (default everyone)
        self.notified: list[tuple[int, str, bool]] = []   # invite-group: (topic, group, notified)
        self.revisions: dict[int, list[dict[str, Any]]] = {}
        self.deprecations: list[str] = []
        self.acting = "system"
        self.down = False
        self.forbidden: set[str] = set()   # path prefixes answering 403
        self._limited: list[float] = []
        self.topics: dict[int, dict[str, Any]] = {}
        self.posts: dict[int, dict[str, Any]] = {}
        self.log: list[tuple[str, str, str, Any]] = []
        self.calls: deque[float] = deque()
        self.rejected_429 = 0
        self._next_topic, self._next_post = 1000, 5000
        self.accounts: dict[str, dict[str, Any]] = {}
        self.add_user("system", "no-reply@forum.example.com", admin=True, user_id=-1)
        self.single_user_key = False
        self.min_topic_title_length = 15
        self.hooks: list[tuple[str, str]] = []          # (url, secret) that get webhooks
        self.emitted: list[tuple[str, int, int]] = []   # (event, topic id, status syncd answered)
        self._event_ids = itertools.count(70001)
        self._emitters: list[threading.Thread] = []
        self.stall_creates = False
        self.needs_approval: set[str] = set()   # users whose new topics go to the review queue
        self.stall_release = threading.Event()
        self._stalled = threading.Event()

    # --- set-up ------------------------------------------------------------------------

    def add_topic(self, topic_id: int, title: str = "Printer on fire", category_id: int = 5,
                  author: str = "alice", raw: str = "It is on fire.", tags=(), **extra) -> dict:
        topic = {"id": topic_id, "title": title, "slug": re.sub(r"\W+", "-", title.lower()).strip("-"),
                 "category_id": category_id, "tags": [{"id": i + 1, "name": t, "slug": t}
                                                      for i, t in enumerate(tags)],
                 "closed": False, "visible": True, "archetype": "regular", "allowed_groups": [],
                 "external_id": None, "post_ids": [], **extra}
        self.topics[topic_id] = topic
        self._add_post(topic, author, raw)
        return topic

    def _add_post(self, topic: dict, username: str, raw: str) -> dict:
        self._next_post += 1
        post = {"id": self._next_post, "topic_id": topic["id"], "username": username, "raw": raw,
                "cooked": f"<p>{raw}</p>", "post_number": len(topic["post_ids"]) + 1,
                "created_at": _now()}
        self.posts[post["id"]] = post
        topic["post_ids"].append(post["id"])
        return post

    def add_user(self, username: str, email: str, *, admin: bool = False, staged: bool = False,
                 active: bool = True, suspended: bool = False, user_id: int | None = None) -> dict:
        user = {"id": user_id if user_id is not None else 100 + len(self.accounts),
                "username": username, "name": username.title(), "email": email.lower(),
                "admin": admin, "moderator": False, "staged": staged, "active": active,
                "suspended_till": "2099-01-01T00:00:00.000Z" if suspended else None,
                "trust_level": 1}
        self.accounts[username.lower()] = user
        self.users.setdefault(username, {"id": user["id"], "admin": admin, "moderator": False,
                                         "trust_level": 1})
        return user

    def emit_to(self, url: str, secret: str) -> None:
        self.hooks.append((url, secret))

    def wait_emitted(self, timeout: float = 10.0) -> None:
        for thread in list(self._emitters):
            thread.join(timeout)

    @property
    def new_tags(self) -> bool:
        return version_tuple(self.version) >= NEW_TAGS

    def add_posts(self, topic_id: int, n: int, username: str = "carol") -> None:
        """A busy topic: ``n`` more posts by someone else."""
        for i in range(n):
            self._add_post(self.topics[topic_id], username, f"Me too ({i})")

    def revise(self, topic_id: int, editor: str, **changes: Any) -> None:
        """Edit a topic as ``editor`` would in the browser (a new revision of post #1)."""
        topic = self.topics[topic_id]
        if "tags" in changes:
            changes["tags"] = [{"id": 200 + i, "name": t, "slug": t}
                               for i, t in enumerate(changes["tags"])]
        self._record_revision(topic, editor, changes)
        topic.update(changes)

    def _record_revision(self, topic: dict, editor: str, changes: dict) -> None:
        first = topic["post_ids"][0]
        revs = self.revisions.setdefault(first, [])
        revs.append({"post_id": first, "username": editor.lower(), "display_username": editor,
                     "current_revision": len(revs) + 2, "created_at": _now(),
                     **({"tags_changes": {"previous": [t["name"] for t in topic["tags"]],
                                          "current": [t["name"] for t in changes["tags"]]}}
                        if "tags" in changes else {}),
                     **({"category_id_changes": {"previous": topic["category_id"],
                                                 "current": changes["category_id"]}}
                        if "category_id" in changes else {})})

    def rate_limit_next(self, n: int = 1, wait: float = 1.0) -> None:
        self._limited += [wait] * n

    def replies(self, topic_id: int, username: str = "system") -> list[dict]:
        topic = self.topics[topic_id]
        return [self.posts[p] for p in topic["post_ids"] if self.posts[p]["username"] == username]

    def writes(self) -> list[tuple[str, str, Any]]:
        return [(m, p, b) for m, p, q, b in self.log if m != "GET"]

    # --- serving -----------------------------------------------------------------------

    def handle(self, method, path, query, headers, body):
        answer = self._handle(method, path, query, headers, body)
        if self._stalled.is_set() and method == "POST" and path == "/posts.json":
            self._stalled.clear()
            self.stall_release.wait(60)   # the topic is made; the answer waits (outside the lock)
        return answer

    def stall_next_create(self) -> None:
        """The next new topic is made at once but its answer is held until
        ``stall_release`` is set: a client killed meanwhile never hears of it."""
        self.stall_creates = True

    def _handle(self, method, path, query, headers, body):
        payload = json.loads(body) if body and body.strip().startswith(b"{") else (
            {k: v[-1] for k, v in parse_qs(body.decode()).items()} if body else {})
        with self.lock:
            self.log.append((method, path, query, payload))
            if self.down:
                return 502, {"Content-Type": "text/html"}, b"<html>Bad Gateway</html>"
            if headers.get("Api-Key") != self.api_key:
                return 403, JSON, FORBIDDEN
            # DefaultCurrentUserProvider: User.find_by(username_lower: api_username.downcase)
            wanted = (headers.get("Api-Username") or "system").lower()
            self.acting = next((u for u in self.users if u.lower() == wanted), None)
            if self.acting is None:
                return 403, JSON, {"errors": ["You are not permitted to view the requested "
                                              "resource. The API username or key is invalid."],
                                   "error_type": "invalid_access"}
            if self._limited or self._over_limit():
                wait = self._limited.pop(0) if self._limited else 60
                self.rejected_429 += 1
                return 429, {**JSON, "Retry-After": f"{wait:g}",
                             "Discourse-Rate-Limit-Error-Code": "admin_api_key_rate_limit"}, {
                    "errors": ["You've performed this action too many times."],
                    "error_type": "rate_limit",
                    "extras": {"wait_seconds": wait, "time_left": f"{wait:g} seconds"}}
            if any(path.startswith(p) for p in self.forbidden):
                return 403, JSON, {"errors": ["You are not permitted to view the requested resource."],
                                   "error_type": "invalid_access"}
            if self.single_user_key and self.acting != "system":
                return 403, JSON, {"errors": ["You supplied invalid authentication credentials."],
                                   "error_type": "invalid_access"}
            return self._route(method, path, parse_qs(query), payload)

    def _over_limit(self) -> bool:
        now = time.monotonic()
        while self.calls and self.calls[0] <= now - 60:
            self.calls.popleft()
        if len(self.calls) >= self.per_minute:
            return True
        self.calls.append(now)
        return False

    ROUTES = [
        ("GET", r"^/t/(\d+)\.json$", "_get_topic"),
        ("GET", r"^/t/(\d+)/posts\.json$", "_get_posts"),
        ("GET", r"^/posts/(\d+)\.json$", "_get_post"),
        ("GET", r"^/t/external_id/([^/]+)\.json$", "_by_external_id"),
        ("GET", r"^/categories\.json$", "_categories"),
        ("GET", r"^/site\.json$", "_site"),
        ("GET", r"^/about\.json$", "_about"),
        ("GET", r"^/posts/(\d+)/revisions/latest\.json$", "_latest_revision"),
        ("GET", r"^/posts/by_number/(\d+)/(\d+)\.json$", "_by_number"),
        ("GET", r"^/u/([^/]+)\.json$", "_user"),
        ("GET", r"^/groups/([^/]+)\.json$", "_group"),
        ("POST", r"^/posts\.json$", "_create_post"),
        ("GET", r"^/admin/users/list/(\w+)\.json$", "_admin_users"),
        ("PUT", r"^/t/-/(\d+)\.json$", "_update_topic"),
        ("PUT", r"^/t/(\d+)/status\.json$", "_status"),
        ("PUT", r"^/t/(\d+)/convert-topic/(private|public)$", "_convert"),
        ("POST", r"^/t/(\d+)/invite-group\.json$", "_invite_group"),
    ]

    def _route(self, method, path, query, payload):
        for verb, pattern, name in self.ROUTES:
            match = re.match(pattern, path)
            if verb == method and match:
                return getattr(self, name)(*match.groups(), query=query, payload=payload)
        return 404, JSON, {"errors": ["The requested URL or resource could not be found."],
                           "error_type": "not_found"}

    def _topic(self, topic_id):
        return self.topics.get(int(topic_id))

    def _post_view(self, post, raw=False):
        view = {k: v for k, v in post.items() if k != "raw"}
        return {**view, "raw": post["raw"]} if raw else view

    def _get_topic(self, topic_id, query, payload):
        topic = self._topic(topic_id)
        if topic is None:
            return 404, JSON, {"errors": ["not found"], "error_type": "not_found"}
        posts = [self._post_view(self.posts[p]) for p in topic["post_ids"][:20]]
        view = {k: v for k, v in topic.items() if k not in ("post_ids", "allowed_groups", "external_id")}
        view["tags"] = self._tags_view(topic)
        view["post_stream"] = {"posts": posts, "stream": list(topic["post_ids"])}
        view["details"] = {"allowed_groups": [{"id": i + 1, "name": g}
                                              for i, g in enumerate(topic["allowed_groups"])]}
        first = self.posts[topic["post_ids"][0]] if topic["post_ids"] else None
        if first is not None:
            view["details"]["created_by"] = {"id": self._user_id(first["username"]),
                                             "username": first["username"]}
        if topic.get("external_id"):
            view["external_id"] = topic["external_id"]
        return 200, JSON, view

    def _user_id(self, username):
        user = self.accounts.get((username or "").lower())
        return user["id"] if user else None

    def _admin_users(self, flag, query, payload):
        if not self.users[self.acting]["admin"]:
            return 403, JSON, {"errors": ["You are not permitted to view the requested resource."],
                               "error_type": "invalid_access"}
        email = (query.get("email") or [""])[-1].lower()
        found = [u for u in self.accounts.values() if (not email or u["email"] == email)
                 and u["username"] != "system"]
        show = (query.get("show_emails") or ["false"])[-1] == "true"
        return 200, JSON, [{k: v for k, v in u.items() if show or k != "email"} for u in found]

    def _get_posts(self, topic_id, query, payload):
        ids = [int(i) for i in query.get("post_ids[]", [])]
        raw = bool(query.get("include_raw"))   # TopicViewPostsSerializer(include_raw: !!…)
        return 200, JSON, {"post_stream": {"posts": [self._post_view(self.posts[i], raw=raw)
                                                     for i in ids if i in self.posts]}}

    def _get_post(self, post_id, query, payload):
        post = self.posts.get(int(post_id))
        if not post:
            return 404, JSON, {"errors": ["not found"]}
        return 200, JSON, self._post_view(post, raw=True)

    def _by_external_id(self, external_id, query, payload):
        for topic in self.topics.values():
            if topic.get("external_id") == external_id:
                return 301, {"Location": f"{self.base_url}/t/{topic['id']}.json"}, b""
        return 404, JSON, {"errors": ["not found"], "error_type": "not_found"}

    def _tags_view(self, topic):
        return list(topic["tags"]) if self.new_tags else [t["name"] for t in topic["tags"]]

    def _categories(self, query, payload):
        return 200, JSON, category_list(self.categories, query, self.lazy_categories)

    def _site(self, query, payload):
        return 200, JSON, site(self.categories, self.lazy_categories, self.sidebar)

    def _about(self, query, payload):
        return 200, JSON, about(self.version)

    def _latest_revision(self, post_id, query, payload):
        revs = self.revisions.get(int(post_id))
        if not revs:
            return 404, JSON, {"errors": ["The requested URL or resource could not be found."],
                               "error_type": "not_found"}
        return 200, JSON, revs[-1]

    def _by_number(self, topic_id, number, query, payload):
        topic = self._topic(topic_id)
        if topic is None or not 0 < int(number) <= len(topic["post_ids"]):
            return 404, JSON, {"errors": ["not found"], "error_type": "not_found"}
        return 200, JSON, self._post_view(self.posts[topic["post_ids"][int(number) - 1]], raw=True)

    def _user(self, username, query, payload):
        name = next((u for u in self.users if u.lower() == username.lower()), None)
        if name is None:
            return 404, JSON, {"errors": ["not found"], "error_type": "not_found"}
        info = self.users[name]
        return 200, JSON, {"user": {"id": info["id"], "username": name, "name": name.title(),
                                    "admin": info["admin"], "moderator": info["moderator"],
                                    "trust_level": info["trust_level"],
                                    "primary_group_name": info.get("primary_group_name")}}

    def _group(self, name, query, payload):
        if name not in self.groups:
            return 404, JSON, {"errors": ["not found"], "error_type": "not_found"}
        return 200, JSON, {"group": {"id": 40, "name": name, "messageable_level": self.groups[name],
                                     "messageable": self._may_message(name)}}

    def _may_message(self, group: str) -> bool:
        """Guardian#can_send_private_message? for a group: system always; admins at any
        level but nobody (Group.alias_levels)."""
        level = self.groups.get(group, EVERYONE)
        if self.acting == "system":
            return True
        info = self.users[self.acting]
        return level != NOBODY if info["admin"] else level in (EVERYONE,)

    def _title_taken(self, title: str, topic_id: int | None = None) -> bool:
        """Topic#unique_among: case-insensitive among listable (non-PM) topics."""
        if self.allow_duplicate_titles:
            return False
        return any(t["title"].lower() == (title or "").lower() and t["id"] != topic_id
                   and t.get("archetype") != "private_message" for t in self.topics.values())

    def _create_post(self, query, payload):
        if "raw" not in payload:
            return 422, JSON, {"errors": ["Body can't be blank"]}
        if payload.get("topic_id"):
            topic = self._topic(payload["topic_id"])
            if topic is None:
                return 404, JSON, {"errors": ["not found"]}
            post = self._add_post(topic, self.acting, payload["raw"])
            return 200, JSON, self._post_view(post, raw=True)
        ext = payload.get("external_id")
        if ext and any(t.get("external_id") == ext for t in self.topics.values()):
            return 422, JSON, {"errors": ["External has already been taken"]}
        pm = payload.get("archetype") == "private_message"
        title = payload.get("title", "")
        if not pm and self._title_taken(title.strip()):   # TopicTitleUniquenessValidator
            return 422, JSON, {"action": "create_post", "errors": ["Title has already been used"]}
        if not pm and len(title.strip()) < self.min_topic_title_length:
            return 422, JSON, {"errors": [f"Title is too short (minimum is "
                                          f"{self.min_topic_title_length} characters)"]}
        if self.acting.lower() in self.needs_approval:
            # PostsController#backwards_compatible_json: an enqueued post is not the root
            self._next_post += 1
            return 200, JSON, {"success": True, "action": "enqueued", "pending_count": 1,
                               "pending_post": {"id": self._next_post, "raw": payload["raw"]}}
        self._next_topic += 1
        tags = payload.get("tags") or []
        topic = self.add_topic(self._next_topic, title,
                               category_id=None if pm else payload.get("category"),
                               author=self.acting, raw=payload["raw"], external_id=ext,
                               tags=[t for t in tags if isinstance(t, str)],
                               archetype="private_message" if pm else "regular",
                               recipients=payload.get("target_recipients"))
        first = self.posts[topic["post_ids"][0]]
        if self.stall_creates:
            self.stall_creates = False
            self._stalled.set()
        if self.hooks and not pm:
            thread = threading.Thread(target=self._emit, args=(topic, first), daemon=True)
            self._emitters.append(thread)
            thread.start()
        return 200, JSON, {**self._post_view(first, raw=True), "topic_slug": topic["slug"]}

    # --- webhooks, as Discourse's WebHook jobs send them ------------------------------------

    def _emit(self, topic: dict, post: dict) -> None:
        import requests
        time.sleep(0.05)   # Sidekiq: after the API answer
        user = self.accounts.get(post["username"].lower()) or {"id": None, "name": None}
        basic = {"id": user["id"], "username": post["username"], "name": user.get("name"),
                 "avatar_template": f"/user_avatar/forum/{post['username']}/{{size}}/1_2.png"}
        cat = next((c.slug for c in self.categories if c.id == topic["category_id"]), None)
        topic_body = {"topic": {
            "id": topic["id"], "title": topic["title"], "fancy_title": topic["title"],
            "posts_count": 1, "created_at": post["created_at"], "views": 0, "reply_count": 0,
            "like_count": 0, "last_posted_at": post["created_at"], "visible": True,
            "closed": False, "archived": False, "archetype": "regular", "slug": topic["slug"],
            "category_id": topic["category_id"], "word_count": len(post["raw"].split()),
            "deleted_at": None, "user_id": user["id"], "featured_link": None,
            "pinned_globally": False, "pinned_at": None, "pinned_until": None, "unpinned": None,
            "pinned": False, "highest_post_number": 1, "deleted_by": None, "bookmarked": False,
            "participant_count": 1, "thumbnails": None, "created_by": basic, "last_poster": basic,
            "tags": topic["tags"], "tags_descriptions": {},
            **({"external_id": topic["external_id"]} if topic.get("external_id") else {})}}
        admin = bool(user.get("admin"))
        post_body = {"post": {
            "id": post["id"], "name": user.get("name"), "username": post["username"],
            "avatar_template": basic["avatar_template"], "created_at": post["created_at"],
            "cooked": post["cooked"], "post_number": 1, "post_type": 1, "posts_count": 1,
            "updated_at": post["created_at"], "reply_count": 0, "reply_to_post_number": None,
            "quote_count": 0, "incoming_link_count": 0, "reads": 0, "score": 0,
            "topic_id": topic["id"], "topic_slug": topic["slug"], "topic_title": topic["title"],
            "category_id": topic["category_id"], "display_username": user.get("name"),
            "primary_group_name": None, "flair_name": None, "flair_group_id": None,
            "version": 1, "user_title": None, "bookmarked": False, "raw": post["raw"],
            "moderator": False, "admin": admin, "staff": admin, "user_id": user["id"],
            "hidden": False, "trust_level": user.get("trust_level", 1), "deleted_at": None,
            "user_deleted": False, "edit_reason": None, "wiki": False,
            "post_url": f"/t/{topic['slug']}/{topic['id']}/1", "topic_posts_count": 1,
            "topic_filtered_posts_count": 1, "topic_archetype": "regular",
            "category_slug": cat}}
        for url, secret in self.hooks:
            for event, kind, body in (("topic_created", "topic", topic_body),
                                      ("post_created", "post", post_body)):
                raw = json.dumps(body).encode()
                headers = {
                    "Content-Type": "application/json", "User-Agent": "Discourse/2026.3.0-latest",
                    "X-Discourse-Instance": self.base_url,
                    "X-Discourse-Event-Id": str(next(self._event_ids)),
                    "X-Discourse-Event-Type": kind, "X-Discourse-Event": event,
                    "X-Discourse-Event-Signature": "sha256=" + hmac.new(
                        secret.encode(), raw, hashlib.sha256).hexdigest()}
                status = 0
                for _ in range(120):   # Discourse retries a failed delivery; bounded here
                    try:
                        status = requests.post(url, data=raw, headers=headers, timeout=10).status_code
                    except requests.RequestException:
                        status = 0
                    if 0 < status < 500:
                        break
                    time.sleep(0.25)
                self.emitted.append((event, topic["id"], status))

    def _update_topic(self, topic_id, query, payload):
        topic = self._topic(topic_id)
        if topic is None:
            return 404, JSON, {"errors": ["not found"], "error_type": "not_found"}
        changes: dict[str, Any] = {}
        if "title" in payload:
            if self._title_taken(payload["title"], topic["id"]):
                return 422, JSON, {"errors": ["Title has already been used"]}
            changes["title"] = payload["title"]
        if "category_id" in payload:
            changes["category_id"] = int(payload["category_id"])
        if "tags" in payload:
            tags = self._incoming_tags(payload["tags"])
            if isinstance(tags, tuple):
                return tags
            changes["tags"] = tags
        self._record_revision(topic, self.acting, changes)
        topic.update(changes)
        body = {"basic_topic": {"id": topic["id"], "title": topic["title"], "slug": topic["slug"]}}
        if "tags" in payload and self.new_tags:
            body["tags"] = list(topic["tags"])    # render_topic_with_tags
        return 200, JSON, body

    def _incoming_tags(self, tags):
        """TopicsController#update's ``tags``: names before 2026.1; names or objects after."""
        if not isinstance(tags, list):
            return 400, JSON, {"errors": ["tags must be a list"]}
        objects = [t for t in tags if isinstance(t, dict)]
        names = [t for t in tags if isinstance(t, str)]
        if objects and not self.new_tags:  # tag_topic_by_names gets hashes: NoMethodError
            return 500, {"Content-Type": "text/html"}, b"<html>Internal Server Error</html>"
        if names and self.new_tags:
            if version_tuple(self.version) >= TAG_NAMES_DROPPED:
                return 400, JSON, {"errors": ["tags must be objects ({id, name})"]}
            self.deprecations.append("Passing tag names as strings to the tags param is "
                                     "deprecated, use tag objects ({id, name}) instead")
        known = {t["name"]: t for topic in self.topics.values() for t in topic["tags"]}
        out = []
        for i, tag in enumerate(tags):
            name = tag if isinstance(tag, str) else (tag.get("name") or next(
                (k for k, v in known.items() if v.get("id") == tag.get("id")), None))
            if name:   # resolve_tag_names: empty names are dropped (tags[]= clears them)
                out.append(known.get(name) or {"id": 300 + i, "name": name.lower(),
                                               "slug": name.lower()})
        return out

    def _status(self, topic_id, query, payload):
        topic = self._topic(topic_id)
        status, enabled = payload.get("status"), payload.get("enabled")
        if status not in ("closed", "visible", "archived", "pinned") or enabled not in ("true", "false"):
            return 400, JSON, {"errors": ["bad status"]}
        topic[status] = enabled == "true"
        return 200, JSON, {"success": "OK", "topic_status_update": None}

    def _convert(self, topic_id, kind, query, payload):
        topic = self._topic(topic_id)
        if kind == "private":
            topic.update(archetype="private_message", category_id=None)
        else:  # TopicConverter: re-validates the title, never touches ``visible``
            if self._title_taken(topic["title"], topic["id"]):
                return 422, JSON, {"errors": ["Title has already been used"]}
            topic.update(archetype="regular", category_id=payload.get("category_id"), allowed_groups=[])
        return 200, JSON, {"success": True, "url": f"/t/{topic['slug']}/{topic['id']}"}

    def _invite_group(self, topic_id, query, payload):
        topic = self._topic(topic_id)
        if topic["archetype"] != "private_message":
            return 422, JSON, {"errors": ["topic_invite.not_pm"]}
        group = payload.get("group")
        if not self._may_message(group):
            return 403, JSON, FORBIDDEN
        raw = payload.get("should_notify")
        blank = raw is None or raw is False or (isinstance(raw, str) and not raw.strip())
        self.notified.append((topic["id"], group, True if blank else str(raw).lower() == "true"))
        if group not in topic["allowed_groups"]:
            topic["allowed_groups"].append(group)
        return 200, JSON, {"group": {"id": 1, "name": payload.get("group")}}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
