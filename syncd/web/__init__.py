"""web: the staff's own pages, served by ``syncd serve`` beside the webhook receiver.

A Flask blueprint (``register(app, settings, store)``, called once by the app factory in
``inbox/http.py``): sign-in through DiscourseConnect (``auth.py``, the protocol in
``discourse_connect.py``, sessions, nonces and CSRF in ``sessions.py``), a person's alert
preferences at ``/me`` (``me.py``), and the read-only ticket queue at ``/tickets``
(``queue.py``). Server-rendered Jinja templates (autoescaped) and one stylesheet, inside
the package; no JavaScript.

May import: ``core``, ``store``, the shared infrastructure (``config``, ``errors``, ``logs``,
``clock``), Flask and Jinja2. Must not import ``inbox`` internals, the workers
(``outbox``, ``channels``, ``discourse``) or ``cli``: an alert is a row written to the
outbox, which the delivery workers send.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from flask import Blueprint, Flask, current_app, g, request

from syncd.clock import utcnow
from syncd.config import Settings
from syncd.store.db import Store
from syncd.web import sessions

EXTENSION = "syncd_web"
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")


@dataclass
class WebState:
    """What the pages need, built once at start."""

    settings: Settings
    store: Store
    secret: str
    clock: Callable[[], datetime] = field(default=utcnow)

    @property
    def base_url(self) -> str:
        """``web.base_url``, or the address this request came in at when it is not set."""
        return self.settings.web.base_url or request.host_url.rstrip("/")


def state() -> WebState:
    return current_app.extensions[EXTENSION]


blueprint = Blueprint("web", __name__, template_folder="templates", static_folder="static",
                      static_url_path="/web-static")


@blueprint.before_request
def _load_session():
    """The signed-in person, if any; every POST must carry the session's CSRF token."""
    g.web_session = g.web_token = None
    st = state()
    token = sessions.unseal(request.cookies.get(sessions.SESSION_COOKIE), st.secret, "session")
    found = sessions.load(st.store.db().conn, token, st.clock())
    if found and found["active"]:
        g.web_session, g.web_token = found, token
    if request.method == "POST" and not sessions.csrf_ok(g.web_session,
                                                         request.form.get("csrf_token")):
        from syncd.web.pages import error_page
        return error_page(400, "This form has expired",
                          "The form did not carry this page's security token (CSRF), or your "
                          "sign-in ended. Nothing was changed: reload the page and try again.")
    return None


@blueprint.after_request
def _security_headers(response):
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    if not request.path.startswith("/web-static"):
        response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.app_context_processor
def _template_globals() -> dict[str, Any]:
    return {"me": g.get("web_session"), "csrf_token": (g.get("web_session") or {}).get("csrf", "")}


def register(app: Flask, settings: Settings, store: Store,
             clock: Callable[[], datetime] = utcnow) -> WebState:
    """Add the staff pages to ``app`` (the session secret is generated on first start)."""
    from syncd.web import auth, me, queue  # noqa: F401  (their routes join the blueprint)
    st = WebState(settings, store, sessions.session_secret(store.db()), clock)
    app.extensions[EXTENSION] = st
    app.register_blueprint(blueprint)
    return st
