"""``/auth/login``, ``/auth/callback``, ``/auth/logout``: sign-in with the forum account.

Discourse is the identity provider (DiscourseConnect). Only admins, moderators and members
of ``discourse.staff_groups`` get in; anyone else sees a 403 page. There is no other login.
"""
from __future__ import annotations

from flask import g, make_response, redirect, render_template, request

from syncd import logs
from syncd.store import people
from syncd.store.db import transaction
from syncd.web import blueprint, discourse_connect, sessions, state
from syncd.web.pages import error_page, safe_next

log = logs.get("syncd.web")


def _set_cookie(response, name: str, value: str, max_age: float) -> None:
    st = state()
    w = st.settings.web   # Secure on https (base_url, or this request when base_url is unset)
    secure = w.secure_cookies or (not w.base_url and request.scheme == "https")
    response.set_cookie(name, value, max_age=int(max_age), path="/", httponly=True,
                        samesite="Lax", secure=secure)


def _not_set_up():
    st = state()
    missing = []
    if not st.settings.web.discourse_connect_secret:
        missing.append("web.discourse_connect_secret")
    if not st.settings.discourse.url:
        missing.append("discourse.url")
    if missing:
        return error_page(503, "Sign-in is not set up yet",
                          "An admin has to set " + " and ".join(missing) + " in syncd's config, "
                          "and turn on enable_discourse_connect_provider in Discourse "
                          "(see docs/web.md).")
    return None


@blueprint.get("/auth/login")
def login():
    refused = _not_set_up()
    if refused:
        return refused
    st = state()
    w = st.settings.web
    try:
        nonce = sessions.new_nonce(st.store.db(), safe_next(request.args.get("next")),
                                   w.login_minutes, st.clock())
    except sessions.NonceError as exc:
        log.warning("web_sign_in_refused", reason=str(exc))
        return error_page(503, "Sign-in is busy", f"{exc}.")
    url = discourse_connect.login_url(st.settings.discourse.url, nonce,
                                      f"{st.base_url}/auth/callback", w.discourse_connect_secret)
    response = redirect(url, 302)
    _set_cookie(response, sessions.LOGIN_COOKIE, sessions.seal(nonce, st.secret, "login"),
                w.login_minutes * 60)
    return response


@blueprint.get("/auth/callback")
def callback():
    refused = _not_set_up()
    if refused:
        return refused
    st = state()
    w = st.settings.web
    try:
        fields = discourse_connect.verify(request.args.get("sso"), request.args.get("sig"),
                                          w.discourse_connect_secret)
        next_path = sessions.take_nonce(st.store.db(), fields.get("nonce", ""), st.clock())
        mine = sessions.unseal(request.cookies.get(sessions.LOGIN_COOKIE), st.secret, "login")
        if mine != fields.get("nonce"):
            raise discourse_connect.ConnectError("the sign-in was started in another browser "
                                                 "(or its cookie was lost)")
        who = discourse_connect.identity(fields)
    except (discourse_connect.ConnectError, sessions.NonceError) as exc:
        log.warning("web_sign_in_refused", reason=str(exc))
        return error_page(400, "Sign-in did not work", f"{exc}.", retry=True)
    staff = who.is_staff(st.settings.discourse.staff_groups)
    with transaction(st.store.db()) as conn:
        if staff:
            people.remember(conn, who.as_person(), active=True)
        else:   # keep nothing about a non-staff user; someone who left staff is turned off
            people.deactivate(conn, who.id)
    if not staff:
        log.info("web_sign_in_not_staff", username=who.username)
        response = make_response(render_template(
            "denied.html", username=who.username,
            groups=st.settings.discourse.staff_groups), 403)
        response.delete_cookie(sessions.LOGIN_COOKIE, path="/")
        return response
    token = sessions.start(st.store.db(), who.id, w.session_hours, st.clock())
    log.info("web_signed_in", username=who.username)
    response = redirect(next_path, 302)
    _set_cookie(response, sessions.SESSION_COOKIE, sessions.seal(token, st.secret, "session"),
                w.session_hours * 3600)
    response.delete_cookie(sessions.LOGIN_COOKIE, path="/")
    return response


@blueprint.post("/auth/logout")
def logout():
    st = state()
    sessions.end(st.store.db(), g.get("web_token"))
    response = make_response(render_template("signed_out.html"))
    response.delete_cookie(sessions.SESSION_COOKIE, path="/")
    return response


@blueprint.get("/")
def home():
    return redirect("/tickets" if g.get("web_session") else "/auth/login", 302)
