"""Helpers for the staff-page tests: an app with sign-in set up, and signing in through the
DiscourseConnect stand-in (its answers built as Discourse builds them)."""
from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timezone
from urllib.parse import urlsplit

from syncd.inbox.http import Receiver, create_app
from syncd.service import prepare

from conftest import make_settings, online
from standins.discourse_connect import DiscourseConnectStandIn

CONNECT_SECRET = "made-up-connect-secret-0001"
FORUM = "https://forum.example.com"
JANE = {"id": 42, "username": "jane", "name": "Jane Doe", "email": "jane@example.edu",
        "moderator": True, "groups": ["staff", "trust_level_2"]}
BOB = {"id": 43, "username": "bob", "name": "Bob", "email": "bob@example.edu",
       "groups": ["support-team"]}
STUDENT = {"id": 77, "username": "sam", "name": "Sam Student", "email": "sam@example.edu",
           "groups": ["trust_level_1"]}


class Clock:
    """A clock the test moves."""

    def __init__(self, at: datetime | None = None):
        self.at = at or datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.at


def web_settings(tmp_path, base_url: str = "https://syncd.example.edu", forum: str = FORUM,
                 extra: str = ""):
    text = ("web:\n"
            f"  base_url: {base_url}\n"
            f"  discourse_connect_secret: {CONNECT_SECRET}\n"
            "  chat_webhook_hosts: [chat.googleapis.com, 127.0.0.1]\n" + extra)
    return online(make_settings(tmp_path, text), forum)


def web_app(settings, clock=None):
    """The real app factory, with the web pages' clock replaced when ``clock`` is given."""
    store, secret = prepare(settings)
    app = create_app(Receiver(settings, store, secret))
    if clock is not None:
        app.extensions["syncd_web"].clock = clock
    return app, store


def provider(host: str = "syncd.example.edu", user=None) -> DiscourseConnectStandIn:
    """The stand-in with syncd's row in discourse_connect_provider_secrets (not started:
    the unit tests call its handler directly)."""
    return DiscourseConnectStandIn(f"{host}|{CONNECT_SECRET}", user)


def start_login(client, next_path: str = "/me") -> str:
    r = client.get("/auth/login", query_string={"next": next_path})
    assert r.status_code == 302, r.get_data(as_text=True)
    return r.headers["Location"]


def at_forum(forum: DiscourseConnectStandIn, location: str, user) -> str:
    """What the forum answers when the browser arrives with ``location``: the way back."""
    forum.user = user
    parts = urlsplit(location)
    status, headers, body = forum.handle("GET", parts.path, parts.query, {}, b"")
    assert status == 302, (status, body)
    return headers["Location"]


def back_at_syncd(client, answer_url: str):
    parts = urlsplit(answer_url)
    return client.get(f"{parts.path}?{parts.query}")


def sign_in(client, forum, user, next_path: str = "/me"):
    return back_at_syncd(client, at_forum(forum, start_login(client, next_path), user))


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def with_web(settings, **changes):
    return replace(settings, web=replace(settings.web, **changes))
