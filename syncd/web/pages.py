"""What every page shares: the signed-in check, error pages, times shown in a zone."""
from __future__ import annotations

from functools import wraps
from typing import Any, Callable
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from flask import g, redirect, render_template, request

from syncd.clock import parse


def error_page(status: int, title: str, message: str, **extra: Any):
    return render_template("error.html", status=status, title=title, message=message,
                           **extra), status


def signed_in(view: Callable) -> Callable:
    """Send a visitor without a session to sign in, and back here afterwards."""
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any):
        if g.get("web_session") is None:
            there = request.full_path.rstrip("?")
            return redirect("/auth/login?" + urlencode({"next": there}))
        return view(*args, **kwargs)
    return wrapper


def local_time(at: str | None, tz: ZoneInfo) -> str:
    """``2 Mar 2026, 14:44 IST`` (empty for no time)."""
    if not at:
        return ""
    try:
        local = parse(at).astimezone(tz)
    except ValueError:
        return at
    return f"{local.day} {local:%b %Y, %H:%M} {local.tzname()}"


def safe_next(path: str | None) -> str:
    """Only a path on this site (never ``//host`` or a full URL) may follow a sign-in."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/me"
    return path
