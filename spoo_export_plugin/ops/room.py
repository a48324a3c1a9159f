"""The main loop's side of closing connections and of running out of room for them.

A mixin of :class:`~spoo_export_plugin.ops.worker.ExportWorker` (before gthread's
``ThreadWorker`` in its bases), which provides ``heads`` (connections still sending their
request head, oldest first) and ``_drop_head``. Everything here runs in the main loop.

- **Lingering closes** (RFC 9112 9.6): half-close, then drain what the peer still sends for up
  to ``LINGER_SECONDS``, in the poller; a lingering socket counts in ``nr_conns``, which gthread
  compares with ``worker_connections``.
- **Room at the limit**: at ``worker_connections`` the oldest waiting head (then the oldest
  lingering close) is closed so the next connection is let in.
- **Out of descriptors**: ``EMFILE``/``ENFILE`` from ``accept`` shed the same way and pause
  accepting for ``ACCEPT_PAUSE_SECONDS``; gthread let the error end the worker.
"""

from __future__ import annotations

import errno
import logging
import selectors
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

from .deadline_socket import abort, close_quietly

log = logging.getLogger("spoo_export_plugin.server")

#: How long a closing connection may linger to drain what the peer still sends.
LINGER_SECONDS = 2.0
#: How long accepting pauses after accept() ran out of descriptors, and how often that is logged.
ACCEPT_PAUSE_SECONDS = 0.5
OUT_OF_FILES_LOG_SECONDS = 10.0
#: After this long without running out of descriptors, a connection limit lowered by EMFILE climbs
#: back (half the way to the configured one, at least 16, each such period): the shortage may have
#: been passing (an xlsx export holds a temporary file per sheet until it is saved).
RECOVER_SECONDS = 30.0
OUT_OF_FILES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


if TYPE_CHECKING:  # a mixin for gunicorn's ThreadWorker, whose attributes it reads (gunicorn has no types)
    _Worker = Any
else:
    _Worker = object


class RoomKeeping(_Worker):
    """Lingering closes, shedding at the connection limit, and surviving ``EMFILE``."""

    heads: dict[Any, None]
    nr_conns: int
    worker_connections: int

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lingering: dict[socket.socket, float] = {}  # insertion order is deadline order
        self.accept_paused_until = 0.0
        self.out_of_files_logged = -OUT_OF_FILES_LOG_SECONDS
        self.out_of_files_since_log = 0
        self.out_of_files_at = 0.0  # when EMFILE last lowered the limit, or the limit last climbed back

    # -- making room -------------------------------------------------------------------------------

    def set_accept_enabled(self, enabled: bool) -> None:
        if enabled and time.monotonic() < self.accept_paused_until:
            return
        super().set_accept_enabled(enabled)

    def make_room(self, count: int) -> int:
        """Close up to ``count`` connections that wait on their client, oldest first: heads still
        being sent, then lingering closes. Returns how many were closed."""
        closed = 0
        while closed < count and self.heads:
            self._drop_head(next(iter(self.heads)), abort)
            closed += 1
        while closed < count and self.lingering:
            self._end_linger(next(iter(self.lingering)))
            closed += 1
        return closed

    def keep_room(self) -> None:
        """At ``worker_connections`` the next connection is let in by shedding the oldest waiting one
        (gthread stops accepting instead: half-sent heads would keep everyone out until they time out)."""
        self.recover_connections()
        if self.alive and self.nr_conns >= self.worker_connections:
            self.make_room(self.nr_conns - self.worker_connections + 1)

    def recover_connections(self) -> None:
        """Raise a limit EMFILE lowered back toward ``worker_connections`` as configured, step by step,
        once descriptors have not run out for RECOVER_SECONDS (another EMFILE lowers it again)."""
        configured = int(self.cfg.worker_connections)
        now = time.monotonic()
        if self.worker_connections >= configured or now - self.out_of_files_at < RECOVER_SECONDS:
            return
        step = max(16, (configured - self.worker_connections) // 2)
        self.worker_connections = min(configured, self.worker_connections + step)
        self.max_keepalived = max(0, self.worker_connections - self.cfg.threads)
        self.out_of_files_at = now

    def out_of_files(self, exc: OSError) -> None:
        """accept() found no descriptor: shed, pause accepting for a moment, and on EMFILE (this
        process's limit) take what is open now, less a margin, as this worker's connection limit."""
        before = self.nr_conns
        margin = max(16, before // 10)
        if exc.errno == errno.EMFILE and before - margin < self.worker_connections:
            self.worker_connections = max(1, before - margin)
            self.max_keepalived = max(0, self.worker_connections - self.cfg.threads)
        self.out_of_files_at = time.monotonic()
        closed = self.make_room(max(margin, self.nr_conns - self.worker_connections))
        self.accept_paused_until = time.monotonic() + ACCEPT_PAUSE_SECONDS
        super().set_accept_enabled(False)
        # wake the main loop when the pause ends (it would otherwise sleep up to a second in select)
        resume = threading.Timer(ACCEPT_PAUSE_SECONDS, self.method_queue.defer, (self._resume_accepting,))
        resume.daemon = True
        resume.start()
        self.out_of_files_since_log += 1
        now = time.monotonic()
        if now - self.out_of_files_logged >= OUT_OF_FILES_LOG_SECONDS:
            log.warning(
                "accept() failed (%s) %d time(s) since the last report, with %d connections open: closed "
                "the %d oldest waiting ones, paused accepting for %g s; worker_connections is %d (raise "
                "the open-file limit: ulimit -n / LimitNOFILE)",
                errno.errorcode.get(exc.errno or 0, exc.errno),
                self.out_of_files_since_log,
                before,
                closed,
                ACCEPT_PAUSE_SECONDS,
                self.worker_connections,
            )
            self.out_of_files_logged, self.out_of_files_since_log = now, 0

    def _resume_accepting(self) -> None:
        self.accept_paused_until = 0.0
        if self.alive:
            self.set_accept_enabled(self.nr_conns < self.worker_connections)

    # -- closing without blocking the main loop -------------------------------------------------

    def linger(self, sock: Any) -> None:
        """Half-close, then drain what the peer still sends for up to LINGER_SECONDS (RFC 9112 9.6)."""
        try:
            sock.shutdown(socket.SHUT_WR)
            sock.setblocking(False)
            self.poller.register(sock, selectors.EVENT_READ, self._on_linger_bytes)
        except (OSError, ValueError, KeyError):
            close_quietly(sock)
            return
        self.lingering[sock] = time.monotonic() + LINGER_SECONDS
        self.nr_conns += 1  # it holds a descriptor like any connection

    def _on_linger_bytes(self, sock: Any) -> None:
        try:
            data = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._end_linger(sock)

    def close_lingering(self, force: bool = False) -> None:
        now = time.monotonic()
        for sock, deadline in list(self.lingering.items()):
            if force or deadline <= now:
                self._end_linger(sock)

    def _end_linger(self, sock: Any) -> None:
        if self.lingering.pop(sock, None) is not None:
            self.nr_conns -= 1
        try:
            self.poller.unregister(sock)
        except (KeyError, ValueError, OSError):
            pass
        close_quietly(sock)
