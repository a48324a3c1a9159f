"""A real SMTP server on loopback for the e-mail tests: aiosmtpd's Controller (plain, STARTTLS, SMTPS)
with a self-signed certificate made for the test, an inbox that keeps what it received, and optional
refusals (a recipient, a first DATA) and a login check."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for ``localhost`` and ``127.0.0.1`` (and its key), valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@dataclass
class Inbox:
    """The server's handler: keeps each message taken; refuses what it is told to."""

    refuse_recipients: set[str] = field(default_factory=set)
    data_replies: list[str] = field(default_factory=list)  # replies to the next DATA commands instead of 250
    received: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    logins: list[tuple[bytes, bytes]] = field(default_factory=list)
    password: bytes | None = None
    data_commands: int = 0

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if address in self.refuse_recipients:
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.data_commands += 1
        if self.data_replies:
            return self.data_replies.pop(0)
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK: queued"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        if isinstance(data, LoginPassword):
            self.logins.append((data.login, data.password))
            return AuthResult(success=data.password == self.password, handled=False)  # handled=False: answer 535
        return AuthResult(success=False)

    def messages(self) -> list[EmailMessage]:
        """What was received as a mail client reads it (CRLF line ends as LF)."""
        return [message_from_bytes(c.replace(b"\r\n", b"\n"), policy=policy.default) for _, _, c in self.received]  # type: ignore[misc]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


@contextlib.contextmanager
def smtp_server(inbox: Inbox, **options: Any) -> Iterator[int]:
    """The server on a free loopback port (its number yielded) until the block ends."""
    if inbox.password is not None:
        options.setdefault("authenticator", inbox.authenticate)
    for _ in range(5):
        controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), **options)
        try:
            controller.start()
        except OSError:  # the port was taken between probe and bind
            continue
        try:
            yield controller.port
        finally:
            controller.stop()
        return
    raise RuntimeError("no free port for the SMTP server")
