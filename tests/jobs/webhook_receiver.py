"""A real webhook receiver for the tests: ``http.server`` in a thread on loopback (plain or TLS),
answering each request as its script says, recording what it was sent; a DNS to swap answers in;
and certificates made here (a CA and a server certificate for a chosen name)."""

from __future__ import annotations

import datetime as dt
import http.server
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Answer:
    """One scripted answer: a status, after ``delay`` seconds; ``trickle`` sends the head a byte at a time."""

    status: int = 204
    delay: float = 0.0
    trickle: float = 0.0


@dataclass
class Receiver:
    """Answers requests in order from ``script`` (then 204); ``requests`` and ``connections`` say what came."""

    script: list[Answer] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    connections: int = 0
    server_names: list[str | None] = field(default_factory=list)  # TLS SNI seen
    port: int = 0

    def url(self, path: str = "/hooks/export?source=spoo", *, scheme: str = "http", host: str = "127.0.0.1") -> str:
        return f"{scheme}://{host}:{self.port}{path}"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    receiver: Receiver

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _record(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        self.receiver.requests.append(Received(self.command, self.path, dict(self.headers.items()), body))
        answer = self.receiver.script.pop(0) if self.receiver.script else Answer()
        time.sleep(answer.delay)
        head = f"HTTP/1.1 {answer.status} Scripted\r\nContent-Length: 2\r\nConnection: close\r\n"
        if 300 <= answer.status < 400:
            head += f"Location: http://127.0.0.1:{self.receiver.port}/elsewhere\r\n"
        data = (head + "\r\nok").encode()
        try:
            if answer.trickle:
                for index in range(len(data)):
                    self.wfile.write(data[index : index + 1])
                    self.wfile.flush()
                    time.sleep(answer.trickle)
            else:
                self.wfile.write(data)
        except OSError:
            pass  # the sender gave up on us
        self.close_connection = True

    do_POST = do_GET = _record


@contextmanager
def serve(receiver: Receiver, tls: ssl.SSLContext | None = None) -> Iterator[Receiver]:
    """Run ``receiver`` on 127.0.0.1 (over TLS with ``tls``) inside the ``with`` block."""

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True

        def get_request(self) -> tuple[socket.socket, Any]:
            sock, address = self.socket.accept()
            receiver.connections += 1
            if tls is not None:
                sock = tls.wrap_socket(sock, server_side=True)
            return sock, address

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # a TLS handshake the client refused

    if tls is not None:
        tls.sni_callback = lambda sock, name, ctx: receiver.server_names.append(name)
    handler = type("Handler", (_Handler,), {"receiver": receiver})
    server = Server(("127.0.0.1", 0), handler)
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


class FakeDNS:
    """``socket.getaddrinfo`` for chosen names: each lookup takes the next answer (the last one
    repeats); an answer is a list of IP addresses, or None for "does not resolve"."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.answers: dict[str, list[Sequence[str] | None]] = {}
        self.lookups: list[str] = []

    def set(self, name: str, *answers: Sequence[str] | None) -> None:
        self.answers[name] = list(answers)

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        if host not in self.answers:
            return self.real(host, port, *args, **kwargs)
        self.lookups.append(host)
        queue = self.answers[host]
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if answer is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        infos = []
        for ip in answer:
            if ":" in ip:
                infos.append((socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ip, int(port), 0, 0)))
            else:
                infos.append((socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ip, int(port))))
        return infos


def install_fake_dns(monkeypatch: pytest.MonkeyPatch) -> FakeDNS:
    """Replace ``socket.getaddrinfo`` for the test (other names still resolve for real)."""
    fake = FakeDNS(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return fake


def make_certificates(directory: Path, server_name: str) -> tuple[Path, Path, Path]:
    """A CA (``ca.pem``) and a server certificate it signed for ``server_name`` (``server.pem``,
    ``server.key``), as a private PKI would issue them."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.timezone.utc)
    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "spoo test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, server_name)]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(server_name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths
