"""Email, end to end through the outbox against a real SMTP server in the test process
(aiosmtpd): STARTTLS and implicit TLS with a certificate the test trusts, AUTH LOGIN/PLAIN."""
from __future__ import annotations

import pytest

from standins.outbox import channel_settings, done, drain, notify, outbox_rows, workers
from standins.smtp import SmtpServer
from syncd.errors import ConfigError

USER, PASSWORD = "helpdesk", "smtp-password-not-real"


def _settings(tmp_path, server, to="[dean@example.edu, it@example.edu]", tls=False, password=PASSWORD):
    smtp = (f"{{host: 127.0.0.1, port: {server.port}, starttls: {str(not tls).lower()}, "
            f"tls: {str(tls).lower()}, username: {USER}, password: {password}, timeout_seconds: 10}}")
    return channel_settings(tmp_path, f"  deans: {{type: email, to: {to}, from: helpdesk@example.edu, "
                                      f"smtp: {smtp}}}")


@pytest.fixture
def trusted(tmp_path, monkeypatch):
    def trust(server):
        monkeypatch.setenv("SSL_CERT_FILE", str(server.cert))
        return server
    return trust


def test_starttls_with_auth_delivers_text_and_html(tmp_path, trusted):
    """STARTTLS, login, one message with a text and an HTML part and a Message-ID from the action."""
    with trusted(SmtpServer(tmp_path, "starttls", {USER: PASSWORD})) as server:
        settings = _settings(tmp_path, server)
        notify(settings, 42, "deans", title="Exam <today> & now")
        drain(workers(settings), lambda: done(settings))
        [row] = outbox_rows(settings)
        assert row["status"] == "sent"
        [got] = server.messages
        msg = got["message"]
        assert got["to"] == ["dean@example.edu", "it@example.edu"] and got["login"]
        assert msg["Subject"] == "[HIGH] #42 Exam <today> & now"
        assert msg["Message-ID"] == row["result"]["message_id"]
        assert msg["Message-ID"].startswith("<syncd-1-") and msg["Message-ID"].endswith("@example.edu>")
        assert "Exam <today> & now" in msg.get_body(("plain",)).get_content()
        html = msg.get_body(("html",)).get_content()
        assert "Exam &lt;today&gt; &amp; now" in html and "<today>" not in html


def test_implicit_tls(tmp_path, trusted):
    """tls: true speaks TLS from the first byte (port 465 style)."""
    with trusted(SmtpServer(tmp_path, "tls", {USER: PASSWORD})) as server:
        settings = _settings(tmp_path, server, tls=True)
        notify(settings, 1, "deans")
        drain(workers(settings), lambda: done(settings))
        assert len(server.messages) == 1 and outbox_rows(settings)[0]["status"] == "sent"
        assert server.messages[0]["login"]


def test_retry_sends_the_same_message_id(tmp_path, trusted):
    """A 451 for one recipient is retried; the resend carries the same Message-ID."""
    with trusted(SmtpServer(tmp_path, "starttls", {USER: PASSWORD})) as server:
        settings = _settings(tmp_path, server, to="[dean@example.edu]")
        server.refuse["dean@example.edu"] = "451 4.3.0 Try again later"
        notify(settings, 7, "deans")
        ws = workers(settings)
        ws[0].run_once()
        row = outbox_rows(settings)[0]
        assert row["status"] == "pending" and "deferred" in row["last_error"]
        server.refuse.clear()
        drain(ws, lambda: done(settings))
        assert len(server.messages) == 1
        assert server.messages[0]["message"]["Message-ID"] == outbox_rows(settings)[0]["result"]["message_id"]


def test_wrong_password_and_unknown_address_are_dead_with_the_fix(tmp_path, trusted):
    """535 says check the password (never shown); 550 for the address says check `to`."""
    with trusted(SmtpServer(tmp_path, "starttls", {USER: PASSWORD})) as server:
        settings = _settings(tmp_path, server, password="wrong-password-xyz")
        notify(settings, 1, "deans")
        drain(workers(settings), lambda: done(settings))
        row = outbox_rows(settings)[0]
        assert row["status"] == "dead" and "check smtp.username and smtp.password" in row["last_error"]
        assert "wrong-password-xyz" not in row["last_error"]
    (tmp_path / "b").mkdir()
    with trusted(SmtpServer(tmp_path / "b", "starttls", {USER: PASSWORD})) as server:
        settings = _settings(tmp_path / "b", server, to="[nobody@example.edu]")
        server.refuse["nobody@example.edu"] = "550 5.1.1 No such user"
        notify(settings, 2, "deans")
        drain(workers(settings), lambda: done(settings))
        row = outbox_rows(settings)[0]
        assert row["status"] == "dead"
        assert "nobody@example.edu" in row["last_error"]
        assert "check `to`" in row["last_error"]


def test_untrusted_certificate_is_dead_not_sent_in_clear(tmp_path, monkeypatch):
    """Without trusting the server's certificate, nothing is sent and the reason says why."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "none.pem"))
    with SmtpServer(tmp_path, "starttls", {USER: PASSWORD}) as server:
        settings = _settings(tmp_path, server)
        notify(settings, 1, "deans")
        drain(workers(settings), lambda: done(settings))
        row = outbox_rows(settings)[0]
        assert row["status"] == "dead" and "certificate is not trusted" in row["last_error"]
        assert server.messages == []


def test_server_down_is_retried(tmp_path, trusted):
    """A closed port is a transient failure: the action waits in the outbox."""
    server = SmtpServer(tmp_path, "starttls", {USER: PASSWORD})   # not started
    settings = _settings(tmp_path, trusted(server))
    notify(settings, 1, "deans")
    workers(settings)[0].run_once()
    row = outbox_rows(settings)[0]
    assert row["status"] == "pending" and "cannot reach the SMTP server" in row["last_error"]


def test_to_requester_uses_the_tickets_address_or_skips(tmp_path, trusted):
    """to: requester sends to the ticket's known address; without one it is skipped and logged."""
    with trusted(SmtpServer(tmp_path, "starttls", {USER: PASSWORD})) as server:
        settings = _settings(tmp_path, server, to="requester")
        notify(settings, 1, "deans", email="student@example.edu")
        notify(settings, 2, "deans")
        drain(workers(settings), lambda: done(settings))
        assert [m["to"] for m in server.messages] == [["student@example.edu"]]
        rows = outbox_rows(settings)
        assert rows[1]["status"] == "sent" and "no address known" in rows[1]["result"]["skipped"]


def test_config_errors_name_the_line(tmp_path):
    """A bad address and a password without TLS are config errors with file:line."""
    with pytest.raises(ConfigError) as err:
        channel_settings(tmp_path, "  m: {type: email, to: [not-an-address], from: a@b.c}")
    assert "config.yaml:7: 'channels.m.to' must be a list whose items are an email address" in str(err.value)
    with pytest.raises(ConfigError) as err:
        channel_settings(tmp_path, "  m: {type: email, to: [a@b.c], from: a@b.c,\n"
                                   "      smtp: {host: h, starttls: false, username: u, password: p}}")
    assert "config.yaml:" in str(err.value) and "only sent over TLS" in str(err.value)


def test_unconfigured_email_is_dry_run(tmp_path):
    """Without smtp.host the message is rendered, not sent."""
    settings = channel_settings(tmp_path, "  m: {type: email, to: [a@example.edu], from: h@example.edu}")
    notify(settings, 1, "m")
    drain(workers(settings), lambda: done(settings))
    row = outbox_rows(settings)[0]
    assert row["status"] == "dry_run" and row["result"]["message"]["subject"].startswith("[HIGH] #1")


def test_student_text_cannot_break_headers_or_html():
    """A title with a newline stays one Subject line; a marked value is escaped in the HTML."""
    from standins import notify_params
    from syncd.channels.email import compose
    from syncd.core.marks import mark
    from syncd.outbox.queue import Action
    from zoneinfo import ZoneInfo
    params = notify_params(5, "m", title="Help\r\nBcc: all@example.edu", text="Seen: " + mark("<b>x</b>"))
    action = Action(id=1, ticket_id=5, kind="notify", params=params, rule=None, delivery_id=None,
                    attempts=1, created_at="2026-03-02T09:00:00.000000Z")
    msg = compose(action, {"from": "h@example.edu", "to": ["a@example.edu"]}, ZoneInfo("UTC"))
    assert msg["Subject"] == "[HIGH] #5 Help Bcc: all@example.edu" and msg["Bcc"] is None
    html = msg.get_body(("html",)).get_content()
    assert "Seen: &lt;b&gt;x&lt;/b&gt;" in html and "\ue000" not in msg.as_string()
