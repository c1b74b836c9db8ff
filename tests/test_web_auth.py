"""Sign-in with DiscourseConnect: signatures, nonces, who gets in, cookies, CSRF, sign-out.

The protocol follows Discourse's source (lib/discourse_connect_base.rb,
lib/discourse_connect_provider.rb, SessionController#sso_provider): see
tests/standins/discourse_connect.py, which answers as Discourse does.
"""
from __future__ import annotations

import base64
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from syncd.web import discourse_connect as dc

from standins.discourse_connect import DiscourseConnectStandIn, signed_answer

from webkit import (BOB, CONNECT_SECRET, JANE, STUDENT, Clock, at_forum, back_at_syncd, csrf,
                    provider, sign_in, start_login, web_app, web_settings)

# The worked vector of the DiscourseConnect notes: computed with Python's hmac and checked
# against Node's crypto.createHmac over the same base64 text (Discourse's `sign`).
V_SECRET = "s3cr3t-for-helpdesk"
V_NONCE = "cb68251eefb5211e58c00ff1395f0c0b"
V_RETURN = "https://helpdesk.example.com/auth/discourse/callback"
V_REQUEST_SSO = ("bm9uY2U9Y2I2ODI1MWVlZmI1MjExZTU4YzAwZmYxMzk1ZjBjMGImcmV0dXJuX3Nzb191cmw9aHR0cHMl"
                 "M0ElMkYlMkZoZWxwZGVzay5leGFtcGxlLmNvbSUyRmF1dGglMkZkaXNjb3Vyc2UlMkZjYWxsYmFjaw==")
V_REQUEST_SIG = "4eaf11af4ff53285ab1463f63c0b2bf92d07eaf98b8997ea1b7cf0d28c6ff472"
V_ANSWER_SSO = (
    "YWRtaW49ZmFsc2UmYXZhdGFyX3VybD1odHRwcyUzQSUyRiUyRmZvcnVtLmV4YW1wbGUuY29tJTJGdXBsb2FkcyUyRmRl"
    "ZmF1bHQlMkZvcmlnaW5hbCUyRjFYJTJGYWJjLnBuZyZlbWFpbD1qYW5lJTQwZXhhbXBsZS5jb20mZXh0ZXJuYWxfaWQ9"
    "NDImZ3JvdXBzPXN0YWZmJTJDc3VwcG9ydCZtb2RlcmF0b3I9dHJ1ZSZuYW1lPUphbmUrRG9lJm5vbmNlPWNiNjgyNTFl"
    "ZWZiNTIxMWU1OGMwMGZmMTM5NWYwYzBiJnJldHVybl9zc29fdXJsPWh0dHBzJTNBJTJGJTJGaGVscGRlc2suZXhhbXBs"
    "ZS5jb20lMkZhdXRoJTJGZGlzY291cnNlJTJGY2FsbGJhY2smdXNlcm5hbWU9amFuZQ==")
V_ANSWER_SIG = "eeebfd4830084193b3b9bb6357ae0c2afd7ea03b7d1cecde6c0785544c458f75"


@pytest.fixture
def env(tmp_path):
    clock = Clock()
    app, store = web_app(web_settings(tmp_path), clock)
    return app.test_client(), provider(), store, clock


def test_request_matches_the_worked_vector():
    """The request's sso is base64 of the form-encoded nonce and return URL; sig is hex HMAC."""
    q = parse_qs(dc.request_query(V_NONCE, V_RETURN, V_SECRET))
    assert q["sso"] == [V_REQUEST_SSO] and q["sig"] == [V_REQUEST_SIG]


def test_answer_of_the_worked_vector_verifies_and_names_jane():
    """A signed answer decodes to the user; admin/moderator are true/false; groups split."""
    who = dc.identity(dc.verify(V_ANSWER_SSO, V_ANSWER_SIG, V_SECRET))
    assert (who.id, who.username, who.name, who.email) == (42, "jane", "Jane Doe", "jane@example.com")
    assert (who.admin, who.moderator, who.groups) == (False, True, ("staff", "support"))


def test_wrong_secret_or_tampered_payload_is_refused():
    """A signature made with another secret, or a payload changed after signing, fails."""
    with pytest.raises(dc.ConnectError, match="signature"):
        dc.verify(V_ANSWER_SSO, V_ANSWER_SIG, "another-secret-entirely")
    forged = base64.b64encode(base64.b64decode(V_ANSWER_SSO).replace(b"admin=false", b"admin=true"))
    with pytest.raises(dc.ConnectError, match="signature"):
        dc.verify(forged.decode(), V_ANSWER_SIG, V_SECRET)
    with pytest.raises(dc.ConnectError):
        dc.verify("not base64 !", V_ANSWER_SIG, V_SECRET)


def test_login_redirects_to_the_forum_with_a_signed_nonce(env):
    """/auth/login sends the browser to {forum}/session/sso_provider; the forum accepts it."""
    client, forum, store, _ = env
    location = start_login(client)
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://forum.example.com/session/sso_provider"
    status, _, _ = forum.handle("GET", parts.path, parts.query, {}, b"")
    assert status == 302
    assert forum.requests[0]["return_sso_url"] == "https://syncd.example.edu/auth/callback"
    nonce = forum.requests[0]["nonce"]
    assert store.db().conn.execute("SELECT COUNT(*) FROM web_nonces WHERE nonce = ?",
                                   (nonce,)).fetchone()[0] == 1


def test_a_moderator_signs_in_with_a_secure_httponly_lax_cookie(env):
    """A moderator gets in, lands where they were going; the cookie is Secure (https)."""
    client, forum, _, _ = env
    r = sign_in(client, forum, JANE, next_path="/tickets")
    assert (r.status_code, r.headers["Location"]) == (302, "/tickets")
    cookie = [c for c in r.headers.getlist("Set-Cookie") if c.startswith("syncd_session=")][0]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
    page = client.get("/me")
    assert page.status_code == 200 and "@jane" in page.get_data(as_text=True)


def test_a_staff_group_member_gets_in(env):
    """Neither admin nor moderator, but in discourse.staff_groups (support-team): welcome."""
    client, forum, _, _ = env
    assert sign_in(client, forum, BOB).status_code == 302
    assert client.get("/me").status_code == 200


def test_a_student_sees_the_403_page_and_gets_no_session(env):
    """Anyone else is refused with a page that says why, and no session cookie."""
    client, forum, store, _ = env
    r = sign_in(client, forum, STUDENT)
    html = r.get_data(as_text=True)
    assert r.status_code == 403 and "Staff only" in html and "@sam" in html
    assert not any(c.startswith("syncd_session=") for c in r.headers.getlist("Set-Cookie"))
    assert client.get("/me").status_code == 302
    assert store.db().conn.execute("SELECT COUNT(*) FROM web_sessions").fetchone()[0] == 0


def test_an_answer_used_twice_is_refused(env):
    """The nonce is single use: replaying Discourse's answer does not sign in again."""
    client, forum, _, _ = env
    answer = at_forum(forum, start_login(client), JANE)
    assert back_at_syncd(client, answer).status_code == 302
    again = back_at_syncd(client, answer)
    assert again.status_code == 400 and "used already" in again.get_data(as_text=True)


def test_an_answer_after_the_nonce_expired_is_refused(env):
    """A sign-in that took longer than web.login_minutes (10) is refused."""
    client, forum, _, clock = env
    answer = at_forum(forum, start_login(client), JANE)
    clock.at += timedelta(minutes=11)
    r = back_at_syncd(client, answer)
    assert r.status_code == 400 and "expired" in r.get_data(as_text=True)
    assert client.get("/me").status_code == 302


def test_an_answer_in_another_browser_is_refused(env, tmp_path):
    """The nonce is bound to the browser that started the sign-in (its login cookie)."""
    client, forum, _, _ = env
    answer = at_forum(forum, start_login(client), JANE)
    client.delete_cookie("syncd_login", domain="localhost")
    r = back_at_syncd(client, answer)
    assert r.status_code == 400 and "another browser" in r.get_data(as_text=True)


def test_a_forged_answer_is_refused(env):
    """An answer signed with another secret (not the shared one) signs nobody in."""
    client, _, store, _ = env
    location = start_login(client)
    sso = parse_qs(urlsplit(location).query)["sso"][0]
    nonce = parse_qs(base64.b64decode(sso).decode())["nonce"][0]
    answer = signed_answer({"nonce": nonce, "external_id": 42, "username": "jane", "admin": True},
                           "the-wrong-secret-0000")
    r = back_at_syncd(client, f"/auth/callback?{answer}")
    assert r.status_code == 400 and "signature" in r.get_data(as_text=True)
    assert store.db().conn.execute("SELECT COUNT(*) FROM web_sessions").fetchone()[0] == 0


def test_post_without_csrf_token_changes_nothing(env):
    """A form posted without (or with a wrong) CSRF token is refused with 400; nothing saved."""
    client, forum, store, _ = env
    sign_in(client, forum, JANE)
    form = {"events": ["new_ticket"], "destination": "pm", "min_priority": "high", "timezone": "UTC"}
    assert client.post("/me", data=form).status_code == 400
    assert client.post("/me", data={**form, "csrf_token": "guess"}).status_code == 400
    assert store.db().conn.execute("SELECT COUNT(*) FROM alert_preferences").fetchone()[0] == 0
    token = csrf(client.get("/me").get_data(as_text=True))
    assert client.post("/me", data={**form, "csrf_token": token}).status_code == 303
    assert store.db().conn.execute("SELECT min_priority FROM alert_preferences").fetchone()[0] == "high"


def test_sign_out_ends_the_session_for_good(env):
    """After sign-out the same cookie no longer opens any page."""
    client, forum, _, _ = env
    sign_in(client, forum, JANE)
    cookie = client.get_cookie("syncd_session").value
    token = csrf(client.get("/me").get_data(as_text=True))
    r = client.post("/auth/logout", data={"csrf_token": token})
    assert r.status_code == 200 and "Signed out" in r.get_data(as_text=True)
    client.set_cookie("syncd_session", cookie)
    assert client.get("/me").status_code == 302


def test_only_local_paths_follow_a_sign_in(env):
    """next=//evil.example or a full URL lands on /me instead (no open redirect)."""
    client, forum, _, _ = env
    for bad in ("//evil.example/x", "https://evil.example/", "\\\\evil"):
        assert sign_in(client, forum, JANE, next_path=bad).headers["Location"] == "/me"


def test_pages_send_a_strict_content_security_policy(env):
    """No scripts, no inline styles, no framing; forms post only to syncd."""
    client, forum, _, _ = env
    sign_in(client, forum, JANE)
    csp = client.get("/tickets").headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "form-action 'self'" in csp
    assert "frame-ancestors 'none'" in csp and "script-src" not in csp


def test_sign_in_not_set_up_says_what_to_configure(tmp_path):
    """Without web.discourse_connect_secret, /auth/login explains what the admin must set."""
    from conftest import make_settings, online
    app, _ = web_app(online(make_settings(tmp_path)))
    r = app.test_client().get("/auth/login")
    assert r.status_code == 503 and "web.discourse_connect_secret" in r.get_data(as_text=True)


def test_cookies_are_not_secure_on_plain_http(tmp_path):
    """With an http base_url (a laptop), the cookie cannot be Secure or the browser drops it."""
    app, _ = web_app(web_settings(tmp_path, base_url="http://127.0.0.1:8080"))
    client = app.test_client()
    forum = provider(host="127.0.0.1")
    r = sign_in(client, forum, JANE)
    cookie = [c for c in r.headers.getlist("Set-Cookie") if c.startswith("syncd_session=")][0]
    assert "Secure" not in cookie and "HttpOnly" in cookie


def test_session_secret_is_generated_once_and_kept(tmp_path):
    """The cookie-signing secret is made on first start, stored, and the same next time."""
    settings = web_settings(tmp_path)
    first = web_app(settings)[0].extensions["syncd_web"].secret
    second = web_app(settings)[0].extensions["syncd_web"].secret
    assert first == second and len(first) >= 32 and CONNECT_SECRET not in first


def test_a_student_leaves_no_record_and_a_former_moderator_is_turned_off(env):
    """Non-staff sign-ins store nothing; someone who lost staff rights loses their sessions."""
    client, forum, store, _ = env
    sign_in(client, forum, STUDENT)
    conn = store.db().conn
    assert conn.execute("SELECT COUNT(*) FROM web_people").fetchone()[0] == 0
    sign_in(client, forum, JANE)
    assert client.get("/me").status_code == 200
    other = client.application.test_client()
    demoted = {**JANE, "moderator": False, "groups": ["trust_level_2"]}
    assert sign_in(other, provider(user=demoted), demoted).status_code == 403
    assert client.get("/me").status_code == 302          # the old session no longer opens
    assert conn.execute("SELECT active FROM web_people").fetchone()[0] == 0


def test_too_many_sign_ins_under_way_are_refused(env, monkeypatch):
    """A flood of /auth/login cannot grow the nonce table without bound."""
    client, _, store, _ = env
    from syncd.web import sessions
    monkeypatch.setattr(sessions, "MAX_PENDING_SIGN_INS", 3)
    assert [client.get("/auth/login").status_code for _ in range(4)] == [302, 302, 302, 503]
    assert store.db().conn.execute("SELECT COUNT(*) FROM web_nonces").fetchone()[0] == 3


def test_the_forum_stand_in_is_as_strict_as_discourse(env):
    """The stand-in refuses what Discourse refuses: a bad request signature (422), a host
    with no provider secret (400), the provider turned off (404)."""
    client, forum, _, _ = env
    path, query = _path_query(start_login(client))
    tampered = query.replace("sig=", "sig=0")
    assert forum.handle("GET", path, tampered, {}, b"")[0] == 422
    stranger = DiscourseConnectStandIn(f"other.example.edu|{CONNECT_SECRET}", JANE)
    assert stranger.handle("GET", path, query, {}, b"")[0] == 400
    forum.enabled = False
    assert forum.handle("GET", path, query, {}, b"")[0] == 404


def test_names_with_spaces_and_tildes_come_through(env):
    """Discourse form-encodes the payload as Rack does (space as +, ~ as %7E): decoded right."""
    client, forum, store, _ = env
    odd = {**JANE, "name": "Jane ~ O'Brien-Doe & co", "username": "jane.o_b"}
    assert sign_in(client, forum, odd).status_code == 302
    row = store.db().conn.execute("SELECT name, username FROM web_people").fetchone()
    assert row == ("Jane ~ O'Brien-Doe & co", "jane.o_b")
    assert "%7E" in base64.b64decode(parse_qs(forum.answers[-1])["sso"][0]).decode()


def _path_query(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.path, parts.query
