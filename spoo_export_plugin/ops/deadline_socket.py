"""The client socket of :class:`~spoo_export_plugin.ops.worker.ExportWorker`: waits that end.

A pool thread's blocking call on a plain socket waits as long as the client likes. Here every
blocking send and receive gives up after ``idle`` seconds without progress, and the reads of a
request body also give up when the body as a whole takes too long: ``body_timeout`` seconds
plus one second per ``body_min_rate`` bytes received (Apache's ``mod_reqtimeout``
``body=20,MinRate=500``). Per-read limits alone do not bound a body: gunicorn reads it with
``read(1024)``, which loops on ``recv`` until it holds 1,024 bytes, so a client sending one
byte just inside the idle limit held a thread for 1,024 times that.
"""

from __future__ import annotations

import errno
import logging
import socket
import struct
import time
from typing import Any

log = logging.getLogger("spoo_export_plugin.server")


class StalledPeer(ConnectionResetError):
    """The peer made no progress for the idle timeout, or sent its body too slowly; gunicorn
    treats it as a reset connection."""


class DeadlineSocket(socket.socket):
    """A client socket whose blocking calls give up after ``idle`` seconds without progress,
    and whose request-body reads give up when the body as a whole is too slow.

    gunicorn switches a connection between non-blocking (in the poller) and blocking (in a
    pool thread) with ``setblocking``; here "blocking" means "wait, but not forever".
    ``sendall`` sends piece by piece so the limit applies to progress, not to the whole
    buffer (CPython's ``sendall`` timeout covers the total duration).
    """

    idle: float = 30.0
    stalled: bool = False
    #: The body allowance armed by :meth:`expect_body` (None: not reading a request body).
    body_timeout: float | None = None
    body_min_rate: float = 0.0
    body_started: float | None = None  # the first body read in the thread starts the clock
    body_received: int = 0

    @classmethod
    def adopt(cls, sock: socket.socket, idle: float) -> DeadlineSocket:
        adopted = cls(sock.family, sock.type, sock.proto, fileno=sock.detach())
        adopted.idle = idle
        return adopted

    def setblocking(self, flag: bool) -> None:
        if flag:
            super().settimeout(self.idle)
        else:
            super().setblocking(False)

    # -- the request body's allowance ---------------------------------------------------------------

    def expect_body(self, timeout: float, min_rate: float) -> None:
        """A pool thread took a complete request head: what it reads from now on is its body."""
        self.body_timeout, self.body_min_rate = timeout, min_rate
        self.body_started, self.body_received = None, 0

    def body_done(self) -> None:
        self.body_timeout = self.body_started = None

    def body_seconds_left(self) -> float | None:
        """Seconds the body may still take (None when no body is being read)."""
        if self.body_timeout is None:
            return None
        if self.body_started is None:
            self.body_started = time.monotonic()
        earned = self.body_received / self.body_min_rate if self.body_min_rate > 0 else 0.0
        return self.body_started + self.body_timeout + earned - time.monotonic()

    # -- blocking calls -------------------------------------------------------------------------

    def sendall(self, data: Any, flags: int = 0) -> None:
        if self.gettimeout() != self.idle:  # non-blocking, or a caller's own timeout: socket's behaviour
            return super().sendall(data, flags)
        with memoryview(data) as view, view.cast("B") as pending:
            sent, total = 0, len(pending)
            while sent < total:
                try:
                    sent += self.send(pending[sent:], flags)
                except TimeoutError:
                    raise self._stalled("stopped reading the response") from None

    def sendfile(self, file: Any, offset: int = 0, count: int | None = None) -> int:
        """socket.sendfile already waits per chunk (progress); only the error is made ours."""
        try:
            return super().sendfile(file, offset, count)
        except TimeoutError:
            if self.gettimeout() != self.idle:
                raise
            raise self._stalled("stopped reading the response") from None

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        timeout = self.gettimeout()
        left = self.body_seconds_left() if timeout != 0.0 else None
        if left is not None and left <= 0:
            raise self._too_slow()
        if left is not None and (timeout is None or left < timeout):
            super().settimeout(left)  # the body's allowance ends before the idle limit
            try:
                data = super().recv(bufsize, flags)
            except TimeoutError:
                raise self._too_slow() from None
            finally:
                super().settimeout(timeout)
        else:
            try:
                data = super().recv(bufsize, flags)
            except TimeoutError:
                if timeout != self.idle:  # e.g. gunicorn's own linger with its 2 s timeout
                    raise
                raise self._stalled("stopped sending its request") from None
        if self.body_timeout is not None:
            self.body_received += len(data)
        return data

    def _stalled(self, what: str) -> StalledPeer:
        if not self.stalled:
            self.stalled = True
            log.info("a client %s for %g s; connection closed", what, self.idle)
        return StalledPeer(errno.ECONNRESET, f"no progress for {self.idle:g} s: the client {what}")

    def _too_slow(self) -> StalledPeer:
        if not self.stalled:
            self.stalled = True
            log.info(
                "a client sent its request body too slowly (%d bytes in %.0f s; allowed: body_timeout=%g s "
                "plus 1 s per body_min_rate=%g bytes); connection closed",
                self.body_received,
                time.monotonic() - (self.body_started or time.monotonic()),
                self.body_timeout or 0,
                self.body_min_rate,
            )
        return StalledPeer(errno.ECONNRESET, "the client sent its request body too slowly")


def close_quietly(sock: Any) -> None:
    try:
        sock.close()
    except OSError:
        pass


def abort(sock: Any) -> None:
    """Close with a reset: nothing more is sent, the kernel keeps no unsent bytes for it."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    close_quietly(sock)
