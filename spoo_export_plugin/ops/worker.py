"""A gunicorn worker that slow and hostile clients cannot starve.

gunicorn's ``gthread`` worker hands every accepted connection to a pool thread, which then
blocks reading the request head and blocks writing the response, with no time limit. A
client that sends half a request line, or requests a large export and stops reading, pins
a thread (and an export slot) for as long as it stays connected; a few dozen such clients
leave no thread to answer anyone, not even with a 503.

:class:`ExportWorker` keeps gthread's design (one main loop, a thread pool for complete
requests) and changes three things:

- **The request head is gathered in the main loop.** An accepted (or kept-alive) connection
  waits in the poller, costing no thread, until its request line and headers are complete;
  only then does a pool thread take it. A head not complete after ``header_timeout``
  seconds is dropped. Threads only ever serve complete requests.
- **Blocking socket calls give up without progress.** In a pool thread every send and
  receive waits at most ``send_timeout`` seconds for progress (a client that reads slowly
  but steadily is served; one that stops reading is cut off). The abort closes the response
  body, which frees the export slot and logs the export as ``aborted``.
- **Closing never waits in the main loop.** gunicorn's graceful close lingers up to 2 s
  reading what the peer still sends; here it lingers in the poller instead of blocking it.

TLS (``certfile``) and HTTP/2 prior knowledge fall back to gthread's own path: terminate
TLS at a proxy (docs/deploy.md has an nginx recipe).
"""

from __future__ import annotations

import errno
import io
import logging
import selectors
import socket
import struct
import time
from functools import partial
from typing import Any, Callable, Optional

from gunicorn.workers.gthread import TConn, ThreadWorker

log = logging.getLogger("spoo_export_plugin.server")

#: A request line and headers larger than this are refused with 431 in the main loop (nginx's
#: default allows 32 KB); buffering more per waiting connection would make memory the target.
MAX_HEAD_BYTES = 64 * 1024
_TOO_LARGE = (b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: application/json\r\n"
              b"Content-Length: 61\r\nConnection: close\r\n\r\n"
              b'{"error": "the request headers are too large", "param": null}')
#: How long a closing connection may linger to drain what the peer still sends.
LINGER_SECONDS = 2.0
_END_OF_HEAD = b"\r\n\r\n"


class StalledPeer(ConnectionResetError):
    """The peer made no progress for the idle timeout; gunicorn treats it as a reset connection."""


class DeadlineSocket(socket.socket):
    """A client socket whose blocking calls give up after ``idle`` seconds without progress.

    gunicorn switches a connection between non-blocking (in the poller) and blocking (in a
    pool thread) with ``setblocking``; here "blocking" means "wait, but not forever".
    ``sendall`` sends piece by piece so the limit applies to progress, not to the whole
    buffer (CPython's ``sendall`` timeout covers the total duration).
    """

    idle: float = 30.0
    stalled: bool = False

    @classmethod
    def adopt(cls, sock: socket.socket, idle: float) -> "DeadlineSocket":
        adopted = cls(sock.family, sock.type, sock.proto, fileno=sock.detach())
        adopted.idle = idle
        return adopted

    def setblocking(self, flag: bool) -> None:
        if flag:
            super().settimeout(self.idle)
        else:
            super().setblocking(False)

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

    def sendfile(self, file: Any, offset: int = 0, count: Optional[int] = None) -> int:
        """socket.sendfile already waits per chunk (progress); only the error is made ours."""
        try:
            return super().sendfile(file, offset, count)
        except TimeoutError:
            if self.gettimeout() != self.idle:
                raise
            raise self._stalled("stopped reading the response") from None

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        try:
            return super().recv(bufsize, flags)
        except TimeoutError:
            if self.gettimeout() != self.idle:  # e.g. gunicorn's own linger with its 2 s timeout
                raise
            raise self._stalled("stopped sending its request") from None

    def _stalled(self, what: str) -> StalledPeer:
        self.stalled = True
        log.info("a client %s for %g s; connection closed", what, self.idle)
        return StalledPeer(errno.ECONNRESET, f"no progress for {self.idle:g} s: the client {what}")


class ExportConn(TConn):
    """gthread's connection plus the head gathered in the main loop."""

    def __init__(self, cfg: Any, sock: Any, client: Any, server: Any, worker: "ExportWorker"):
        super().__init__(cfg, sock, client, server)
        self.worker = worker
        self.head = bytearray()
        self.head_deadline = 0.0
        self.unparsed_head: Optional[bytes] = None  # handed to the parser when the thread creates it

    def init(self) -> None:
        fresh = not self.initialized
        super().init()
        if fresh and self.unparsed_head is not None and self.parser is not None:
            self.parser.unreader.unread(self.unparsed_head)
            self.unparsed_head = None

    def close(self, graceful: bool = False) -> None:
        if getattr(self.sock, "stalled", False):
            _abort(self.sock)  # unsent bytes are discarded, the peer gets a reset
        elif graceful:
            self.worker.linger(self.sock)
        else:
            _close(self.sock)


class ExportWorker(ThreadWorker):
    """gthread with the request head gathered in the main loop and idle limits in threads."""

    #: Seconds a connection gets to send its complete request line and headers.
    header_timeout: float = 10.0
    #: Seconds a pool thread waits for a client that makes no progress (reading or sending).
    send_timeout: float = 30.0

    @classmethod
    def configured(cls, *, header_timeout: float, send_timeout: float) -> type["ExportWorker"]:
        """A subclass carrying the timeouts (gunicorn builds workers from a class)."""
        return type(cls.__name__, (cls,), {"header_timeout": float(header_timeout),
                                          "send_timeout": float(send_timeout), "__module__": cls.__module__})

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.heads: dict[ExportConn, None] = {}  # insertion order is deadline order
        self.lingering: dict[socket.socket, float] = {}

    # -- accepting and gathering heads ---------------------------------------------------------

    def _gthread_path(self, client: Any) -> bool:
        """TLS and HTTP/2 prior knowledge read in the thread, as gthread does."""
        if self.cfg.is_ssl:
            return True
        try:
            from gunicorn.http2 import negotiation
        except ImportError:  # pragma: no cover - older gunicorn without HTTP/2
            return False
        return bool(negotiation.prior_knowledge_allowed(self.cfg, client))

    def accept(self, *args: Any) -> None:  # gunicorn < 24 passes (server, listener)
        listener = args[-1]
        try:
            raw, client = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        if self._gthread_path(client):
            raw.setblocking(True)
            sock: Any = raw
        else:
            sock = DeadlineSocket.adopt(raw, self.send_timeout)
        conn = ExportConn(self.cfg, sock, client, listener.getsockname(), self)
        if sock is raw:
            self.enqueue_req(conn)
        else:
            self.await_head(conn)

    def on_client_socket_readable(self, conn: Any, client: Any) -> None:
        """A kept-alive connection has bytes again: gather its next head without a thread."""
        if not isinstance(conn, ExportConn) or not isinstance(conn.sock, DeadlineSocket):
            return super().on_client_socket_readable(conn, client)
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self.await_head(conn)

    def await_head(self, conn: ExportConn) -> None:
        conn.sock.setblocking(False)
        conn.head = bytearray()
        conn.head_deadline = time.monotonic() + self.header_timeout
        self.heads[conn] = None
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_head_bytes, conn))

    def _on_head_bytes(self, conn: ExportConn, _sock: Any) -> None:
        try:
            data = conn.sock.recv(MAX_HEAD_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client went away before finishing its request
            self._drop_head(conn, _close)
            return
        conn.head += data
        # only the new bytes (and the 3 before them) can complete the head: no rescan per read
        if conn.head.find(_END_OF_HEAD, max(0, len(conn.head) - len(data) - 3)) < 0:
            if len(conn.head) < MAX_HEAD_BYTES:
                return
            try:  # too large: answered here, never handed to a thread
                conn.sock.send(_TOO_LARGE)  # fits any send buffer: never blocks
            except OSError:
                pass
            self._drop_head(conn, self.linger)  # a reset could discard the answer before it is read
            return
        self._forget_head(conn)
        head, conn.head = bytes(conn.head), bytearray()
        if conn.parser is not None:  # kept-alive: its parser reads this head next
            conn.parser.unreader.unread(head)
        else:
            conn.unparsed_head = head
        conn.data_ready = True  # gthread must not wait for first bytes again
        self.enqueue_req(conn)

    def finish_request(self, conn: Any, fs: Any) -> None:
        """A kept-alive connection whose client already sent part of its next request.

        gthread hands such a connection straight back to a thread, which would then wait for
        the rest of that head with no header timeout; here an incomplete head goes back to the
        poller and is gathered like any other.
        """
        if (self.alive and isinstance(conn, ExportConn) and isinstance(conn.sock, DeadlineSocket)
                and not fs.cancelled() and fs.exception() is None and fs.result() is True):
            unreader = conn.parser.unreader
            pending = unreader.buf.getvalue()
            if pending and _END_OF_HEAD not in pending:
                unreader.buf = io.BytesIO()  # taken: await_head gathers it again with what follows
                self.await_head(conn)
                conn.head += pending
                return
        super().finish_request(conn, fs)

    def _drop_head(self, conn: ExportConn, close: Callable[[Any], None]) -> None:
        """Stop waiting for this connection's head, count it gone, and close it with ``close``."""
        self._forget_head(conn)
        self.nr_conns -= 1
        close(conn.sock)

    def _forget_head(self, conn: ExportConn) -> None:
        self.heads.pop(conn, None)
        try:
            self.poller.unregister(conn.sock)
        except (KeyError, ValueError, OSError):
            pass

    # -- deadlines, checked by gthread's main loop about once a second ----------------------------

    def murder_keepalived(self, *args: Any, **kwargs: Any) -> None:
        super().murder_keepalived(*args, **kwargs)
        self.drop_late_heads()
        self.close_lingering(force=bool(kwargs.get("force") or (args and args[0])))

    def drop_late_heads(self) -> None:
        now = time.monotonic()
        while self.heads:
            conn = next(iter(self.heads))
            if conn.head_deadline > now:
                break
            self._drop_head(conn, _abort)

    # -- closing without blocking the main loop -------------------------------------------------

    def linger(self, sock: Any) -> None:
        """Half-close, then drain what the peer still sends for up to LINGER_SECONDS (RFC 9112 9.6)."""
        try:
            sock.shutdown(socket.SHUT_WR)
            sock.setblocking(False)
            self.poller.register(sock, selectors.EVENT_READ, self._on_linger_bytes)
        except (OSError, ValueError, KeyError):
            _close(sock)
            return
        self.lingering[sock] = time.monotonic() + LINGER_SECONDS

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
        self.lingering.pop(sock, None)
        try:
            self.poller.unregister(sock)
        except (KeyError, ValueError, OSError):
            pass
        _close(sock)


def _close(sock: Any) -> None:
    try:
        sock.close()
    except OSError:
        pass


def _abort(sock: Any) -> None:
    """Close with a reset: nothing more is sent, the kernel keeps no unsent bytes for it."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    _close(sock)
