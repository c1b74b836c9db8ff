"""Sign-in state: the session secret, one-use nonces, server-side sessions, CSRF tokens.

- The session secret is generated once and stored in ``settings`` (like the webhook
  secret); it signs the cookies. It is never logged or printed.
- A nonce is written when a sign-in starts and deleted when the answer comes back
  (``DELETE … RETURNING``): a replayed answer finds nothing. It lives ``web.login_minutes``.
- A session is a random token in a signed, ``HttpOnly``, ``SameSite=Lax`` cookie (``Secure``
  when ``web.base_url`` is https); the table keeps only its SHA-256, the person, the CSRF
  token and the expiry. Signing out deletes the row, so a copied cookie is worth nothing.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils

from syncd.clock import iso
from syncd.store.db import get_setting, put_setting, rows, transaction

SECRET_SETTING = "web_session_secret"
SESSION_COOKIE = "syncd_session"
LOGIN_COOKIE = "syncd_login"
MAX_PENDING_SIGN_INS = 10_000


class NonceError(Exception):
    """A sign-in answer whose nonce is unknown, used or expired; the text says which."""


def session_secret(db: sqlite_utils.Database) -> str:
    """The stored secret, generated on first use."""
    stored = get_setting(db, SECRET_SETTING)
    if stored:
        return stored
    with transaction(db) as conn:
        row = conn.execute("SELECT value FROM settings WHERE key = ?", (SECRET_SETTING,)).fetchone()
        if row:
            return row[0]
        value = secrets.token_urlsafe(32)
        put_setting(conn, SECRET_SETTING, value)
    return value


def seal(value: str, secret: str, purpose: str) -> str:
    """``value.signature``: a cookie the browser cannot forge."""
    mac = hmac.new(secret.encode(), f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()
    return f"{value}.{mac}"


def unseal(cookie: str | None, secret: str, purpose: str) -> str | None:
    if not cookie or "." not in cookie:
        return None
    value, _, _mac = cookie.rpartition(".")
    return value if hmac.compare_digest(seal(value, secret, purpose), cookie) else None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- nonces --------------------------------------------------------------------------------

def new_nonce(db: sqlite_utils.Database, next_path: str, minutes: float, now: datetime) -> str:
    nonce = secrets.token_hex(16)
    with transaction(db) as conn:
        conn.execute("DELETE FROM web_nonces WHERE expires_at <= ?", (iso(now),))
        pending = conn.execute("SELECT COUNT(*) FROM web_nonces").fetchone()[0]
        if pending >= MAX_PENDING_SIGN_INS:   # someone is hammering /auth/login
            raise NonceError("too many sign-ins are under way: try again in a few minutes")
        conn.execute("INSERT INTO web_nonces (nonce, next_path, created_at, expires_at) "
                     "VALUES (?, ?, ?, ?)",
                     (nonce, next_path, iso(now), iso(now + timedelta(minutes=minutes))))
    return nonce


def take_nonce(db: sqlite_utils.Database, nonce: str, now: datetime) -> str:
    """Use a nonce up (whatever happens next) and return where to go after sign-in."""
    with transaction(db) as conn:
        found = conn.execute("DELETE FROM web_nonces WHERE nonce = ? RETURNING next_path, "
                             "expires_at", (nonce,)).fetchall()
    if not found:
        raise NonceError("this sign-in link was used already or was never issued: sign in again")
    next_path, expires_at = found[0]
    if expires_at <= iso(now):
        raise NonceError("the sign-in took too long and expired: sign in again")
    return next_path


# --- sessions ------------------------------------------------------------------------------

def start(db: sqlite_utils.Database, person_id: int, hours: float, now: datetime) -> str:
    """A new session for a person; returns the token for the cookie."""
    token = secrets.token_urlsafe(32)
    with transaction(db) as conn:
        conn.execute("DELETE FROM web_sessions WHERE expires_at <= ?", (iso(now),))
        conn.execute("INSERT INTO web_sessions (token_sha256, person_id, csrf, created_at, "
                     "expires_at) VALUES (?, ?, ?, ?, ?)",
                     (_digest(token), person_id, secrets.token_urlsafe(32), iso(now),
                      iso(now + timedelta(hours=hours))))
    return token


def load(conn: sqlite3.Connection, token: str | None, now: datetime) -> dict[str, Any] | None:
    """The session and its person, or None (unknown, signed out or expired)."""
    if not token:
        return None
    found = rows(conn, "SELECT s.person_id, s.csrf, s.expires_at, p.username, p.name, p.admin, "
                 "p.moderator, p.active FROM web_sessions s JOIN web_people p ON p.id = s.person_id "
                 "WHERE s.token_sha256 = ? AND s.expires_at > ?", (_digest(token), iso(now)))
    return found[0] if found else None


def end(db: sqlite_utils.Database, token: str | None) -> None:
    if token:
        with transaction(db) as conn:
            conn.execute("DELETE FROM web_sessions WHERE token_sha256 = ?", (_digest(token),))


def csrf_ok(session: dict[str, Any] | None, submitted: str | None) -> bool:
    return bool(session and submitted) and hmac.compare_digest(session["csrf"], submitted or "")
