"""The Discourse stand-in, extended with what an import calls (additive: a subclass).

Followed from Discourse's source (notes in docs/import.md):
- ``POST /users.json`` (``users_controller.rb#create``): ``email`` and ``username`` required
  (400 otherwise); ``active``/``approved`` honoured only for an admin acting through the API
  (``user_params``); a taken email or username, or a bad username, answers **200** with
  ``success: false`` and ``errors``; ``user_id`` in the answer unless
  ``hide_email_address_taken``.
- ``POST /posts.json`` as ``Api-Username`` (which must be an active user): a new topic needs
  a title of at least ``min_topic_title_length`` and, unless ``allow_duplicate_topic_titles``,
  not used before (422 "Title has already been used"); ``external_id`` unique and
  ``[\\w-]{1,50}``; ``created_at`` kept; ``tags`` at most ``max_tags_per_topic``; a reply's
  raw at least ``min_post_length`` and at most ``max_post_length``; ``whisper`` only the
  string ``"true"`` makes a whisper (post_type 4), only for ``User#whisperer?`` (admins
  once ``whispers_allowed_groups`` names a group, and that group's members; 403 otherwise),
  and whispers are shown only to whisperers.
- (the base stand-in answers ``GET /admin/users/list/{flag}.json?email=``),
  ``GET /session/current.json``, ``GET|PUT /admin/site_settings``, ``GET /groups/{name}.json``,
  ``PUT /groups/{id}/members.json`` (422 when all are members already),
  ``PUT /topics/bulk.json`` (``operation[type]=close``), ``include_raw`` on topic reads.
"""
from __future__ import annotations

import re
import time
from typing import Any

from standins.discourse import JSON, DiscourseStandIn

DEFAULT_SETTINGS = {
    "disable_emails": "no", "allow_duplicate_topic_titles": "false",
    "min_topic_title_length": "15", "min_first_post_length": "20", "min_post_length": "20",
    "max_post_length": "32000", "max_tags_per_topic": "5", "max_tag_length": "20",
    "body_min_entropy": "7", "title_min_entropy": "10", "unique_posts_mins": "5",
    "rate_limit_create_topic": "15", "rate_limit_create_post": "5",
    "hide_email_address_taken": "false", "whispers_allowed_groups": "",
    "min_username_length": "3", "max_username_length": "20",
}
USERNAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*[A-Za-z0-9_]$")
EXTERNAL_ID = re.compile(r"^[\w-]{1,50}$")
RESERVED = {"admin", "moderator", "administrator", "mod", "sys", "discourse", "anonymous", "user"}


class ImportDiscourseStandIn(DiscourseStandIn):
    ROUTES = DiscourseStandIn.ROUTES + [
        ("GET", r"^/session/current\.json$", "_current"),
        ("GET", r"^/admin/site_settings\.json$", "_settings"),
        ("PUT", r"^/admin/site_settings/(\w+)\.json$", "_set_setting"),
        ("POST", r"^/users\.json$", "_create_user"),
        ("GET", r"^/groups/([\w.-]+)\.json$", "_group"),
        ("PUT", r"^/groups/(\d+)/members\.json$", "_add_members"),
        ("PUT", r"^/topics/bulk\.json$", "_bulk"),
        ("POST", r"^/uploads\.json$", "_upload"),
    ]

    def __init__(self, *args: Any, **kwargs: Any):
        self._emails: set[str] = set()
        super().__init__(*args, **kwargs)
        self.site_settings = dict(DEFAULT_SETTINGS)
        self.groups = {"support-agents": {"id": 41, "name": "support-agents", "automatic": False,
                                          "members": set()},
                       "staff": {"id": 3, "name": "staff", "automatic": True, "members": set()}}
        self._externals: dict[str, int] = {}       # external_id → topic id (fast look-ups)
        self.uploads: dict[str, dict] = {}
        self.first_at: float | None = None         # monotonic times of the first and last call
        self.last_at: float | None = None

    def add_user(self, username: str, email: str, **kw: Any) -> dict:
        user = super().add_user(username, email, **kw)
        user.setdefault("approved", bool(kw.get("admin")))
        self._emails.add(user["email"])
        return user

    def handle(self, method, path, query, headers, body):
        with self.lock:
            now = time.monotonic()
            self.first_at = self.first_at or now
            self.last_at = now
        return super().handle(method, path, query, headers, body)

    def _actor(self) -> dict[str, Any]:
        """The account of the request being routed (``acting`` is set under the lock)."""
        return self.accounts.get((self.acting or "system").lower()) or {}

    def _route(self, method, path, query, payload):
        actor = self.accounts.get((self.acting or "").lower())
        if actor is None or not actor["active"]:   # DefaultCurrentUserProvider: inactive users
            return 403, JSON, {"errors": ["You supplied invalid authentication credentials."],
                               "error_type": "invalid_access"}
        return super()._route(method, path, query, payload)

    def _admin(self) -> bool:
        return bool(self._actor().get("admin"))

    # --- session, settings, groups --------------------------------------------------------

    def _current(self, query, payload):
        user = self._actor()
        return 200, JSON, {"current_user": {"id": user["id"], "username": user["username"],
                                            "admin": user["admin"], "moderator": False}}

    def _settings(self, query, payload):
        if not self._admin():
            return 403, JSON, {"errors": ["not permitted"], "error_type": "invalid_access"}
        return 200, JSON, {"site_settings": [{"setting": k, "value": v}
                                             for k, v in self.site_settings.items()]}

    def _set_setting(self, name, query, payload):
        if not self._admin():
            return 403, JSON, {"errors": ["not permitted"]}
        if name not in self.site_settings or name not in payload:
            return 400, JSON, {"errors": [f"param is missing or the value is empty: {name}"]}
        self.site_settings[name] = str(payload[name])
        return 200, JSON, {}

    def _group(self, name, query, payload):
        group = self.groups.get(name)
        if group is None:
            return 404, JSON, {"errors": ["not found"], "error_type": "not_found"}
        return 200, JSON, {"group": {k: v for k, v in group.items() if k != "members"}}

    def _add_members(self, group_id, query, payload):
        group = next((g for g in self.groups.values() if g["id"] == int(group_id)), None)
        names = [n.strip().lower() for n in str(payload.get("usernames") or "").split(",") if n.strip()]
        if group is None or group["automatic"]:
            return 404 if group is None else 422, JSON, {"errors": ["cannot add members"]}
        if not names or any(n not in self.accounts for n in names):
            return 400, JSON, {"errors": ["unknown usernames"]}
        if all(n in group["members"] for n in names):
            return 422, JSON, {"errors": [f"{names[0]} is already a member of this group"]}
        group["members"].update(names)
        return 200, JSON, {"success": "OK", "usernames": names}

    # --- users ---------------------------------------------------------------------------

    def _create_user(self, query, payload):
        if not payload.get("email") or not payload.get("username"):
            return 400, JSON, {"errors": ["param is missing or the value is empty: email"]}
        username, email = str(payload["username"]), str(payload["email"]).lower()
        errors: dict[str, list[str]] = {}
        if username.lower() in RESERVED:
            return 200, JSON, {"success": False, "message": "That username is not allowed."}
        min_len = int(self.site_settings["min_username_length"])
        max_len = int(self.site_settings["max_username_length"])
        if not (min_len <= len(username) <= max_len) or not USERNAME.match(username):
            errors["username"] = ["must be 3 to 20 characters: letters, numbers, _ . -"]
        elif username.lower() in self.accounts or any(u.lower() == username.lower() for u in self.users):
            errors["username"] = ["has already been taken"]
        if not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", email):
            errors["email"] = ["is invalid"]
        elif email in self._emails:
            errors["email"] = ["has already been taken"]
        if errors:
            return 200, JSON, {"success": False, "message": "errors", "errors": errors,
                               "values": {"username": username, "email": email}}
        admin = self._admin()
        user = self.add_user(username, email, active=bool(admin and payload.get("active") is True),
                             user_id=self._next_user_id())
        user["approved"] = bool(admin and payload.get("approved") is True)
        user["name"] = payload.get("name")
        answer = {"success": True, "active": user["active"], "message": "Your account is active."}
        if self.site_settings["hide_email_address_taken"] != "true":
            answer["user_id"] = user["id"]
        return 200, JSON, answer

    def _next_user_id(self) -> int:
        return 100 + len(self.accounts)

    # --- posts ---------------------------------------------------------------------------

    def _create_post(self, query, payload):
        if "raw" not in payload or not str(payload.get("raw") or "").strip():
            return 422, JSON, {"errors": ["Body can't be blank"]}
        raw = str(payload["raw"])
        if len(raw) > int(self.site_settings["max_post_length"]):
            limit = self.site_settings["max_post_length"]
            return 422, JSON, {"errors": [f"Body is limited to {limit} characters"]}
        whisper = payload.get("whisper") == "true"
        if whisper and not self._can_whisper():
            return 403, JSON, {"errors": ["invalid_whisper_access"], "error_type": "invalid_access"}
        if payload.get("topic_id"):
            if len(re.sub(r"<[^>]+>", "", raw).strip()) < int(self.site_settings["min_post_length"]):
                return 422, JSON, {"errors": ["Body is too short"]}
            topic = self._topic(payload["topic_id"])
            if topic is None:
                return 404, JSON, {"errors": ["not found"]}
            post = self._add_post(topic, self._acting_name(), raw)
            post.update(post_type=4 if whisper else 1,
                        created_at=payload.get("created_at") or post["created_at"])
            return 200, JSON, self._post_view(post, raw=True)
        return self._create_topic(payload, raw)

    def _create_topic(self, payload, raw):
        title = str(payload.get("title") or "").strip()
        if len(title) < int(self.site_settings["min_topic_title_length"]):
            return 422, JSON, {"errors": [f"Title is too short (minimum is "
                                          f"{self.site_settings['min_topic_title_length']} characters)"]}
        if self.site_settings["allow_duplicate_topic_titles"] != "true" and any(
                t["title"].lower() == title.lower() for t in self.topics.values()):
            return 422, JSON, {"errors": ["Title has already been used"]}
        ext = payload.get("external_id")
        if ext is not None and not EXTERNAL_ID.match(str(ext)):
            return 422, JSON, {"errors": ["External is invalid"]}
        if ext and ext in self._externals:
            return 422, JSON, {"errors": ["External has already been taken"]}
        tags = payload.get("tags") or []
        if any(not isinstance(t, str) for t in tags):
            return 400, JSON, {"errors": ["tags must be names"]}
        if len(tags) > int(self.site_settings["max_tags_per_topic"]):
            limit = self.site_settings["max_tags_per_topic"]
            return 422, JSON, {"errors": [f"You can only apply {limit} tags"]}
        if self.acting.lower() in self.needs_approval:   # PostsController#backwards_compatible_json
            self._next_post += 1
            return 200, JSON, {"success": True, "action": "enqueued", "pending_count": 1,
                               "pending_post": {"id": self._next_post, "raw": raw}}
        category = payload.get("category")
        if category is not None and int(category) not in self._category_ids():
            return 422, JSON, {"errors": ["Category can't be blank"]}
        self._next_topic += 1
        topic = self.add_topic(self._next_topic, title, category_id=category, author=self._acting_name(),
                               raw=raw, external_id=ext, tags=tags,
                               created_at=payload.get("created_at") or time.strftime("%Y-%m-%dT%H:%M:%SZ"))
        if ext:
            self._externals[ext] = topic["id"]
        first = self.posts[topic["post_ids"][0]]
        first.update(post_type=1, created_at=topic["created_at"])
        return 200, JSON, self._post_view(first, raw=True)

    def _acting_name(self) -> str:
        return self._actor()["username"]

    def _can_whisper(self, username: str | None = None) -> bool:
        """``User#whisperer?``: nobody when ``whispers_allowed_groups`` is empty, else every
        admin and the members of those groups."""
        user = self.accounts[(username or self.acting).lower()]
        allowed = {p for p in self.site_settings["whispers_allowed_groups"].split("|") if p}
        if not allowed:
            return False
        if user["admin"]:
            return True
        return any(str(g["id"]) in allowed and user["username"].lower() in g["members"]
                   for g in self.groups.values())

    def _category_ids(self) -> set[int]:
        return {c.id for c in self.categories}

    def _visible(self, post_id: int) -> bool:
        """Whispers are shown only to whisperers (TopicView's filtered posts)."""
        return self.posts[post_id].get("post_type") != 4 or self._can_whisper()

    def _get_topic(self, topic_id, query, payload):
        status, headers, view = super()._get_topic(topic_id, query, payload)
        if status == 200:
            stream = view["post_stream"]
            stream["stream"] = [p for p in stream["stream"] if self._visible(p)]
            stream["posts"] = [p for p in stream["posts"] if self._visible(p["id"])]
            for post in stream["posts"] if query.get("include_raw") else ():
                post["raw"] = self.posts[post["id"]]["raw"]
        return status, headers, view

    def _get_posts(self, topic_id, query, payload):
        status, headers, view = super()._get_posts(topic_id, query, payload)
        stream = view["post_stream"]
        stream["posts"] = [p for p in stream["posts"] if self._visible(p["id"])]
        for post in stream["posts"] if query.get("include_raw") else ():
            post["raw"] = self.posts[post["id"]]["raw"]
        return status, headers, view

    def _by_external_id(self, external_id, query, payload):
        if external_id in self._externals:
            return 301, {"Location": f"{self.base_url}/t/{self._externals[external_id]}.json"}, b""
        return 404, JSON, {"errors": ["not found"], "error_type": "not_found"}

    def _bulk(self, query, payload):
        ids = payload.get("topic_ids") or []
        operation = (payload.get("operation") or {}).get("type")
        if not ids or operation not in ("close", "archive", "unlist"):
            return 400, JSON, {"errors": ["param is missing or the value is empty: operation"]}
        done = []
        for tid in ids:
            topic = self._topic(tid)
            if topic is not None:
                topic["closed"] = True
                done.append(int(tid))
        return 200, JSON, {"topic_ids": done}

    def _upload(self, query, payload):
        """``type`` required; a ``url`` is taken as downloaded (the stand-in reaches no other
        host), one upload per URL as Discourse keeps one per file (SHA-1)."""
        if not payload.get("type"):
            return 400, JSON, {"errors": ["param is missing or the value is empty: type"]}
        url = str(payload.get("url") or "")
        if not url.startswith(("http://", "https://")):
            return 422, JSON, {"errors": ["upload.file_missing"]}
        upload = self.uploads.setdefault(url, {"id": 700 + len(self.uploads), "url": url})
        name = url.split("?")[0].rsplit("/", 1)[-1]
        return 200, JSON, {"id": upload["id"], "original_filename": name,
                           "url": f"/uploads/default/original/1X/{upload['id']}",
                           "short_url": f"upload://u{upload['id']}.{name.rsplit('.', 1)[-1]}"}

    # --- what tests count ----------------------------------------------------------------

    def imported(self) -> dict[str, Any]:
        """external ids of topics, and the note markers of posts (with duplicates kept)."""
        externals = [t["external_id"] for t in self.topics.values() if t.get("external_id")]
        markers = [m for p in self.posts.values() for m in re.findall(r"<!-- fd-note:(\w+) -->", p["raw"])]
        emails = [u["email"] for u in self.accounts.values() if u["username"] != "system"]
        return {"topics": externals, "notes": markers, "users": emails}
