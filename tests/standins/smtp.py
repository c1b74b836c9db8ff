"""A real SMTP server in the test process (aiosmtpd), with STARTTLS or implicit TLS and
AUTH, and a self-signed certificate for 127.0.0.1 that tests trust through SSL_CERT_FILE.

``SmtpServer(mode="starttls" | "tls" | "plain", users={"name": "password"})`` records every
accepted message (``messages``: envelope and parsed message); ``refuse`` maps a recipient to
an SMTP answer (``"550 5.1.1 No such user"`` or ``"451 4.3.0 Try again later"``).
"""
from __future__ import annotations

import datetime
import email
import email.policy
import ipaddress
import socket
import ssl
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate and key for 127.0.0.1 and localhost (written to ``folder``)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Handler:
    def __init__(self, owner: "SmtpServer"):
        self.owner = owner

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        answer = self.owner.refuse.get(address)
        if answer:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.owner.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                                    "message": msg, "login": session.authenticated})
        return "250 Message accepted for delivery"


class SmtpServer:
    def __init__(self, folder: Path, mode: str = "starttls", users: dict[str, str] | None = None):
        self.cert, self.key = self_signed(folder)
        self.mode, self.users = mode, dict(users or {})
        self.messages: list[dict[str, Any]] = []
        self.refuse: dict[str, str] = {}
        self.port = _free_port()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        # aiosmtpd does not count implicit TLS as TLS for AUTH: that session is TLS anyway
        kwargs: dict[str, Any] = {"authenticator": self._auth, "auth_require_tls": mode == "starttls",
                                  "auth_required": bool(self.users) and mode == "starttls"}
        if mode == "starttls":
            kwargs.update(tls_context=context, require_starttls=True)
        elif mode == "tls":
            kwargs.update(ssl_context=context)
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port,
                                     server_hostname="127.0.0.1", **kwargs)

    def _auth(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and \
            self.users.get(auth_data.login.decode()) == auth_data.password.decode()
        return AuthResult(success=ok, handled=False)

    def __enter__(self) -> "SmtpServer":
        self.controller.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.controller.stop()
