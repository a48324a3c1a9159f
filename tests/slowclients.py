"""Slow and hostile clients against a running server, over loopback.

Used by tests/ops/test_slow_clients.py (against ``spoo-export serve``, and nginx in front of
it) and tests/ops/test_hostile_clients.py, and usable by hand against any server: readers that
request a large export and stop reading, connections that never finish their request head,
request bodies trickled a byte at a time, and timed probes meanwhile.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .factories import add_url, make_click

BIG = "big"
SMALL = "small"
#: The large export's size comes from long city labels, not from many clicks: 250 clicks of
#: 16,000 characters make a response of ~8 MB (loopback buffers take ~3 MB of it before a
#: reader that stopped reading blocks the sender), yet cost the test database, SecantusDB (one
#: Python process), ~0.3 s per export. 2,000 clicks of 2,000 characters made the same size for
#: ~1.5 s each; eight at once kept it busy for 10-20 s on a loaded box, long enough to starve
#: pymongo's heartbeat (connectTimeoutMS, 1 s), which then cancelled them all as "unreachable".
LONG_LABEL = 16_000
BIG_CLICKS = 250
START, END = "2025-03-01", "2025-03-02T23:59:59"


def seed(db: Any, *, big_clicks: int = BIG_CLICKS) -> None:
    """A public link whose export is large (one row per click, long city names) and a small one."""
    add_url(db, BIG)
    add_url(db, SMALL)
    start = datetime(2025, 3, 1)
    db.clicks.insert_many(
        [
            make_click(BIG, None, start + timedelta(seconds=160 * i), city=f"{i:06d}" + "c" * (LONG_LABEL - 6))
            for i in range(big_clicks)
        ]
    )
    db.clicks.insert_many([make_click(SMALL, None, start + timedelta(hours=i)) for i in range(5)])


def export_path(route: str, short_code: str, group_by: str) -> str:
    return (
        f"{route}?format=json&scope=anon&short_code={short_code}&group_by={group_by}&start_date={START}&end_date={END}"
    )


def request_bytes(path: str, *, host: str = "localhost") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()


@dataclass
class StalledReader:
    """Sent a full request for a large export, read only the status line, then stopped reading."""

    sock: socket.socket
    status: int


def stalled_reader(port: int, path: str, *, timeout: float = 60.0) -> StalledReader:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: the server backs up
    sock.settimeout(timeout)
    sock.connect(("127.0.0.1", port))
    sock.sendall(request_bytes(path))
    first = sock.recv(12)  # "HTTP/1.1 200"
    return StalledReader(sock, int(first[9:12]) if first.startswith(b"HTTP/1.") else 0)


def server_send_queues(port: int) -> dict[int, int]:
    """Bytes waiting in the send queue of each connection the server on ``port`` holds, by the
    client's port (Linux: /proc/net/tcp, which lists every socket of this network namespace)."""
    queues = {}
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            local, remote, state, queue = fields[1], fields[2], fields[3], fields[4]
            if int(local.split(":")[1], 16) == port and state == "01":  # ESTABLISHED
                queues[int(remote.split(":")[1], 16)] = int(queue.split(":")[0], 16)
    return queues


def wait_until_stalled(port: int, readers: list[StalledReader], within: float = 30.0) -> None:
    """Wait until no reader's export is still being written: the server's side of each connection
    has a send queue that is not empty and stopped growing (the export waits for the reader, no
    longer competing with the probes for the CPU or the database), or the server already closed
    it (its send timeout passed). AssertionError after ``within`` seconds."""
    ports = [r.sock.getsockname()[1] for r in readers]
    deadline = time.monotonic() + within
    before = server_send_queues(port)
    while True:
        time.sleep(0.5)
        now = server_send_queues(port)
        writing = [p for p in ports if p in now and (not now[p] or now[p] != before.get(p))]
        if not writing:
            return
        assert time.monotonic() < deadline, (
            f"still writing after {within} s (send queues)",
            [(before.get(p), now.get(p)) for p in writing],
        )
        before = now


def half_sent(port: int, route: str) -> socket.socket:
    """A request line and one header, then silence (no blank line ends the head)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(f"GET {route}?format=json HTTP/1.1\r\nHost: localhost\r\n".encode())
    return sock


@dataclass
class Probe:
    path: str
    status: int
    seconds: float
    headers: dict[str, str] = field(default_factory=dict)


def probe(port: int, path: str, *, method: str = "GET", limit: float = 10.0) -> Probe:
    """One normal request, read to the end; status 0 when nothing came back within ``limit``."""
    started = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=limit) as sock:
            sock.sendall(request_bytes(path).replace(b"GET ", method.encode() + b" ", 1))
            data = bytearray()
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return Probe(path, 0, time.monotonic() - started)
    head = bytes(data).split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    status = int(head[0][9:12]) if head and head[0].startswith("HTTP/1.") else 0
    headers = dict(line.split(": ", 1) for line in head[1:] if ": " in line)
    return Probe(path, status, time.monotonic() - started, {k.lower(): v for k, v in headers.items()})


def closed_by_peer(sock: socket.socket, within: float) -> tuple[str, float, int]:
    """Read and discard until the server ends the connection: ("reset" | "eof" | "open", seconds, bytes).

    A server that gives up on a stalled reader resets the connection; one that finished the
    response closes it normally ("eof").
    """
    started = time.monotonic()
    deadline = started + within
    received = 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return "open", time.monotonic() - started, received
        sock.settimeout(left)
        try:
            chunk = sock.recv(1 << 20)
        except TimeoutError:
            return "open", time.monotonic() - started, received
        except OSError:  # ECONNRESET (or EPIPE): the server cut it off
            return "reset", time.monotonic() - started, received
        if not chunk:
            return "eof", time.monotonic() - started, received
        received += len(chunk)


def kept_alive_then_half_sent(port: int, route: str) -> socket.socket:
    """One complete keep-alive request answered, then half of a second request on the same connection."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(f"GET {route}/openapi.json HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
    data = bytearray()
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, body = bytes(data).split(b"\r\n\r\n", 1)
    length = int(
        next(line.split(b":", 1)[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
    )
    while len(body) < length:
        body += sock.recv(65536)
    sock.sendall(f"GET {route}?format=json HTTP/1.1\r\nHost: localhost\r\n".encode())
    return sock


def body_announced(port: int, method: str, path: str, *, length: int = 1_000_000) -> socket.socket:
    """A request head announcing a body of ``length`` bytes, and none of the body yet."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(
        f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Length: {length}\r\n\r\n".encode()
    )
    return sock


class Trickle:
    """Sends ``chunk`` to each socket every ``every`` seconds from a thread, until stopped
    (a socket the server closed is skipped from then on)."""

    def __init__(self, socks: list[socket.socket], *, every: float, chunk: bytes = b"a"):
        self.socks, self.every, self.chunk = list(socks), every, chunk
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        alive = list(self.socks)
        while alive and not self._stop.is_set():
            for sock in list(alive):
                try:
                    sock.send(self.chunk)
                    self.sent += len(self.chunk)
                except OSError:
                    alive.remove(sock)
            self._stop.wait(self.every)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float


def answer_of(sock: socket.socket, within: float) -> Answer:
    """The response on ``sock`` (status 0 if none came within ``within`` seconds): its head, and
    its body as far as Content-Length says."""
    started = time.monotonic()
    data = bytearray()
    sock.settimeout(within)
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = bytes(data).partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:] if ": " in line)}
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    except OSError:
        return Answer(0, {}, b"", time.monotonic() - started)
    status = int(lines[0][9:12]) if lines[0].startswith("HTTP/1.") else 0
    return Answer(status, headers, body, time.monotonic() - started)


def dechunked(body: bytes) -> bytes:
    """A chunked HTTP/1.1 body (RFC 9112 7.1) as its plain bytes."""
    plain, at = bytearray(), 0
    while True:
        end = body.find(b"\r\n", at)
        assert end >= 0, f"the chunked body ends without its last chunk after {len(plain)} bytes"
        size = int(body[at:end].split(b";", 1)[0], 16)
        if size == 0:
            return bytes(plain)
        plain += body[end + 2 : end + 2 + size]
        at = end + 2 + size + 2
