"""Hostile clients beyond slow readers (issue 17): trickled request bodies, descriptor floods.

- **Trickled bodies.** 20 connections announce a 1,000,000-byte body and send a byte every
  2 s, to the plugin's routes (a POST: 405; a GET: 413) and to a path nobody serves (404).
  gunicorn used to drain such a body after answering, ``read(1024)`` after ``read(1024)``,
  holding a thread for 1,024 x 2 s per connection: every thread of ``serve`` was gone. Now
  each is answered at once with ``Connection: close`` and no thread waits for the body.
- **A host route that reads its body** is cut off after ``body_timeout`` (shortened to 3 s
  here), however steadily it trickles; an upload above ``body_min_rate`` is read in full.
- **Descriptor floods.** Under an open-file limit of 256, 400 half-sent heads plus 60
  ``Connection: close`` requests whose client never closes used to make ``accept`` raise
  ``EMFILE`` and the worker exit (code 255), dropping everything it held. ``serve`` now fits
  ``worker_connections`` into the limit and sheds the oldest waiting heads at it; gunicorn run
  with a limit that does not fit survives ``EMFILE`` by shedding and pausing.

Probes (``<route>/openapi.json`` and a small export) must be answered, 200 or 503 +
Retry-After, within 2 s, and the workers must be the same processes afterwards.
"""

from __future__ import annotations

import resource
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from spoo_export_plugin.web.guard import NO_BODY

from ..factories import ROUTE, unused_port
from ..servers import GUNICORN, SCRIPT, open_files, server_env, start_warm, worker_pids
from ..slowclients import (
    SMALL,
    Trickle,
    answer_of,
    body_announced,
    closed_by_peer,
    export_path,
    half_sent,
    probe,
    request_bytes,
)

pytestmark = [pytest.mark.slow, pytest.mark.integration]

BODY_TIMEOUT = 3  # the host test's; serve runs with every default
OPEN_FILES = 256
FLOOD_HEADS, FLOOD_CLOSERS = 400, 60  # the 990 + 120 under 1024, scaled to 256


def probe_paths() -> list[str]:
    return [ROUTE + "/openapi.json", export_path(ROUTE, SMALL, "time")]


def check_probes(port: int, rounds: int = 2, *, pause: float = 0.0) -> list[float]:
    seconds = []
    for _ in range(rounds):
        for path in probe_paths():
            answered = probe(port, path, limit=10)
            assert answered.status in (200, 503), (path, answered.status, answered.seconds)
            assert answered.seconds < 2.0, (path, answered.status, answered.seconds)
            if answered.status == 503:
                assert answered.headers.get("retry-after", "").isdigit()
            seconds.append(round(answered.seconds, 3))
        time.sleep(pause)
    return seconds


def wait_for_workers(master: int, count: int) -> set[int]:
    deadline = time.monotonic() + 30
    while len(pids := worker_pids(master)) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(pids) == count, pids
    return pids


@pytest.fixture
def serve_defaults(seeded, tmp_path) -> Iterator[dict[str, Any]]:
    """``spoo-export serve`` with every default, as the issue's attacks met it."""
    uri, name = seeded
    env = server_env(tmp_path, SPOO_EXPORT_BIND=f"127.0.0.1:{unused_port()}")
    yield from start_warm([SCRIPT, "serve", "--mongodb-uri", uri, "--database-name", name], env, tmp_path)


# --- trickled request bodies ------------------------------------------------------------------------


def test_trickled_request_bodies_hold_no_thread(serve_defaults):
    port, master = serve_defaults["port"], serve_defaults["pid"]
    workers = wait_for_workers(master, 2)
    targets = [
        ("POST", ROUTE, 405),
        ("POST", "/nowhere", 404),
        ("GET", export_path(ROUTE, SMALL, "time"), 413),
        ("GET", ROUTE + "/openapi.json", 413),
    ]
    attack = [(body_announced(port, method, path), status) for method, path, status in targets * 5]
    trickle = Trickle([sock for sock, _ in attack], every=2.0)
    try:
        answers = [(answer_of(sock, within=10), status) for sock, status in attack]
        for answer, status in answers:  # each is answered at once, without its body
            assert answer.status == status and answer.seconds < 2.0, (status, answer)
        seconds = []
        for _ in range(6):  # probes while the bodies trickle on (the old worker had no thread left)
            seconds += check_probes(port, 1, pause=1.0)
        print("probe seconds while 20 bodies trickle:", seconds)
        for answer, status in answers:  # ... and told the connection ends
            assert answer.headers.get("connection") == "close", answer.headers
            if status == 413:
                assert answer.body == b'{"error": "%s", "param": null}' % NO_BODY.encode()
        for sock, _ in attack:  # the server closed each one (after lingering), no thread kept it
            outcome, _, _ = closed_by_peer(sock, 10)
            assert outcome in ("eof", "reset"), outcome
    finally:
        trickle.stop()
        for sock, _ in attack:
            sock.close()
    assert worker_pids(master) == workers
    assert "Traceback" not in serve_defaults["log"].read_text()


@pytest.fixture
def host_with_short_body_timeout(seeded, tmp_path) -> Iterator[dict[str, Any]]:
    """The shipped host config (contrib/gunicorn_conf.py) over contrib/example_host.py, whose
    POSTs read their body."""
    uri, name = seeded
    env = server_env(
        tmp_path,
        SPOO_EXPORT_BIND=f"127.0.0.1:{unused_port()}",
        SPOO_EXPORT_MONGODB_URI=uri,
        SPOO_EXPORT_DATABASE_NAME=name,
        SPOO_EXPORT_BODY_TIMEOUT=str(BODY_TIMEOUT),
    )
    yield from start_warm(
        [
            GUNICORN,
            "-c",
            "python:spoo_export_plugin.contrib.gunicorn_conf",
            "spoo_export_plugin.contrib.example_host:app",
        ],
        env,
        tmp_path,
    )


def test_a_host_route_reading_a_trickled_body_is_cut_off_at_body_timeout(host_with_short_body_timeout):
    server = host_with_short_body_timeout
    port = server["port"]
    slow = body_announced(port, "POST", "/a/host/page")
    trickle = Trickle([slow], every=0.5)
    try:
        outcome, seconds, _ = closed_by_peer(slow, BODY_TIMEOUT + 10)
    finally:
        trickle.stop()
        slow.close()
    # cut at body_timeout (plus 1 s per 500 bytes: ~0 here), not after 1,024 bytes x 0.5 s
    assert outcome == "reset" and BODY_TIMEOUT - 0.5 <= seconds < BODY_TIMEOUT + 6, (outcome, seconds)
    assert "sent its request body too slowly" in server["log"].read_text()

    # An upload faster than body_min_rate takes longer than body_timeout and is read in full; its
    # body was not there when the thread took it, so the answer closes the connection.
    size, piece = 256 * 1024, 8 * 1024
    upload = body_announced(port, "POST", "/a/host/upload", length=size)
    with upload:
        started = time.monotonic()
        for _offset in range(0, size, piece):
            upload.sendall(b"u" * piece)
            time.sleep(BODY_TIMEOUT * 2 / (size // piece))  # ~40 KB/s for ~6 s
        answer = answer_of(upload, within=10)
    assert time.monotonic() - started > BODY_TIMEOUT
    assert answer.status == 200 and answer.body.endswith(b"(%d bytes received)" % size), answer
    assert answer.headers.get("connection") == "close"

    # A body that came with its head keeps the connection alive: two requests on one connection.
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for _ in range(2):
            sock.sendall(b"POST /a/host/form HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
            answer = answer_of(sock, within=5)
            assert answer.status == 200 and answer.body.endswith(b"(5 bytes received)"), answer
            assert answer.headers.get("connection") == "keep-alive"
    check_probes(port)


# --- descriptor floods --------------------------------------------------------------------------------


def _lower_open_files() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES, OPEN_FILES))


@pytest.fixture(autouse=True)
def enough_open_files_for_the_clients() -> None:
    """The flood's client ends are this process's descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096 and hard > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))


def flood(port: int) -> list[socket.socket]:
    """Half-sent heads, then requests with ``Connection: close`` whose client never closes."""
    socks = [half_sent(port, ROUTE) for _ in range(FLOOD_HEADS)]

    def closer(_: int) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(request_bytes(ROUTE + "/openapi.json"))
        return sock

    with ThreadPoolExecutor(10) as pool:
        socks += list(pool.map(closer, range(FLOOD_CLOSERS)))
    return socks


def check_flood(server: dict[str, Any], workers: int) -> str:
    port, master = server["port"], server["pid"]
    before = wait_for_workers(master, workers)
    socks = flood(port)
    try:
        time.sleep(0.5)
        during = check_probes(port, 3, pause=0.3)
        assert worker_pids(master) == before  # no worker ended, none was replaced
        assert all(open_files(pid) < OPEN_FILES for pid in before)
    finally:
        for sock in socks:
            sock.close()
    time.sleep(1.0)
    after = check_probes(port, 2)
    print("probe seconds during the flood:", during, "after it:", after)
    assert worker_pids(master) == before
    log = server["log"].read_text()
    assert "Too many open files" not in log and "exited with code" not in log, log[-3000:]
    return log


@pytest.fixture
def serve_low_limit(seeded, tmp_path) -> Iterator[dict[str, Any]]:
    uri, name = seeded
    env = server_env(tmp_path, SPOO_EXPORT_BIND=f"127.0.0.1:{unused_port()}")
    yield from start_warm(
        [SCRIPT, "serve", "--mongodb-uri", uri, "--database-name", name], env, tmp_path, preexec_fn=_lower_open_files
    )


def test_serve_under_a_low_open_file_limit_sheds_instead_of_crashing(serve_low_limit):
    log = check_flood(serve_low_limit, workers=2)
    assert f"the open-file limit ({OPEN_FILES}) leaves room for" in log


@pytest.fixture
def gunicorn_unfitted(seeded, tmp_path) -> Iterator[dict[str, Any]]:
    """The worker run by gunicorn itself with worker_connections far above the open-file limit
    (nothing fitted it): accept() does run out of descriptors."""
    uri, name = seeded
    env = server_env(
        tmp_path,
        SPOO_EXPORT_BIND=f"127.0.0.1:{unused_port()}",
        SPOO_EXPORT_MONGODB_URI=uri,
        SPOO_EXPORT_DATABASE_NAME=name,
    )
    command = [
        GUNICORN,
        "--worker-class",
        "spoo_export_plugin.ops.worker.ExportWorker",
        "--workers",
        "1",
        "--threads",
        "8",
        "--worker-connections",
        "5000",
        "--bind",
        env["SPOO_EXPORT_BIND"],
        "spoo_export_plugin.contrib.example_host:app",
    ]
    yield from start_warm(command, env, tmp_path, workers=1, preexec_fn=_lower_open_files)


def test_emfile_in_accept_sheds_and_pauses_instead_of_ending_the_worker(gunicorn_unfitted):
    log = check_flood(gunicorn_unfitted, workers=1)
    assert "accept() failed (EMFILE)" in log
