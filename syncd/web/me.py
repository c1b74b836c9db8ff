"""``/me``: a person's alert preferences, and "send me a test alert".

The webhook URL a person enters is a secret: the page shows it back masked, never logs
it, and an empty field keeps the saved one. A test alert is an outbox row (on the person's
own queue, ``trial_ticket_id``) that the delivery workers send like any other alert.
"""
from __future__ import annotations

import re
import zoneinfo
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from flask import g, redirect, render_template, request

from syncd import logs
from syncd.clock import iso
from syncd.core.alerts import DESTINATIONS, EVENTS, PRIORITIES, Preferences, masked, parse_clock
from syncd.store import categories, people
from syncd.store import tickets as ticketstore
from syncd.store.db import rows, transaction
from syncd.web import blueprint, state
from syncd.web.pages import local_time, signed_in

log = logs.get("syncd.web")
EMAIL = re.compile(r"\A[^@\s]+@[^@\s]+\.[^@\s]+\Z")
ZONES = sorted(z for z in zoneinfo.available_timezones() if "/" in z or z == "UTC")


def _chat_url_problem(url: str, hosts: tuple[str, ...]) -> str | None:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" and not (parts.scheme == "http" and host in ("127.0.0.1", "localhost")):
        return "The webhook URL must start with https://"
    if host not in hosts:
        return (f"The webhook URL must be on {' or '.join(hosts)} (Google Chat: space → Apps & "
                "integrations → Webhooks → copy the URL)")
    if "key=" not in parts.query or "token=" not in parts.query:
        return "That URL has no key and token: copy the whole webhook URL from Google Chat"
    return None


def parse_form(form: Any, saved: Preferences, hosts: tuple[str, ...]) -> tuple[Preferences, list[str]]:
    """The submitted form as preferences, and what is wrong with it (nothing saved then)."""
    errors: list[str] = []
    events = frozenset(e for e in form.getlist("events") if e in EVENTS)
    cats = tuple(c for c in form.getlist("categories") if c)
    tags = tuple(t.strip().lower() for t in (form.get("tags") or "").split(",") if t.strip())
    priority = form.get("min_priority") or "low"
    if priority not in PRIORITIES:
        errors.append(f"Minimum priority must be one of {', '.join(PRIORITIES)}")
        priority = saved.min_priority
    dest = form.get("destination") or "none"
    if dest not in DESTINATIONS:
        errors.append("Choose where alerts go")
        dest = saved.destination
    url = (form.get("gchat_url") or "").strip()
    if form.get("forget_gchat"):
        url = ""
    elif not url:
        url = saved.gchat_url
    elif (problem := _chat_url_problem(url, hosts)) is not None:
        errors.append(problem + ". The URL you typed was not kept: paste it again.")
        url = saved.gchat_url
    if dest == "gchat" and not url:
        errors.append("Google Chat needs your space's webhook URL")
    email = (form.get("email") or "").strip()
    if email and not EMAIL.match(email):
        errors.append(f"'{email}' is not an email address")
    if dest == "email" and not email:
        errors.append("Email alerts need an email address")
    zone = form.get("timezone") or "UTC"
    if zone not in ZONES:
        errors.append(f"Unknown time zone '{zone}'")
        zone = saved.timezone
    clocks = {}
    for key in ("quiet_start", "quiet_end", "digest_at"):
        value = (form.get(key) or "").strip()
        if value and parse_clock(value) is None:
            errors.append(f"{key.replace('_', ' ').capitalize()} must be a time such as 22:00")
            value = getattr(saved, key)
        clocks[key] = value
    if bool(clocks["quiet_start"]) != bool(clocks["quiet_end"]):
        errors.append("Quiet hours need both a start and an end")
    digest = form.get("digest_below") or ""
    if digest and digest not in PRIORITIES:
        errors.append("The digest threshold must be a priority")
        digest = saved.digest_below
    prefs = replace(saved, events=events, categories=cats, tags=tags, min_priority=priority,
                    destination=dest, gchat_url=url, email=email, timezone=zone,
                    quiet_start=clocks["quiet_start"], quiet_end=clocks["quiet_end"],
                    digest_below=digest, digest_at=clocks["digest_at"] or "09:00")
    return prefs, errors


def _last_test(conn, person_id: int) -> dict[str, Any] | None:
    found = rows(conn, "SELECT id, status, attempts, last_error, created_at, sent_at FROM outbox "
                 "WHERE kind = 'notify' AND ticket_id = ? ORDER BY id DESC LIMIT 1",
                 (trial_ticket_id(person_id),))
    return found[0] if found else None


def _recent(conn, person_id: int, tz) -> list[dict[str, Any]]:
    """My last alerts about tickets, with their delivery state."""
    found = rows(conn, "SELECT o.id, o.ticket_id, o.status, o.last_error, o.created_at, o.sent_at, "
                 "o.hold_kind, o.hold_until, "
                 "json_extract(o.params, '$.ticket.title') AS title, "
                 "json_extract(o.params, '$.ticket.url') AS url FROM alerts a "
                 "JOIN outbox o ON o.id = a.outbox_id WHERE a.person_id = ? "
                 "ORDER BY a.id DESC LIMIT 10", (person_id,))
    for r in found:
        r["when"] = local_time(r["sent_at"] or r["created_at"], tz)
        r["until"] = local_time(r["hold_until"], tz) if r["status"] == "held" else ""
    return found


def _page(prefs: Preferences, errors: list[str], status: int = 200, notice: str = ""):
    st = state()
    conn = st.store.db().conn
    cmap = categories.load(conn, st.settings.discourse.category_map)
    known = sorted(set(cmap.by_slug) | {str(c) for c in st.settings.discourse.categories}
                   | set(prefs.categories))
    test = _last_test(conn, prefs.person_id)
    if test:
        test["when"] = local_time(test["sent_at"] or test["created_at"], st.settings.tz)
    return render_template(
        "me.html", prefs=prefs, errors=errors, notice=notice, events=EVENTS,
        destinations=DESTINATIONS, priorities=PRIORITIES, categories=known, zones=ZONES,
        gchat_saved=masked(prefs.gchat_url), email_ready=bool(st.settings.web.smtp_host),
        pm_ready=not st.settings.discourse.dry_run, test=test,
        recent=_recent(conn, prefs.person_id, st.settings.tz),
        chat_hosts=_hosts()), status


def _hosts() -> tuple[str, ...]:
    return tuple(h.lower() for h in state().settings.web.chat_webhook_hosts)


def _saved(conn, person_id: int) -> bool:
    return conn.execute("SELECT 1 FROM alert_preferences WHERE person_id = ?",
                        (person_id,)).fetchone() is not None


def _mine() -> Preferences:
    """My saved preferences, or the defaults (in syncd's time zone) before I save any."""
    st = state()
    conn = st.store.db().conn
    pid = g.web_session["person_id"]
    prefs = people.preferences(conn, pid)
    return prefs if _saved(conn, pid) else replace(prefs, timezone=st.settings.timezone)


@blueprint.get("/me")
@signed_in
def show():
    notices = {"saved": "Saved. Alerts follow these settings from now on.",
               "test": "A test alert is on its way: it is listed below once it is sent."}
    return _page(_mine(), [], notice=notices.get(request.args.get("done", ""), ""))


@blueprint.post("/me")
@signed_in
def save():
    st = state()
    prefs, errors = parse_form(request.form, _mine(), _hosts())
    if errors:
        return _page(prefs, errors, 400)
    with transaction(st.store.db()) as conn:
        people.save(conn, prefs)
    log.info("web_preferences_saved", username=prefs.username, destination=prefs.destination,
             events=sorted(prefs.events))
    return redirect("/me?done=saved", 303)


@blueprint.post("/me/test")
@signed_in
def send_test_alert():
    st = state()
    prefs = _mine()
    if not _saved(st.store.db().conn, prefs.person_id) or prefs.destination == "none":
        return _page(prefs, ["Choose where alerts go and save first: then the test alert has "
                             "somewhere to go"], 400)
    last = _last_test(st.store.db().conn, prefs.person_id)
    if last and last["status"] in ("pending", "sending"):   # pressed twice: one is enough
        return redirect("/me?done=test", 303)
    person = people.person(st.store.db().conn, prefs.person_id) or {}
    now = iso(st.clock())
    params = trial_params(person, st.base_url, now)
    with transaction(st.store.db()) as conn:   # on the person's own queue: see trial_ticket_id
        action_id = ticketstore.enqueue(conn, trial_ticket_id(prefs.person_id), "notify", params,
                                        None, None, now)
    log.info("web_test_alert_queued", username=prefs.username, action_id=action_id)
    return redirect("/me?done=test", 303)


def trial_ticket_id(person_id: int) -> int:
    """The outbox's ticket id of a person's test alerts: their own (negative) number, so that
    one person's unreachable space never holds up another's test (the outbox sends a
    ticket's actions in order)."""
    return -int(person_id)


def trial_params(person: dict[str, Any], base_url: str, now: str) -> dict[str, Any]:
    """The params of a "send me a test alert" row, as ``outbox.subscribers`` reads them."""
    where = f"{base_url.rstrip('/')}/me" if base_url else None
    return {"channel": f"person:{person['id']}",   # outbox.subscribers: this person's queue
            "person_id": person["id"], "username": person["username"], "test": True,
            "kinds": [], "private": False,
            "text": f"Test alert for @{person['username']}: this is how syncd will reach you.",
            "ticket": {"id": 0, "title": "syncd test alert", "url": where, "priority": "normal",
                       "status": "open", "author": person["username"], "tags": []},
            "event": {"name": "test_alert", "at": now}}
