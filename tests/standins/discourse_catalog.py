"""A loopback stand-in for the read side of Discourse's API: a generated forum to reconcile.

Serves what reconcile reads, shaped as Discourse's serializers shape it:
``/c/{slug}/{id}.json?page=N`` and ``/latest.json`` (TopicListSerializer: ``users``,
``topic_list.topics`` of TopicListItemSerializer entries with discourse-solved's
``has_accepted_answer``, ``more_topics_url`` only on a full page; TopicQuery's order:
the category's pinned topics first on page 0, then ``bumped_at`` descending, 30 a page),
``/t/{id}.json`` (post_stream, ``raw`` with ``include_raw``, ``actions_summary``, solved's
``accepted_answer``), ``/t/{id}/posts.json``, ``/posts/by_number/{t}/{n}.json``,
``/post_action_users.json`` and ``/site.json``. The admin API limit is enforced (a rolling
minute): a 429 with ``extras.wait_seconds``, ``Retry-After`` and the error-code header;
``fail_next`` forces 429s (JSON or the per-IP plain text) and ``fail_path`` 5xx. Every
call is counted in ``calls`` (by kind) and logged in ``log``.

Faithful where syncd once assumed otherwise (discourse/discourse source):
- ``/c/{slug}/{id}.json`` serves the category's *default view* (``ListController#
  category_default``): a category whose ``default_view`` is ``top`` lists topics by score
  (``topics_per_period_in_top_page``, 50); ``/c/{slug}/{id}/l/latest.json`` is always latest.
- ``posters`` follow ``TopicPostersSummary``: the creator first, the last poster moved to
  the back with ``extras: "latest"``, and ``description`` *translated* (``locale``).
- ``/post_action_users.json`` pages 200 likers (``limit``, 0-based ``page``) and sends
  ``total_rows_post_action_users`` only when there are more than a page.
- ``version`` (``/about.json``): tags as names before 2026.1, objects after.
- ``/categories.json`` is paginated and ``/site.json`` lists only the sidebar's categories
  when ``lazy_categories`` (``standins.discourse_site``).
"""
from __future__ import annotations

import json
import math
import random
import re
import socket
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from standins.discourse_site import SiteCategory, about, category_list, site

JSON = "application/json; charset=utf-8"
BASE_TIME = datetime(2024, 1, 1, tzinfo=timezone.utc)
TOP_PER_PAGE = 50          # SiteSetting.topics_per_period_in_top_page
LIKERS_PER_PAGE = 200      # PostActionUsersController: (params[:limit] || 200)
# I18n.t(:original_poster) and friends: the description is translated, never an API value.
POSTER_TEXT = {
    "en": {"original": "Original Poster", "latest": "Most Recent Poster",
           "frequent": "Frequent Poster"},
    "de": {"original": "Ursprünglicher Verfasser", "latest": "Neuester Verfasser",
           "frequent": "Häufiger Verfasser"},
}


def stamp(seconds: float) -> str:
    """Discourse's timestamp format, ``seconds`` after 2024-01-01."""
    return (BASE_TIME + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class FakePost:
    id: int
    post_number: int
    user_id: int
    raw: str
    created_at: str
    likers: list[int] = field(default_factory=list)
    accepted: bool = False


@dataclass
class FakeTopic:
    id: int
    title: str
    category_id: int
    user_id: int
    created_at: str
    bumped_at: str
    tags: list[str] = field(default_factory=list)
    closed: bool = False
    archived: bool = False
    visible: bool = True
    pinned_at: str | None = None
    posts: list[FakePost] = field(default_factory=list)

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-") or "topic"

    @property
    def like_count(self) -> int:
        return sum(len(p.likers) for p in self.posts)

    @property
    def solved(self) -> bool:
        return any(p.accepted for p in self.posts)


class Catalog:
    """The forum, its HTTP server and its counters."""

    def __init__(self, categories: dict[int, str] | None = None, per_page: int = 30,
                 limit_per_minute: int = 60, api_key: str = "test-key",
                 tag_objects: bool | None = None, solved: bool = True,
                 version: str = "2026.2.0-latest", locale: str = "en",
                 lazy_categories: bool = False):
        self.categories = dict(categories or {5: "support"})
        self.per_page, self.limit, self.api_key = per_page, limit_per_minute, api_key
        self.version, self.locale, self.lazy_categories = version, locale, lazy_categories
        new = tuple(int(x) for x in re.findall(r"\d+", version)[:2]) >= (2026, 1)
        self.tag_objects = new if tag_objects is None else tag_objects
        self.solved = solved
        self.default_views: dict[int, str] = {}   # category id -> "top" (else latest)
        self.sidebar: list[int] = []
        self.topics: dict[int, FakeTopic] = {}
        self.users: dict[int, str] = {1: "system", 2: "bob", 3: "alice", 4: "carol"}
        self.staff = {1, 2}
        self.calls: Counter = Counter()
        self.log: list[str] = []
        self.window: deque = deque()
        self.forced: deque = deque()      # ("json" | "plain", wait_seconds) per forced 429
        self.broken: dict[str, int] = {}  # path substring -> 503s left
        self.lock = threading.Lock()
        self._clock = 0.0
        self._next_post = 100_000
        self._sorted: dict | None = None
        self.server: ThreadingHTTPServer | None = None

    # --- building the forum ------------------------------------------------------------------
    def tick(self) -> str:
        self._clock += 1
        return stamp(self._clock)

    def add_topic(self, tid: int, category_id: int = 5, title: str | None = None,
                  user_id: int = 3, replies: int = 0, likes: int = 0, **kw) -> FakeTopic:
        at = self.tick()
        topic = FakeTopic(tid, title or f"Question number {tid}", category_id, user_id, at, at, **kw)
        self.topics[tid] = topic
        self._post(topic, user_id, f"Body of topic {tid}", likers=list(range(1000, 1000 + likes)))
        for _ in range(replies):
            self.reply(tid, 2)
        self._sorted = None
        return topic

    def _post(self, topic: FakeTopic, user_id: int, raw: str, likers=None) -> FakePost:
        self._next_post += 1
        post = FakePost(self._next_post, len(topic.posts) + 1, user_id, raw, self.tick(),
                        likers or [])
        topic.posts.append(post)
        return post

    def reply(self, tid: int, user_id: int = 2, raw: str = "A reply") -> FakePost:
        topic = self.topics[tid]
        post = self._post(topic, user_id, raw)
        topic.bumped_at = post.created_at
        self._sorted = None
        return post

    def generate(self, n: int, category_id: int = 5, seed: int = 1, first_id: int = 1) -> None:
        """``n`` topics: some replied to, liked, solved, closed, tagged (deterministic)."""
        rng = random.Random(seed)
        for tid in range(first_id, first_id + n):
            topic = self.add_topic(tid, category_id, replies=rng.choice((0, 0, 1, 2)),
                                   likes=rng.choice((0, 0, 0, 1, 3)),
                                   tags=rng.choice(([], ["printer"], ["wifi", "urgent"])))
            topic.closed = rng.random() < 0.1
            if len(topic.posts) > 1 and rng.random() < 0.3:
                topic.posts[1].accepted = True
                topic.posts[1].likers.append(1)
        self._sorted = None

    def changed(self) -> None:
        """Call after editing topics directly (the list order is cached)."""
        self._sorted = None

    # --- serving -------------------------------------------------------------------------
    def start(self) -> str:
        catalog = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()  # headers and body go out in two writes: no Nagle delay
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self):  # noqa: N802
                status, headers, body = catalog.handle(self.path, self.headers)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def __enter__(self) -> "Catalog":
        self.url = self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def fail_next(self, n: int = 1, kind: str = "json", wait: int = 0) -> None:
        self.forced.extend([(kind, wait)] * n)

    def fail_path(self, fragment: str, times: int = 1) -> None:
        self.broken[fragment] = times

    # --- one request ---------------------------------------------------------------------------
    def handle(self, raw_path: str, headers) -> tuple[int, dict, bytes]:
        url = urlsplit(raw_path)
        query = parse_qs(url.query)
        with self.lock:
            self.log.append(raw_path)
            limited = self._limited()
            if limited:
                return limited
            if headers.get("Api-Key") != self.api_key:
                return _json(403, {"errors": ["You are not permitted to view the requested "
                                              "resource. The API username or key is invalid."],
                                   "error_type": "invalid_access"})
            for fragment, left in list(self.broken.items()):
                if fragment in raw_path and left > 0:
                    self.broken[fragment] = left - 1
                    return _json(503, {"errors": ["Service Unavailable"]})
            kind, answer = self._route(url.path, query)
            self.calls[kind] += 1
            if answer is None:
                return _json(404, {"errors": ["The requested URL or resource could not be "
                                              "found."], "error_type": "not_found"})
            return _json(200, answer)

    def _limited(self):
        if self.forced:
            kind, wait = self.forced.popleft()
            self.calls["429"] += 1
            return _too_many(kind, wait)
        now = time.monotonic()
        while self.window and now - self.window[0] >= 60:
            self.window.popleft()
        if len(self.window) >= self.limit:
            self.calls["429"] += 1
            return _too_many("json", max(1, math.ceil(60 - (now - self.window[0]))))
        self.window.append(now)
        return None

    def _route(self, path: str, q: dict) -> tuple[str, dict | None]:
        page = int(q.get("page", ["0"])[0] or 0)
        if m := re.fullmatch(r"/c/([^/]+)/(\d+)(/l/latest)?\.json", path):
            cid = int(m.group(2))
            if cid not in self.categories:
                return "list", None
            if not m.group(3) and self.default_views.get(cid) == "top":
                return "list", self.top_list(cid, page)   # ListController#category_default
            return "list", self.topic_list(cid, page)
        if path == "/latest.json":
            return "list", self.topic_list(None, page)
        if m := re.fullmatch(r"/t/(\d+)\.json", path):
            return "topic", self.topic_view(int(m.group(1)), "include_raw" in q)
        if m := re.fullmatch(r"/t/(\d+)/posts\.json", path):
            ids = {int(i) for i in q.get("post_ids[]", [])}
            return "posts", self.topic_posts(int(m.group(1)), ids, "include_raw" in q)
        if m := re.fullmatch(r"/posts/by_number/(\d+)/(\d+)\.json", path):
            return "post", self.post_by_number(int(m.group(1)), int(m.group(2)))
        if path == "/post_action_users.json":
            return "likers", self.likers(int(q.get("id", ["0"])[0]), page,
                                         int(q.get("limit", [LIKERS_PER_PAGE])[0]))
        if path == "/site.json":
            return "site", self.site()
        if path == "/categories.json":
            return "categories", category_list(self.site_categories(), q, self.lazy_categories)
        if path == "/about.json":
            return "about", about(self.version)
        return "unknown", None

    # --- serializers -------------------------------------------------------------------------
    def ordered(self, category_id: int | None) -> tuple[list[FakeTopic], list[FakeTopic]]:
        """(pinned by pinned_at desc, the rest by bumped_at desc), as TopicQuery orders them."""
        if self._sorted is None:
            self._sorted = {}
        if category_id not in self._sorted:
            topics = [t for t in self.topics.values()
                      if category_id is None or t.category_id == category_id]
            topics.sort(key=lambda t: (t.bumped_at, t.id), reverse=True)
            pinned = sorted((t for t in topics if t.pinned_at), key=lambda t: t.pinned_at,
                            reverse=True)
            self._sorted[category_id] = (pinned, [t for t in topics if not t.pinned_at])
        return self._sorted[category_id]

    def topic_list(self, category_id: int | None, page: int) -> dict:
        pinned, rest = self.ordered(category_id)
        n = self.per_page
        if page == 0:
            chosen = (pinned + rest)[:n]
        else:
            offset = max(0, page * n - len(pinned))
            chosen = rest[offset:offset + n]
        user_ids = sorted({p["user_id"] for t in chosen for p in self.posters(t)})
        base = f"/c/{self.categories[category_id]}/{category_id}/l/latest" \
            if category_id is not None else "/latest"
        topic_list = {"can_create_topic": True, "per_page": n, "top_tags": [],
                      "topics": [self.list_item(t) for t in chosen]}
        if len(chosen) == n:
            topic_list["more_topics_url"] = f"{base}?page={page + 1}"
        return {"users": [self.user(u) for u in user_ids], "primary_groups": [],
                "flair_groups": [], "topic_list": topic_list}

    def top_list(self, category_id: int, page: int) -> dict:
        """The "top" view: by score (likes, then replies), 50 a page; not by activity."""
        topics = [t for t in self.topics.values() if t.category_id == category_id]
        topics.sort(key=lambda t: (t.like_count, len(t.posts), -t.id), reverse=True)
        chosen = topics[page * TOP_PER_PAGE:(page + 1) * TOP_PER_PAGE]
        topic_list = {"can_create_topic": True, "per_page": TOP_PER_PAGE, "top_tags": [],
                      "topics": [self.list_item(t) for t in chosen]}
        if len(chosen) == TOP_PER_PAGE:
            topic_list["more_topics_url"] = \
                f"/c/{self.categories[category_id]}/{category_id}/l/top?page={page + 1}"
        users = sorted({p.user_id for t in chosen for p in t.posts})
        return {"users": [self.user(u) for u in users], "primary_groups": [],
                "flair_groups": [], "topic_list": topic_list}

    def posters(self, t: FakeTopic) -> list[dict]:
        """TopicPostersSummary: [creator, last poster, *featured] made unique, the last poster
        shuffled to the back unless they created the topic; descriptions translated."""
        text = POSTER_TEXT[self.locale]
        last = t.posts[-1].user_id
        featured = [p.user_id for p in t.posts[1:-1]][:3]
        ids = list(dict.fromkeys([t.user_id, last, *featured]))
        if last != t.user_id:
            ids = [u for u in ids if u != last] + [last]
        out = []
        for uid in ids:
            words = []
            if uid == t.user_id:
                words.append(text["original"])
            if uid == last:
                words.append(text["latest"])
            if not words:
                words.append(text["frequent"])
            extras = None
            if uid == last:
                extras = "latest single" if len(ids) == 1 else "latest"
            out.append({"extras": extras, "description": ", ".join(words), "user_id": uid,
                        "primary_group_id": None, "flair_group_id": None})
        return out

    def list_item(self, t: FakeTopic) -> dict:
        last = t.posts[-1]
        posters = self.posters(t)
        item = {
            "id": t.id, "title": t.title, "fancy_title": t.title, "slug": t.slug,
            "posts_count": len(t.posts), "reply_count": len(t.posts) - 1,
            "highest_post_number": len(t.posts), "image_url": None,
            "created_at": t.created_at, "last_posted_at": last.created_at,
            "bumped": t.bumped_at > t.created_at, "bumped_at": t.bumped_at,
            "archetype": "regular", "unseen": False, "pinned": bool(t.pinned_at),
            "unpinned": None, "visible": t.visible, "closed": t.closed, "archived": t.archived,
            "bookmarked": None, "liked": None, "tags": self.tags(t),
            "tags_descriptions": {}, "views": 10, "like_count": t.like_count,
            "has_summary": False, "last_poster_username": self.users.get(last.user_id),
            "category_id": t.category_id, "pinned_globally": False, "featured_link": None,
            "posters": posters,
        }
        if self.solved:
            item["has_accepted_answer"] = t.solved
            item["can_have_answer"] = not t.closed
        return item

    def tags(self, t: FakeTopic) -> list:
        if not self.tag_objects:
            return list(t.tags)
        return [{"id": 100 + sum(map(ord, name)), "name": name, "slug": name} for name in t.tags]

    def user(self, uid: int) -> dict:
        name = self.users.get(uid, f"user{uid}")
        return {"id": uid, "username": name, "name": name.title(),
                "avatar_template": f"/user_avatar/forum/{name}/{{size}}/1_2.png",
                "trust_level": 4 if uid in self.staff else 1}

    def post_json(self, t: FakeTopic, p: FakePost, raw: bool) -> dict:
        staff = p.user_id in self.staff
        out = {"id": p.id, "name": self.users.get(p.user_id, "").title(),
               "username": self.users.get(p.user_id, f"user{p.user_id}"),
               "avatar_template": "/a/{size}.png", "created_at": p.created_at,
               "cooked": f"<p>{p.raw}</p>", "post_number": p.post_number, "post_type": 1,
               "updated_at": p.created_at, "reply_count": 0, "reply_to_post_number": None,
               "topic_id": t.id, "topic_slug": t.slug, "user_id": p.user_id,
               "moderator": False, "admin": staff, "staff": staff,
               "trust_level": 4 if staff else 1, "primary_group_name": None, "hidden": False,
               "deleted_at": None, "user_deleted": False, "wiki": False,
               "actions_summary": ([{"id": 2, "count": len(p.likers)}] if p.likers else [])}
        if raw:
            out["raw"] = p.raw
        if self.solved:
            out["accepted_answer"] = p.accepted
            out["can_accept_answer"] = True
        return out

    def topic_view(self, tid: int, raw: bool) -> dict | None:
        t = self.topics.get(tid)
        if t is None:
            return None
        view = {
            "id": t.id, "title": t.title, "fancy_title": t.title, "slug": t.slug,
            "posts_count": len(t.posts), "created_at": t.created_at, "visible": t.visible,
            "closed": t.closed, "archived": t.archived, "archetype": "regular",
            "category_id": t.category_id, "tags": self.tags(t), "like_count": t.like_count,
            "bumped_at": t.bumped_at, "last_posted_at": t.posts[-1].created_at,
            "post_stream": {"posts": [self.post_json(t, p, raw) for p in t.posts[:20]],
                            "stream": [p.id for p in t.posts]},
            "details": {"created_by": {"id": t.user_id, "username": self.users.get(t.user_id),
                                       "name": None, "avatar_template": "/a/{size}.png"}},
        }
        accepted = next((p for p in t.posts if p.accepted), None)
        if self.solved and accepted is not None:
            view["accepted_answer"] = {"post_number": accepted.post_number,
                                       "username": self.users.get(accepted.user_id),
                                       "name": None, "excerpt": accepted.raw[:140]}
        return view

    def topic_posts(self, tid: int, ids: set[int], raw: bool) -> dict | None:
        t = self.topics.get(tid)
        if t is None:
            return None
        return {"id": tid, "post_stream": {"posts": [self.post_json(t, p, raw) for p in t.posts
                                                     if not ids or p.id in ids]}}

    def post_by_number(self, tid: int, number: int) -> dict | None:
        t = self.topics.get(tid)
        if t is None or not 0 < number <= len(t.posts):
            return None
        return self.post_json(t, t.posts[number - 1], True)

    def likers(self, post_id: int, page: int = 0, limit: int = LIKERS_PER_PAGE) -> dict | None:
        for t in self.topics.values():
            for p in t.posts:
                if p.id == post_id:
                    chosen = p.likers[page * limit:(page + 1) * limit]
                    data = {"post_action_users": [{**self.user(u), "post_url": None}
                                                  for u in chosen]}
                    if len(p.likers) > limit:   # only when there is more than a page
                        data["total_rows_post_action_users"] = len(p.likers)
                    return data
        return None

    def site_categories(self) -> list[SiteCategory]:
        counts = Counter(t.category_id for t in self.topics.values())
        return [SiteCategory(cid, slug, slug.title(), topic_count=counts.get(cid, 0),
                             default_view=self.default_views.get(cid, "latest"))
                for cid, slug in self.categories.items()]

    def site(self) -> dict:
        return site(self.site_categories(), self.lazy_categories, self.sidebar)


def _json(status: int, data: dict, extra: dict | None = None) -> tuple[int, dict, bytes]:
    return status, {"Content-Type": JSON, **(extra or {})}, json.dumps(data).encode()


def _too_many(kind: str, wait: int) -> tuple[int, dict, bytes]:
    if kind == "plain":
        body = (f"Slow down, too many requests from this IP address. Please retry again in "
                f"{wait} seconds. Error code: ip_10_secs_limit.").encode()
        return 429, {"Content-Type": "text/plain", "Retry-After": str(wait),
                     "Discourse-Rate-Limit-Error-Code": "ip_10_secs_limit"}, body
    return _json(429, {"errors": ["You’ve performed this action too many times. Please wait "
                                  f"{wait} seconds before trying again."],
                       "error_type": "rate_limit",
                       "extras": {"wait_seconds": wait, "time_left": f"{wait} seconds"}},
                 {"Retry-After": str(wait),
                  "Discourse-Rate-Limit-Error-Code": "admin_api_key_rate_limit"})
