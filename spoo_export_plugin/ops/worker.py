"""A gunicorn worker that slow and hostile clients cannot starve.

gunicorn's ``gthread`` worker hands every accepted connection to a pool thread, which then
blocks reading the request head and body and blocks writing the response, with no time
limit. A client that sends half a request line, trickles a request body, or requests a large
export and stops reading, pins a thread (and an export slot) for as long as it stays
connected; a few dozen such clients leave no thread to answer anyone, not even with a 503.

:class:`ExportWorker` keeps gthread's design (one main loop, a thread pool for requests) and
changes five things:

- **The request head is gathered in the main loop.** An accepted (or kept-alive) connection
  waits in the poller, costing no thread, until its request line and headers are complete;
  only then does a pool thread take it. A head not complete after ``header_timeout``
  seconds is dropped. Threads never wait for a head.
- **Blocking socket calls give up without progress, and a body as a whole.** In a pool thread
  every send and receive waits at most ``send_timeout`` seconds for progress (a client that
  reads slowly but steadily is served; one that stops reading is cut off), and the request
  body may take ``body_timeout`` seconds plus one per ``body_min_rate`` bytes
  (:mod:`.deadline_socket`). The abort closes the response body, which frees the export slot
  and logs the export as ``aborted``.
- **No thread drains a body the application left unread.** A request whose body has not fully
  arrived when a thread takes it is answered with ``Connection: close``; gunicorn would
  otherwise read the rest after the response to keep the connection alive.
- **Closing never waits in the main loop.** gunicorn's graceful close lingers up to 2 s
  reading what the peer still sends; here it lingers in the poller instead of blocking it,
  and lingering sockets count towards ``worker_connections``.
- **Running out of connections or descriptors sheds, never dies.** At ``worker_connections``
  a new connection makes room by closing the oldest waiting head (then the oldest lingering
  close); when ``accept`` fails with ``EMFILE``/``ENFILE`` the worker sheds the same way,
  pauses accepting for a moment and, for ``EMFILE``, lowers its own ``worker_connections``
  to what fits (gthread let the error end the worker, dropping every connection it held).

TLS (``certfile``) and HTTP/2 prior knowledge fall back to gthread's own path: terminate
TLS at a proxy (docs/deploy.md has an nginx recipe).

The methods overridden and the attributes used are gthread internals, not an API: the
``server`` extra pins the gunicorn range CI runs this on, and docs/architecture.md lists each
internal, what for, and since which release it exists.
"""

from __future__ import annotations

import errno
import io
import selectors
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from gunicorn.http.body import LengthReader
from gunicorn.workers.gthread import TConn, ThreadWorker

from .deadline_socket import DeadlineSocket, StalledPeer, abort, close_quietly
from .room import OUT_OF_FILES, RoomKeeping

__all__ = ["DeadlineSocket", "ExportConn", "ExportWorker", "StalledPeer"]

#: A request line and headers larger than this are refused with 431 in the main loop (nginx's
#: default allows 32 KB); buffering more per waiting connection would make memory the target.
MAX_HEAD_BYTES = 64 * 1024
_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: application/json\r\n"
    b"Content-Length: 61\r\nConnection: close\r\n\r\n"
    b'{"error": "the request headers are too large", "param": null}'
)
#: Bytes of an unread body a thread may discard from its buffers to keep a connection alive.
DRAIN_MAX_BYTES = 64 * 1024
_END_OF_HEAD = b"\r\n\r\n"


class ExportConn(TConn):
    """gthread's connection plus the head gathered in the main loop."""

    def __init__(self, cfg: Any, sock: Any, client: Any, server: Any, worker: ExportWorker):
        super().__init__(cfg, sock, client, server)
        self.worker = worker
        self.head = bytearray()
        self.head_deadline = 0.0
        self.unparsed_head: bytes | None = None  # handed to the parser when the thread creates it

    def init(self) -> None:
        fresh = not self.initialized
        super().init()
        if fresh and self.unparsed_head is not None and self.parser is not None:
            self.parser.unreader.unread(self.unparsed_head)
            self.unparsed_head = None

    def close(self, graceful: bool = False) -> None:
        if getattr(self.sock, "stalled", False):
            abort(self.sock)  # unsent bytes are discarded, the peer gets a reset
        elif graceful:
            self.worker.linger(self.sock)
        else:
            close_quietly(self.sock)


class ExportWorker(RoomKeeping, ThreadWorker):
    """gthread with request heads gathered in the main loop, time limits in threads, and shedding."""

    #: Seconds a connection gets to send its complete request line and headers.
    header_timeout: float = 10.0
    #: Seconds a pool thread waits for a client that makes no progress (reading or sending).
    send_timeout: float = 30.0
    #: Seconds a request body may take in all, plus one second per ``body_min_rate`` bytes received.
    body_timeout: float = 20.0
    body_min_rate: float = 500.0

    @classmethod
    def configured(
        cls, *, header_timeout: float, send_timeout: float, body_timeout: float = 20.0, body_min_rate: float = 500.0
    ) -> type[ExportWorker]:
        """A subclass carrying the limits (gunicorn builds workers from a class)."""
        limits = {
            "header_timeout": header_timeout,
            "send_timeout": send_timeout,
            "body_timeout": body_timeout,
            "body_min_rate": body_min_rate,
        }
        return type(cls.__name__, (cls,), {**{k: float(v) for k, v in limits.items()}, "__module__": cls.__module__})

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.heads: dict[ExportConn, None] = {}  # insertion order is deadline order

    # -- accepting and gathering heads ---------------------------------------------------------

    def _gthread_path(self, client: Any) -> bool:
        """TLS and HTTP/2 prior knowledge read in the thread, as gthread does."""
        if self.cfg.is_ssl:
            return True
        try:
            from gunicorn.http2 import negotiation
        except ImportError:  # gunicorn before 26.2: HTTP/2 over TLS only, no prior knowledge
            return False
        return bool(negotiation.prior_knowledge_allowed(self.cfg, client))

    def accept(self, listener: Any) -> None:
        try:
            raw, client = listener.accept()
        except OSError as exc:
            if exc.errno in OUT_OF_FILES:
                self.out_of_files(exc)
            elif exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
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
            self._drop_head(conn, close_quietly)
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
        if (
            self.alive
            and isinstance(conn, ExportConn)
            and isinstance(conn.sock, DeadlineSocket)
            and not fs.cancelled()
            and fs.exception() is None
            and fs.result() is True
        ):
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

    # -- in a pool thread: the request body --------------------------------------------------------

    def handle(self, conn: Any) -> Any:
        """Whatever the thread reads from now on is a request body: it gets the body's allowance."""
        sock = conn.sock
        if not isinstance(sock, DeadlineSocket):
            return super().handle(conn)
        sock.expect_body(self.body_timeout, self.body_min_rate)
        try:
            return super().handle(conn)
        finally:
            sock.body_done()

    def handle_request(self, req: Any, conn: Any) -> Any:
        """``Connection: close`` for a body still on its way: after the response no thread reads it."""
        if isinstance(conn.sock, DeadlineSocket) and not body_arrived(req, conn.parser):
            req.must_close = True
        return super().handle_request(req, conn)

    def _keepalive_after(self, conn: Any, keepalive: bool) -> bool:
        """gunicorn 26.2+ drains an unread body here to keep the connection; only what is buffered.
        (Older ones drain inline in ``handle``, but only a body that had arrived gets that far:
        ``handle_request`` closes the connection for the others.)"""
        if not keepalive or not isinstance(conn.sock, DeadlineSocket):
            return bool(super()._keepalive_after(conn, keepalive))
        conn.sock.setblocking(False)  # a body that needs the network to finish closes the connection
        try:
            return bool(conn.parser.finish_body(max_bytes=DRAIN_MAX_BYTES))
        except OSError:
            return False
        finally:
            conn.sock.setblocking(True)

    # -- deadlines, checked by gthread's main loop about once a second ----------------------------

    def murder_keepalived(self, force: bool = False) -> None:
        """gthread's once-a-second call, extended; ``force`` (gunicorn 27+, at shutdown) closes all."""
        if force:
            super().murder_keepalived(force=True)
        else:
            super().murder_keepalived()  # before 27 it takes no argument
        self.drop_late_heads()
        self.close_lingering(force=force)
        self.keep_room()

    def drop_late_heads(self) -> None:
        now = time.monotonic()
        while self.heads:
            conn = next(iter(self.heads))
            if conn.head_deadline > now:
                break
            self._drop_head(conn, abort)


def body_arrived(req: Any, parser: Any) -> bool:
    """Whether the rest of the request body is already buffered (a chunked body's end is unknown)."""
    reader = getattr(getattr(req, "body", None), "reader", None)
    if not isinstance(reader, LengthReader):
        return False
    return reader.length <= len(parser.unreader.buf.getvalue())
