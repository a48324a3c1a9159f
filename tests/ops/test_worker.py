"""The server's worker: its configuration, and the idle and body limits of its sockets (no server needed).

The whole worker under attack is tested in test_slow_clients.py and test_hostile_clients.py.
"""

from __future__ import annotations

import importlib
import resource
import socket
import subprocess
import sys
import threading
import time

import pytest
from gunicorn.http.body import Body, ChunkedReader, LengthReader
from gunicorn.http.unreader import Unreader

from spoo_export_plugin import ConfigurationError, ExportSettings
from spoo_export_plugin.ops.serve import (
    FILES_PER_THREAD,
    FIXED_FILES,
    fit_worker_connections,
    gunicorn_options,
    thread_warning,
)
from spoo_export_plugin.ops.worker import DeadlineSocket, ExportWorker, StalledPeer, body_arrived


def test_serve_defaults_leave_threads_beyond_the_export_cap(db):
    options = gunicorn_options({})
    worker = options["worker_class"]
    assert issubclass(worker, ExportWorker)
    assert (worker.header_timeout, worker.send_timeout) == (10.0, 30.0)
    assert (worker.body_timeout, worker.body_min_rate) == (20.0, 500.0)  # Apache mod_reqtimeout's body=20,MinRate=500
    assert options["worker_connections"] == 1000  # gunicorn's default
    assert options["threads"] > ExportSettings(database=db).max_concurrent_exports
    assert thread_warning(options["threads"], ExportSettings(database=db)) is None


def test_timeouts_from_flags_environment_and_settings():
    worker = gunicorn_options({"SPOO_EXPORT_HEADER_TIMEOUT": "3", "SPOO_EXPORT_SEND_TIMEOUT_SECONDS": "7"})[
        "worker_class"
    ]
    assert (worker.header_timeout, worker.send_timeout) == (3.0, 7.0)
    # serve passes the settings' value, which already merged flag and variable
    worker = gunicorn_options({"SPOO_EXPORT_SEND_TIMEOUT_SECONDS": "7"}, {"header_timeout": "4"}, send_timeout=12)[
        "worker_class"
    ]
    assert (worker.header_timeout, worker.send_timeout) == (4.0, 12.0)
    assert ExportWorker.send_timeout == 30.0  # configured() made subclasses, the base is untouched


def test_body_limits_and_connections_from_flags_and_environment():
    options = gunicorn_options(
        {"SPOO_EXPORT_BODY_TIMEOUT": "7", "SPOO_EXPORT_WORKER_CONNECTIONS": "300"}, {"body_min_rate": "0"}
    )
    assert (options["worker_class"].body_timeout, options["worker_class"].body_min_rate) == (7.0, 0.0)
    assert options["worker_connections"] == 300


@pytest.mark.parametrize(
    "environ, message",
    [
        ({"SPOO_EXPORT_BODY_TIMEOUT": "0"}, "body_timeout"),
        ({"SPOO_EXPORT_BODY_MIN_RATE": "-1"}, "body_min_rate"),
        ({"SPOO_EXPORT_WORKER_CONNECTIONS": "0"}, "worker_connections"),
        ({"SPOO_EXPORT_SEND_TIMEOUT_SECONDS": "0"}, "send_timeout_seconds"),
        ({"SPOO_EXPORT_SEND_TIMEOUT_SECONDS": "soon"}, "SPOO_EXPORT_SEND_TIMEOUT_SECONDS"),
        ({"SPOO_EXPORT_HEADER_TIMEOUT": "0"}, "header_timeout"),
    ],
)
def test_bad_timeouts_fail_at_start_up(environ, message):
    with pytest.raises(ConfigurationError, match=message):
        gunicorn_options(environ)


def test_settings_reject_a_non_positive_send_timeout(db):
    with pytest.raises(ConfigurationError, match="send_timeout_seconds"):
        ExportSettings(database=db, send_timeout_seconds=0)


def test_too_few_threads_for_the_cap_is_warned_about(db):
    warning = thread_warning(4, ExportSettings(database=db))
    assert warning and "threads=4" in warning and "max_concurrent_exports=4" in warning


def test_the_host_gunicorn_config_uses_the_same_worker(monkeypatch):
    monkeypatch.setenv("SPOO_EXPORT_SEND_TIMEOUT_SECONDS", "9")
    monkeypatch.setenv("SPOO_EXPORT_HEADER_TIMEOUT", "2")
    import spoo_export_plugin.contrib.gunicorn_conf as conf

    conf = importlib.reload(conf)
    assert issubclass(conf.worker_class, ExportWorker)
    assert (conf.worker_class.header_timeout, conf.worker_class.send_timeout) == (2.0, 9.0)
    assert conf.threads == 8


# --- DeadlineSocket: progress, not total time ---------------------------------------------------


def connected(*, small_window: bool) -> tuple[DeadlineSocket, socket.socket]:
    listener = socket.create_server(("127.0.0.1", 0))
    peer = socket.socket()
    if small_window:
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    peer.connect(listener.getsockname())
    raw, _ = listener.accept()
    listener.close()
    server = DeadlineSocket.adopt(raw, idle=0.5)
    server.setblocking(True)
    return server, peer


@pytest.fixture
def pair():
    server, peer = connected(small_window=True)
    yield server, peer
    server.close()
    peer.close()


@pytest.fixture
def open_pair():
    """A normal receive window: a tiny one makes TCP itself pause (zero-window probes)."""
    server, peer = connected(small_window=False)
    yield server, peer
    server.close()
    peer.close()


def test_a_peer_that_stops_reading_is_given_up_after_the_idle_time(pair):
    server, _peer = pair
    started = time.monotonic()
    with pytest.raises(StalledPeer) as caught:
        server.sendall(b"x" * (64 << 20))  # far more than loopback buffers hold
    assert server.stalled and caught.value.errno is not None
    assert 0.5 <= time.monotonic() - started < 10


def test_sendfile_to_a_peer_that_stops_reading_is_given_up_too(pair, tmp_path):
    """gunicorn sends wsgi.file_wrapper bodies with sendfile(): the same limit, the same error."""
    big = tmp_path / "big.bin"
    big.write_bytes(b"z" * (32 << 20))
    server, _peer = pair
    with big.open("rb") as f, pytest.raises(StalledPeer):
        server.sendfile(f)
    assert server.stalled


def test_a_callers_own_timeout_keeps_socket_behaviour(pair):
    """gunicorn's graceful close reads with its own short timeout: that is no stalled client."""
    server, _peer = pair
    server.settimeout(0.1)
    with pytest.raises(TimeoutError) as caught:
        server.recv(10)
    assert not isinstance(caught.value, StalledPeer) and not server.stalled


def test_a_slow_reader_that_keeps_reading_is_served_past_the_idle_time(open_pair):
    server, peer = open_pair
    payload = b"y" * (12 << 20)  # well beyond what loopback buffers absorb (~3 MB)
    received = bytearray()

    def read_slowly() -> None:
        while len(received) < len(payload):
            chunk = peer.recv(256 << 10)
            if not chunk:
                return
            received.extend(chunk)
            time.sleep(0.05)  # progress every 50 ms, far inside the 0.5 s idle limit

    reader = threading.Thread(target=read_slowly)
    reader.start()
    started = time.monotonic()
    server.sendall(payload)  # the whole send takes longer than idle; no single wait does
    reader.join(30)
    assert bytes(received) == payload and not server.stalled
    assert time.monotonic() - started > 0.5


def test_a_peer_that_stops_sending_is_given_up_too(pair):
    server, peer = pair
    peer.sendall(b"GET / HTTP/1.1\r\n")
    assert server.recv(100) == b"GET / HTTP/1.1\r\n"
    with pytest.raises(StalledPeer):
        server.recv(100)
    assert server.stalled


def test_non_blocking_mode_stays_non_blocking(pair):
    server, _ = pair
    server.setblocking(False)
    assert server.gettimeout() == 0.0
    with pytest.raises(BlockingIOError):
        server.recv(10)
    server.setblocking(True)
    assert server.gettimeout() == 0.5


# --- the request body: a deadline for the whole body, not per read ----------------------------------


def trickle(peer: socket.socket, *, chunk: bytes, every: float, stop: threading.Event) -> threading.Thread:
    def run() -> None:
        while not stop.is_set():
            try:
                peer.sendall(chunk)
            except OSError:
                return
            stop.wait(every)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def read_body(server: DeadlineSocket, size: int) -> int:
    """Read as gunicorn does: recv until ``size`` bytes (gunicorn's read(1024) loops the same way)."""
    received = 0
    while received < size:
        data = server.recv(size - received)
        if not data:
            break
        received += len(data)
    return received


def test_a_trickled_body_is_cut_at_the_body_timeout_though_every_read_progresses(open_pair):
    server, peer = open_pair  # idle 0.5 s; a byte every 0.1 s is progress for every single recv
    stop = threading.Event()
    trickle(peer, chunk=b"a", every=0.1, stop=stop)
    server.expect_body(1.0, 500.0)
    started = time.monotonic()
    try:
        with pytest.raises(StalledPeer, match="too slowly"):
            read_body(server, 1024)
    finally:
        stop.set()
    assert server.stalled
    assert 1.0 <= time.monotonic() - started < 10  # the allowance (plus ~0 s earned), never 1024 x 0.1 s


def test_a_body_sent_at_more_than_the_minimum_rate_is_read_past_the_body_timeout(open_pair):
    server, peer = open_pair
    stop = threading.Event()
    trickle(peer, chunk=b"b" * 4096, every=0.05, stop=stop)  # ~80 KB/s: earns far more than it spends
    server.expect_body(0.3, 1000.0)
    started = time.monotonic()
    try:
        received = read_body(server, 64 * 4096)
    finally:
        stop.set()
    assert received == 64 * 4096 and not server.stalled
    assert time.monotonic() - started > 0.3 * 2  # well past the plain allowance


def test_with_no_minimum_rate_the_body_timeout_is_the_whole_allowance(open_pair):
    server, peer = open_pair
    stop = threading.Event()
    trickle(peer, chunk=b"c" * 4096, every=0.05, stop=stop)
    server.expect_body(0.6, 0.0)
    try:
        with pytest.raises(StalledPeer):
            read_body(server, 1 << 30)
    finally:
        stop.set()


def test_outside_a_body_only_the_idle_limit_applies(open_pair):
    server, peer = open_pair
    server.expect_body(0.2, 0.0)
    server.body_done()
    time.sleep(0.3)  # past the (disarmed) allowance
    peer.sendall(b"next")
    assert server.recv(10) == b"next" and not server.stalled


def test_the_body_clock_starts_at_the_first_read(open_pair):
    """Time the application spends before reading its body is not the client's."""
    server, peer = open_pair
    server.expect_body(0.3, 0.0)
    time.sleep(0.5)
    peer.sendall(b"body")
    assert server.recv(10) == b"body"


class _Buffered(Unreader):
    def __init__(self, data: bytes):
        super().__init__()
        self.buf.write(data)

    def chunk(self, size_hint=None):
        return b""


class _Request:
    def __init__(self, reader):
        self.body = Body(reader)


class _Parser:
    def __init__(self, unreader):
        self.unreader = unreader


@pytest.mark.parametrize(
    "buffered, length, arrived", [(b"", 0, True), (b"12345", 5, True), (b"1234", 5, False), (b"", 1_000_000, False)]
)
def test_a_body_has_arrived_when_the_rest_is_buffered(buffered, length, arrived):
    unreader = _Buffered(buffered)
    assert body_arrived(_Request(LengthReader(unreader, length)), _Parser(unreader)) is arrived


def test_a_chunked_body_counts_as_still_on_its_way():
    unreader = _Buffered(b"0\r\n\r\n")
    assert body_arrived(_Request(ChunkedReader(type("R", (), {})(), unreader)), _Parser(unreader)) is False


# --- open files ----------------------------------------------------------------------------------------


def test_worker_connections_fit_the_open_file_limit():
    assert fit_worker_connections(1000, 8, 65536) == (1000, None)
    fitted, warning = fit_worker_connections(1000, 8, 1024)
    assert fitted == 1024 - FIXED_FILES - FILES_PER_THREAD * 8
    assert warning and "open-file limit (1024)" in warning and f"lowered to {fitted}" in warning
    assert fit_worker_connections(1000, 8, 40)[0] == 1  # never zero


def test_serve_raises_the_soft_open_file_limit_to_the_hard_one():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 512:
        pytest.skip(f"the hard open-file limit here is {hard}")

    def lowered() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 512))

    code = (
        "import resource; from spoo_export_plugin.ops.serve import raise_open_file_limit as r; "
        "print(r(), resource.getrlimit(resource.RLIMIT_NOFILE))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, preexec_fn=lowered
    ).stdout
    assert out.split() == ["512", "(512,", "512)"]


class _GthreadStandIn:
    """What RoomKeeping reads of gunicorn's ThreadWorker, without a server."""

    def set_accept_enabled(self, enabled: bool) -> None:
        self.accepting = enabled


def test_a_limit_emfile_lowered_climbs_back_once_descriptors_stop_running_out(monkeypatch):
    """One EMFILE (say, while wide xlsx exports held a temporary file per sheet) must not leave the
    worker shedding every waiting connection at a tiny limit until it restarts."""
    import errno
    import types

    from spoo_export_plugin.ops import room

    class Worker(room.RoomKeeping, _GthreadStandIn):
        pass

    worker = Worker()
    worker.heads, worker.nr_conns, worker.alive = {}, 80, True
    worker.cfg = types.SimpleNamespace(worker_connections=100, threads=4)
    worker.worker_connections, worker.max_keepalived = 100, 96
    worker.method_queue = types.SimpleNamespace(defer=lambda *args: None)
    clock = [1000.0]
    monkeypatch.setattr(room.time, "monotonic", lambda: clock[0])

    worker.out_of_files(OSError(errno.EMFILE, "Too many open files"))
    assert worker.worker_connections == 64 and worker.accepting is False  # 80 open, less a margin of 16
    seen = []
    for _ in range(4):
        clock[0] += room.RECOVER_SECONDS - 1
        worker.keep_room()
        seen.append(worker.worker_connections)  # not yet: another period must pass first
        clock[0] += 1
        worker.keep_room()
        seen.append(worker.worker_connections)
    assert seen == [64, 82, 82, 98, 98, 100, 100, 100]
    assert worker.max_keepalived == 96
    clock[0] += 5
    worker.out_of_files(OSError(errno.EMFILE, "Too many open files"))  # running out again lowers it again
    assert worker.worker_connections == 64
