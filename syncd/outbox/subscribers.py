"""``notify: subscribers``: one alert for each staff member whose preferences match.

Two steps, both outbox rows, so both are retried, paced and leased like every action:

1. The rule's row (``notify`` to channel ``subscribers``) is *fanned out*: in one
   transaction the worker reads everyone's preferences (``store.people``), picks the people
   ``core.alerts.wants`` says yes to, and writes one alert row each. The ``alerts``
   table holds one row per (action, person), so a fan-out taken again after a crash adds
   nobody twice.
2. Each alert (a ``notify`` row to channel ``person:<id>``: one queue a person) is sent
   to the person's destination as it is *now* (a changed webhook or a turned-off alert is
   honoured): their own Google Chat space (a card, with
   ``requestId`` from the action: Chat returns the first message on a resend), a Discourse
   private message (``external_id`` from the action: a resend finds the first one), or an
   email (``Message-ID`` from the action; SMTP itself cannot refuse a second copy, so an
   email is at-least-once across a crash in mid-send).

A person's quiet hours and daily digest (``core.alerts.plan_hold``) hold an alert back with
the channels' machinery (``core.holds``, docs/time.md): the fan-out writes the alert row as
``held`` (``hold_kind`` quiet or digest, ``hold_until``) in its own transaction, and the
scheduler in ``serve`` releases it (quiet) or gathers a person's held alerts of one digest
time into one digest row to ``person:<id>`` (each held row becomes ``digested`` in the same
transaction), which is sent here like any alert. Urgent alerts and the test alert go at once.
"""
from __future__ import annotations

import hashlib
import smtplib
import ssl
import threading
from datetime import datetime
from email.message import EmailMessage
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from syncd import logs
from syncd.channels import gchat
from syncd.channels.log import summary
from syncd.clock import iso, utcnow
from syncd.config import ChannelSettings, Settings
from syncd.core.alerts import EVENTS, Occasion, kinds_of, matching, plan_hold
from syncd.errors import PermanentError, TransientError
from syncd.outbox.pacing import TokenBucket
from syncd.store import people
from syncd.store import tickets as ticketstore
from syncd.store import timers
from syncd.store.db import transaction

log = logs.get("syncd.alerts")
SUBSCRIBERS = "subscribers"
PERSON = "person:"            # an alert's channel: person:<id>, one queue a person
EMAILS_PER_MINUTE = 60


def person_channel(person_id: int) -> str:
    return f"{PERSON}{int(person_id)}"


def handles(action: Any) -> bool:
    """A fan-out (``notify: subscribers``) or one person's alert (``notify`` to ``person:<id>``)."""
    channel = str(action.params.get("channel") or "") if action.kind == "notify" else ""
    return channel == SUBSCRIBERS or channel.startswith(PERSON)


def is_alert(action: Any) -> bool:
    return str(action.params.get("channel") or "").startswith(PERSON)


def destination(action: Any) -> str:
    """Where it goes, for ordering and health: ``person:<id>``, or ``subscribers`` (a fan-out)."""
    return str(action.params.get("channel"))


class SubscriberAlerts:
    """Shared by every delivery worker: one token bucket a person's space, one for email."""

    def __init__(self, settings: Settings, gateway: Any = None):
        self.settings, self.gateway = settings, gateway
        self._chats: dict[tuple[int, str], gchat.GoogleChatNotifier] = {}
        self._lock = threading.Lock()
        self.mail_bucket = TokenBucket(EMAILS_PER_MINUTE, capacity=1)

    def deliver(self, db, action: Any, retrying: bool) -> tuple[str, Any]:
        if is_alert(action):
            return self.send(db, action, retrying)
        return "sent", self.fan_out(db, action)

    # --- 1. fan-out --------------------------------------------------------------------

    def fan_out(self, db, action: Any, now: datetime | None = None) -> dict[str, Any]:
        params = action.params
        event = params.get("event") or {}
        now = now or utcnow()
        at = iso(now)
        priority = str((params.get("ticket") or {}).get("priority") or "normal")
        held = 0
        with transaction(db) as conn:
            occasion = Occasion(event=str(event.get("name") or ""), ticket=params.get("ticket") or {},
                                actor=event.get("actor"), old=event.get("old"),
                                new=event.get("new"), marked=tuple(params.get("as") or ()),
                                participants=people.participants(conn, action.ticket_id))
            done = people.alerted(conn, action.id)
            chosen = matching(people.subscribers(conn), occasion)
            kinds = sorted(kinds_of(occasion))
            made = []
            for prefs in chosen:
                if prefs.person_id in done:
                    continue
                alert = {"channel": person_channel(prefs.person_id),
                         "person_id": prefs.person_id, "username": prefs.username,
                         "kinds": kinds, "text": params.get("text") or _headline(kinds, params),
                         "ticket": params.get("ticket"), "event": event,
                         "private": bool(params.get("private")), "source_action": action.id}
                oid = ticketstore.enqueue(conn, action.ticket_id, "notify", alert, action.rule,
                                          action.delivery_id, at)
                people.record_alert(conn, action.id, prefs.person_id, oid, at)
                plan = plan_hold(prefs, priority, now)
                if plan is not None:       # quiet hours or digest: the scheduler releases it
                    timers.hold(conn, oid, plan[0], iso(plan[1]))
                    held += 1
                made.append(prefs.username)
        log.info("subscribers_fanned_out", matched=len(chosen), new=len(made), held=held)
        return {"alerted": sorted(p.username for p in chosen), "new": made, "kinds": kinds}

    # --- 2. one person's alert ---------------------------------------------------------

    def send(self, db, action: Any, retrying: bool) -> tuple[str, Any]:
        person_id = action.params.get("person_id") or destination(action)[len(PERSON):]
        prefs = people.preferences(db.conn, int(person_id))   # a digest names the channel only
        if not prefs.active:
            return "sent", {"skipped": f"@{prefs.username} is no longer support staff"}
        how = prefs.destination
        if how == "gchat":
            return self._chat(prefs, action)
        if how == "pm":
            return self._pm(prefs, action, retrying)
        if how == "email":
            return self._email(prefs, action)
        return "sent", {"skipped": f"@{prefs.username} turned their alerts off"}

    def _chat(self, prefs, action) -> tuple[str, Any]:
        if not prefs.gchat_url:
            return "sent", {"skipped": f"@{prefs.username} has no Google Chat webhook set"}
        fingerprint = hashlib.sha256(f"{prefs.gchat_url}|{prefs.timezone}".encode()).hexdigest()[:16]
        with self._lock:
            notifier = self._chats.get((prefs.person_id, fingerprint))
            if notifier is None:   # times on the card in the person's own zone
                channel = ChannelSettings(name=f"@{prefs.username}", type="gchat",
                                          url=prefs.gchat_url)
                notifier = gchat.GoogleChatNotifier(channel, SimpleNamespace(tz=_zone(prefs)))
                self._chats[(prefs.person_id, fingerprint)] = notifier
        return "sent", {"via": "gchat", **notifier.send(action)}

    def _pm(self, prefs, action, retrying: bool) -> tuple[str, Any]:
        title, raw = _subject(action.params), _text(action.params)
        if self.settings.discourse.dry_run or self.gateway is None:
            log.info("dry_run_personal_message", to=prefs.username, title=title)
            return "dry_run", {"via": "pm", "to": prefs.username, "title": title}
        result = self.gateway.new_topic(action.key, retrying, title=title, raw=raw,
                                        archetype="private_message",
                                        target_recipients=prefs.username)
        return "sent", {"via": "pm", **(result or {})}

    def _email(self, prefs, action) -> tuple[str, Any]:
        w = self.settings.web
        address = prefs.email
        if not address:
            return "sent", {"skipped": f"@{prefs.username} has no email address set"}
        if not w.smtp_host:
            log.info("dry_run_email_alert", to=prefs.username)
            return "dry_run", {"via": "email", "to": address, "subject": _subject(action.params)}
        if self.mail_bucket.acquire(max_wait=5.0) is None:
            raise TransientError("email alerts: paced (rate limit)", self.mail_bucket.wait_needed())
        msg = EmailMessage()
        msg["From"], msg["To"] = w.email_from or f"syncd@{w.smtp_host}", address
        msg["Subject"] = _subject(action.params)
        msg["Message-ID"] = f"<syncd-alert-{action.key}@{w.smtp_host}>"
        msg.set_content(_text(action.params))
        _smtp_send(w, msg)
        return "sent", {"via": "email", "message_id": msg["Message-ID"]}


def _zone(prefs: Any) -> ZoneInfo:
    try:
        return ZoneInfo(prefs.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _smtp_send(w: Any, msg: EmailMessage) -> None:
    try:
        with smtplib.SMTP(w.smtp_host, w.smtp_port, timeout=15) as smtp:
            if w.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if w.smtp_username:
                smtp.login(w.smtp_username, w.smtp_password)
            smtp.send_message(msg)
    except smtplib.SMTPResponseException as exc:
        text = f"email alert: the mail server answered {exc.smtp_code}"
        if 400 <= exc.smtp_code < 500:
            raise TransientError(text) from None
        raise PermanentError(text + ": check web.smtp_* and the address", exc.smtp_code) from None
    except smtplib.SMTPRecipientsRefused:
        raise PermanentError("email alert: the mail server refused the address") from None
    except (OSError, smtplib.SMTPException) as exc:
        raise TransientError(f"email alert: cannot reach the mail server ({type(exc).__name__})") \
            from None


def _headline(kinds: list[str], params: dict[str, Any]) -> str:
    said = ", ".join(EVENTS[k].lower() for k in kinds if k in EVENTS) or "an update"
    return f"You asked to hear about {said}: {summary(params)}"


def _subject(params: dict[str, Any]) -> str:
    ticket = params.get("ticket") or {}
    if params.get("test"):
        return "[syncd] test alert"
    if params.get("digest") is not None:
        return f"[syncd] {params.get('text') or 'Digest'}"[:250]
    return f"[syncd] [{ticket.get('priority', 'normal')}] #{ticket.get('id')} {ticket.get('title', '')}"[:250]


def _text(params: dict[str, Any]) -> str:
    ticket = params.get("ticket") or {}
    lines = [params.get("text") or summary(params), ""]
    for item in params.get("digest") or ():     # a digest: one line a held alert
        lines.append(f"- [{item.get('priority') or 'normal'}] #{item.get('id')} "
                     f"{item.get('title') or ''}" + (f": {item['url']}" if item.get("url") else ""))
        if item.get("text"):
            lines.append(f"  {str(item['text'])[:300]}")
    if params.get("digest") is not None:
        lines.append("")
    if ticket.get("url"):
        lines.append(f"Open: {ticket['url']}")
    lines.append("Change what you hear about on your syncd alerts page (/me).")
    return "\n".join(lines)
