"""``create_asgi_app``: the same routes as ``create_app``, as an ASGI application (``falcon.asgi``).

One core, two doors: the app is assembled by :func:`~spoo_export_plugin.web.app.assemble` like
the WSGI one, from the same resource, hooks, guard, CORS and error handlers; only the blocking
work moves off the event loop (``offload.py``) and sending gets the guard a WSGI server gives
under ``spoo-export serve`` (``ops/worker.py``):

- a send that makes no progress for ``send_timeout_seconds`` (the client stopped reading) cuts
  the connection: the body is closed, its export slot freed and the export logged ``aborted``;
- a client that disconnects mid-body (as uvicorn reports it) is noticed before the next chunk is
  produced, with the same outcome, instead of the file being written into the void.

A mount prefix (``root_path``) is honoured whether the server puts it in ``path`` too (the ASGI
spec since 2023, Starlette's ``Mount``) or not (older servers): the plugin routes the rest.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import falcon.asgi

from ..core.report.timebudget import RenderTimeout
from ..core.settings import ExportSettings
from .app import assemble
from .cors import cors_middleware
from .guard import ExportGuard
from .offload import OffLoop, ThreadedStreams, export_threads

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("spoo_export_plugin")


class ClientGone(Exception):
    """The client stopped reading (no progress within ``send_timeout_seconds``) or disconnected."""


class GuardedSend:
    """One response's ``send``: each call bounded by ``timeout`` seconds, and refused once the server
    says the client is gone, so a body's producer stops at its next chunk.

    Why not watch ``receive()`` for ``http.disconnect``: test clients (Falcon's) emit it at once
    while still collecting the whole body, so it cannot tell a gone client from a waiting one.
    uvicorn, the server spoo.me runs, answers a send to a gone client by dropping it silently; its
    connection object (the ``send`` method's owner, see :func:`server_connection`) says
    ``disconnected``, and that is read here.
    """

    def __init__(self, send: Send, timeout: float):
        self._send = send
        self._timeout = timeout
        self._connection = server_connection(send)  # uvicorn's request cycle; None elsewhere

    def gone(self) -> bool:
        return getattr(self._connection, "disconnected", False) is True

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.body" and self.gone():
            raise ClientGone("the client disconnected")
        try:
            await asyncio.wait_for(self._send(message), self._timeout)
        except asyncio.TimeoutError:
            self._abort()
            raise ClientGone(f"no progress sending for {self._timeout:g} s") from None

    def _abort(self) -> None:
        """Drop the connection now. uvicorn's ``close()`` would wait for a reader that never reads to
        drain the buffered bytes, keeping its socket open; its transport's ``abort()`` does not wait.
        Best effort: a server without that shape closes the connection when the app returns."""
        abort = getattr(getattr(self._connection, "transport", None), "abort", None)
        if callable(abort):
            abort()


def server_connection(send: Any, depth: int = 6) -> Any:
    """uvicorn's request cycle behind ``send`` (an object with ``transport`` and ``disconnected``), or None.

    ``send`` is the cycle's bound method when the plugin's app is what uvicorn calls; behind
    Starlette's middleware stack (``app.add_middleware``) it is a closure over that method (its
    error middleware wraps ``send``), so the closures' cells are followed, ``depth`` levels at most.
    """
    owner = getattr(send, "__self__", None)
    if hasattr(owner, "transport") and hasattr(owner, "disconnected"):
        return owner
    if depth:
        for cell in getattr(send, "__closure__", None) or ():
            try:
                inner = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            if callable(inner):
                found = server_connection(inner, depth - 1)
                if found is not None:
                    return found
    return None


def within_root(scope: Scope) -> Scope:
    """``scope`` with ``path`` relative to ``root_path`` when the server put the prefix in both."""
    root = str(scope.get("root_path") or "").rstrip("/")
    path = str(scope.get("path") or "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("", "/"):
        return {**scope, "path": path[len(root) :] or "/"}
    return scope


class ExportASGIApp(falcon.asgi.App):
    """``falcon.asgi.App`` with the plugin's send guard and ``root_path`` handling (see the module)."""

    #: Seconds a send may make no progress before the client is cut off (``send_timeout_seconds``).
    send_timeout: float = 30.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # type: ignore[override]
        if scope["type"] != "http":
            await super().__call__(dict(scope), receive, send)
            return
        try:
            await super().__call__(dict(within_root(scope)), receive, GuardedSend(send, self.send_timeout))
        except (ClientGone, RenderTimeout) as exc:  # the body was closed on the way out: slot freed, export logged
            # The response is left unfinished, so the server ends the connection: the client sees an
            # aborted transfer, never a shorter file that looks whole.
            log.info("export response cut off: %s", exc)


def create_asgi_app(settings: ExportSettings) -> ExportASGIApp:
    """An ASGI Falcon app serving every route of ``create_app``: the same answers, the loop never blocked."""
    threads = export_threads(settings)
    app = ExportASGIApp(middleware=[ThreadedStreams(threads), *cors_middleware(settings), ExportGuard(settings)])
    app.send_timeout = settings.send_timeout_seconds
    return assemble(app, settings, adapt=lambda resource: OffLoop(resource, threads))
