"""The server's worker: its configuration, and the idle limit of its sockets (no server needed).

The whole worker under attack is tested in test_slow_clients.py.
"""

from __future__ import annotations

import importlib
import socket
import threading
import time

import pytest

from spoo_export_plugin import ConfigurationError, ExportSettings
from spoo_export_plugin.ops.serve import gunicorn_options, thread_warning
from spoo_export_plugin.ops.worker import DeadlineSocket, ExportWorker, StalledPeer


def test_serve_defaults_leave_threads_beyond_the_export_cap(db):
    options = gunicorn_options({})
    worker = options["worker_class"]
    assert issubclass(worker, ExportWorker)
    assert (worker.header_timeout, worker.send_timeout) == (10.0, 30.0)
    assert options["threads"] > ExportSettings(database=db).max_concurrent_exports
    assert thread_warning(options["threads"], ExportSettings(database=db)) is None


def test_timeouts_from_flags_environment_and_settings():
    worker = gunicorn_options({"SPOO_EXPORT_HEADER_TIMEOUT": "3",
                               "SPOO_EXPORT_SEND_TIMEOUT_SECONDS": "7"})["worker_class"]
    assert (worker.header_timeout, worker.send_timeout) == (3.0, 7.0)
    # serve passes the settings' value, which already merged flag and variable
    worker = gunicorn_options({"SPOO_EXPORT_SEND_TIMEOUT_SECONDS": "7"}, {"header_timeout": "4"},
                              send_timeout=12)["worker_class"]
    assert (worker.header_timeout, worker.send_timeout) == (4.0, 12.0)
    assert ExportWorker.send_timeout == 30.0  # configured() made subclasses, the base is untouched


@pytest.mark.parametrize("environ, message", [
    ({"SPOO_EXPORT_SEND_TIMEOUT_SECONDS": "0"}, "send_timeout_seconds"),
    ({"SPOO_EXPORT_SEND_TIMEOUT_SECONDS": "soon"}, "SPOO_EXPORT_SEND_TIMEOUT_SECONDS"),
    ({"SPOO_EXPORT_HEADER_TIMEOUT": "0"}, "header_timeout"),
])
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
