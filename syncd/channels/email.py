"""Email through SMTP: a text and an HTML part a notification.

- ``smtp: {host, port, starttls, tls, username, password}``: ``tls: true`` is implicit TLS
  (port 465), ``starttls: true`` upgrades a plain connection (587); certificates are
  checked against the system's CAs (or ``SSL_CERT_FILE``). Auth only over TLS.
- ``to:`` a list of addresses, or ``requester`` / ``author``: the ticket's own address when
  syncd knows it (``ticket.email``, ``requester_email`` or ``author_email``); a ticket
  without one is skipped and logged, nothing is sent.
- ``Message-ID`` is ``<syncd-<action key>@<from's domain>>``: a retry sends the same id, so
  mail systems that dedupe on it show one message; SMTP itself offers no stronger promise.
- 4xx SMTP answers and lost connections are transient; 5xx (bad address, refused sender,
  failed login) are permanent with the server's own words.
"""
from __future__ import annotations

import smtplib
import socket
import ssl
import threading
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any
from zoneinfo import ZoneInfo

from syncd import logs
from syncd.channels import checks, markup, register
from syncd.channels.notice import facts, many
from syncd.errors import PermanentError, TransientError
from syncd.outbox.pacing import TokenBucket
from syncd.channels.transport import MAX_INLINE_WAIT, PACE

log = logs.get("syncd.email")
ADDRESS_KEYS = ("email", "requester_email", "author_email")


def _to(v: Any) -> Any:
    if v in ("requester", "author"):
        return True
    return checks.list_of(checks.email)(v) if isinstance(v, list) else \
        "a list of addresses, or requester, or author"


def recipients(to: Any, ticket: dict[str, Any]) -> list[str]:
    if isinstance(to, list):
        return list(to)
    keys = ADDRESS_KEYS if to == "requester" else ("author_email", "email")
    found = next((ticket.get(k) for k in keys if ticket.get(k)), None)
    return [str(found)] if found else []


def compose(action: Any, options: dict[str, Any], tz: ZoneInfo) -> EmailMessage:
    """The message (pure but for its Date header)."""
    f = facts(action.params, tz)
    sender = options["from"]
    msg = EmailMessage()
    title = " ".join(markup.plain(f.title).split())      # one line: a header has no newlines
    msg["Subject"] = f"[{f.priority.upper()}] #{f.id} {title}"[:200]
    msg["From"] = sender
    msg["To"] = ", ".join(recipients(options["to"], action.params.get("ticket") or {}))
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = f"<syncd-{action.key}@{sender.rpartition('@')[2] or 'syncd.invalid'}>"
    msg["X-Syncd-Ticket"] = str(f.id)
    rows = [("Priority", f.priority), ("Category", f.category), ("Tags", ", ".join(f.tags) or "none"),
            ("Status", f.status), ("Author", f"@{f.author}"), ("When", f.at)]
    text = [markup.plain(f.text or f.headline), "", *[f"{k}: {v}" for k, v in rows]]
    items = many(action.params)
    if items is not None:
        text += [""] + [f"- [{str(i.get('priority') or 'normal').upper()}] #{i.get('id')} "
                        f"{markup.plain(i.get('title'))} {i.get('url') or ''}".rstrip() for i in items]
    elif f.private:
        text += ["", "Private ticket: the text is not shown here."]
    elif f.body:
        text += ["", "Question:", f.body]
    if f.url:
        text += ["", f"Open in Discourse: {f.url}"]
    msg.set_content("\n".join(text))
    e = markup.html
    link = f'<a href="{e(f.url)}">{e(f.title)}</a>' if f.url else e(f.title)
    body = (f"<p>{markup.html_marked(f.text)}</p>" if f.text else "") + f"<h2>{link}</h2><table>" + "".join(
        f"<tr><th align='left'>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in rows) + "</table>"
    if items is not None:
        body += "<ul>" + "".join(
            f"<li>[{e(str(i.get('priority') or 'normal').upper())}] #{e(i.get('id'))} "
            + (f'<a href="{e(i["url"])}">{e(i.get("title"))}</a>' if i.get("url") else e(i.get("title")))
            + "</li>" for i in items) + "</ul>"
    elif f.private:
        body += "<p><i>Private ticket: the text is not shown here.</i></p>"
    elif f.body:
        body += f"<blockquote>{e(f.body)}</blockquote>"
    msg.add_alternative(f"<!doctype html><html><body>{body}</body></html>", subtype="html")
    return msg


@register("email")
class EmailNotifier:
    """Sends one message a notification through an SMTP server, paced."""

    CONFIG = {
        "to": (_to, [], "a list of addresses, or requester / author (the ticket's address, when known)"),
        "from": (checks.email, "", "the sender address (its domain also names the Message-ID)"),
        "smtp": {
            "host": (checks.text, "", "the SMTP server; empty: dry-run"),
            "port": (checks.port, 587, "587 with starttls, 465 with tls, 25 plain"),
            "starttls": (checks.flag, True, "upgrade the connection with STARTTLS"),
            "tls": (checks.flag, False, "implicit TLS from the start (port 465)"),
            "username": (checks.text, "", "log in with this user (only over TLS)"),
            "password": (checks.text, "", "and this password (from the environment)"),
            "timeout_seconds": (checks.seconds, 30, "give up on a silent server after this long"),
        },
        "messages_per_minute": (lambda v: (isinstance(v, int) and v > 0) or "a whole number above 0",
                                30, "at most this many messages a minute"),
    }

    @classmethod
    def is_configured(cls, channel: Any) -> bool:
        return bool(channel.options["smtp"]["host"])

    @classmethod
    def check_config(cls, channel: Any) -> list[tuple[str, str]]:
        o, problems = channel.options, []
        if o["smtp"]["host"] and not o["from"]:
            problems.append(("from", "set the sender address (from: helpdesk@example.edu)"))
        if o["smtp"]["host"] and o["to"] == []:
            problems.append(("to", "name at least one address, or requester / author"))
        if o["smtp"]["username"] and not (o["smtp"]["tls"] or o["smtp"]["starttls"]):
            problems.append(("smtp", "a password is only sent over TLS: set starttls or tls"))
        return problems

    def __init__(self, channel: Any, settings: Any, bucket: TokenBucket | None = None):
        self.channel, self.name, self.options = channel, channel.name, dict(channel.options)
        self.tz = getattr(settings, "tz", ZoneInfo("UTC"))
        self.bucket = bucket or TokenBucket(channel.messages_per_minute * PACE, capacity=1)
        self._lock = threading.Lock()

    def render(self, action: Any) -> dict[str, Any]:
        msg = compose(action, self.options, self.tz)
        return {"to": msg["To"], "subject": msg["Subject"], "message_id": msg["Message-ID"],
                "text": msg.get_body(("plain",)).get_content()}

    def _connect(self) -> smtplib.SMTP:
        s = self.options["smtp"]
        context = ssl.create_default_context()
        if s["tls"]:
            conn: smtplib.SMTP = smtplib.SMTP_SSL(s["host"], s["port"], timeout=s["timeout_seconds"],
                                                  context=context)
        else:
            conn = smtplib.SMTP(s["host"], s["port"], timeout=s["timeout_seconds"])
            if s["starttls"]:
                conn.starttls(context=context)
        if s["username"]:
            conn.login(s["username"], s["password"])
        return conn

    def send(self, action: Any) -> dict[str, Any]:
        msg = compose(action, self.options, self.tz)
        to = recipients(self.options["to"], action.params.get("ticket") or {})
        if not to:
            log.warning("email_skipped", channel=self.name,
                        reason=f"no address is known for the ticket's {self.options['to']}")
            return {"skipped": f"no address known for the {self.options['to']}"}
        if self.bucket.acquire(max_wait=MAX_INLINE_WAIT) is None:
            raise TransientError(f"channel {self.name}: paced (rate limit)", self.bucket.wait_needed())
        try:
            conn = self._connect()
            try:
                refused = conn.send_message(msg, to_addrs=to)
            finally:
                try:
                    conn.quit()
                except (smtplib.SMTPException, OSError):
                    pass
        except Exception as exc:
            raise self.classify(exc) from None
        return {"message_id": msg["Message-ID"], "to": to, "refused": sorted(refused or {})}

    def classify(self, exc: BaseException) -> Exception:
        """SMTP's answers: 4xx and lost connections transient, 5xx permanent."""
        name = self.name
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return PermanentError(f"channel {name}: the SMTP server refused the login "
                                  f"({exc.smtp_code}): check smtp.username and smtp.password")
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            codes = {a: c for a, (c, _) in exc.recipients.items()}
            if all(c < 500 for c in codes.values()):
                return TransientError(f"channel {name}: recipients deferred ({codes})")
            return PermanentError(f"channel {name}: the SMTP server refused {', '.join(codes)} "
                                  f"({sorted(set(codes.values()))}): check `to`")
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            return PermanentError(f"channel {name}: the server does not offer that ({exc}): "
                                  "check smtp.starttls / smtp.tls and the port")
        if isinstance(exc, smtplib.SMTPResponseException):
            said = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) \
                else str(exc.smtp_error)
            if 400 <= exc.smtp_code < 500:
                return TransientError(f"channel {name}: SMTP {exc.smtp_code} {said[:200]}")
            hint = ": check `from`" if isinstance(exc, smtplib.SMTPSenderRefused) else ""
            return PermanentError(f"channel {name}: SMTP {exc.smtp_code} {said[:200]}{hint}")
        if isinstance(exc, ssl.SSLCertVerificationError):
            return PermanentError(f"channel {name}: the SMTP server's certificate is not trusted "
                                  f"({exc.verify_message}): fix it, or set SSL_CERT_FILE")
        if isinstance(exc, (smtplib.SMTPServerDisconnected, socket.timeout, ConnectionError,
                            OSError, smtplib.SMTPException)):
            return TransientError(f"channel {name}: cannot reach the SMTP server "
                                  f"({type(exc).__name__})")
        return TransientError(f"channel {name}: {type(exc).__name__}")
