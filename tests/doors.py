"""The two doors the project's HTTP-level tests run through: ``create_app`` (WSGI) and
``create_asgi_app`` (ASGI), one core behind both (issue 19: the same status, headers and body).

A test takes the ``door`` fixture (tests/conftest.py, parametrised over :data:`DOORS`, or the
doors given with ``--doors``) and builds its app with :func:`make_app` or :func:`client_for`;
helpers that build apps deep inside a test module call them too, so the door chosen for the
test is the one every app of that test is built with. Without a ``door`` fixture (the core's
property tests, module-level clients) the WSGI door is used: those test the core, not the door.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any

import falcon.asgi
import falcon.testing

from spoo_export_plugin import ExportSettings, create_app, create_asgi_app

DOORS = ("wsgi", "asgi")

#: The door of the running test (set by the ``door`` fixture); WSGI outside a door-parametrised test.
current_door: ContextVar[str] = ContextVar("current_door", default="wsgi")


def make_app(settings: ExportSettings, door: str | None = None) -> Any:
    """The plugin's app for ``settings`` through ``door`` (default: the running test's door)."""
    chosen = door or current_door.get()
    if chosen == "asgi":
        return create_asgi_app(settings)
    if chosen == "wsgi":
        return create_app(settings)
    raise ValueError(f"unknown door {chosen!r}; expected one of {DOORS}")


def client_for(settings: ExportSettings, door: str | None = None) -> falcon.testing.TestClient:
    """A Falcon test client over :func:`make_app` (it simulates WSGI or ASGI as the app is)."""
    return falcon.testing.TestClient(make_app(settings, door))


def is_asgi(app: Any) -> bool:
    return isinstance(app, falcon.asgi.App)


def open_response(
    app: Any,
    path: str,
    query_string: str = "",
    headers: Mapping[str, str] | None = None,
    method: str = "GET",
    body: bytes = b"",
) -> WSGIResponse | ASGIResponse:
    """Send one request to ``app`` as a server would and keep its body unread: the status and headers
    are known, the body is read at the test's pace (iterate) or never (``close()``, the client gone).

    What ``falcon.testing`` cannot do (it reads every body whole): hold an export open, so its slot
    stays taken, or step the clock between chunks."""
    if is_asgi(app):
        scope = falcon.testing.create_scope(
            path, query_string, method, headers=headers, content_length=len(body) if body else None
        )
        return ASGIResponse(app, scope, body)
    environ = falcon.testing.create_environ(path, query_string, method=method, headers=headers, body=body or None)
    return WSGIResponse(app, environ)


class WSGIResponse:
    """The WSGI app called with an environ: the body is the iterable the app returned."""

    def __init__(self, app: Any, environ: dict[str, Any]):
        seen: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            seen.update(status=int(status.split()[0]), headers=headers)

        self.body = app(environ, start_response)
        self.sent = 0  # bytes the "server" pulled from the body (what it would have written out)
        self.status: int = seen["status"]
        self.header_list: list[tuple[str, str]] = seen["headers"]
        self.headers = {name.lower(): value for name, value in self.header_list}

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.body:
            self.sent += len(chunk)
            yield chunk

    def close(self) -> None:
        close = getattr(self.body, "close", None)
        if close is not None:
            close()


class ResponseUnfinished(Exception):
    """The ASGI app returned without ending its body (no last ``more_body: False``): a server then drops
    the connection, and the client sees an aborted transfer, as a WSGI body that raised gives it."""


class ClientDisconnected(OSError):
    """What the test's ``send`` raises once the test closed the response (the client went away)."""


class ASGIResponse:
    """The ASGI app run on its own event loop in a thread, its ``send`` held at each body chunk until
    the test reads the next one: the chunk after it is produced only when asked for, as a WSGI
    server's ``next()`` would. ``close()`` makes the pending ``send`` fail (the client is gone), and
    returns once the app has returned (the body closed, its slot released, the export logged)."""

    def __init__(self, app: Any, scope: dict[str, Any], body: bytes = b""):
        self._body = body
        self._out: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._closed = False
        self._loop = asyncio.new_event_loop()
        self._ack: asyncio.Event | None = None
        self._delivered = False
        self._finished = False
        self.sent = 0  # bytes the app handed to ``send`` (a server writes them out before asking for more)
        self._thread = threading.Thread(target=self._run, args=(app, scope), daemon=True)
        self._thread.start()
        kind, start = self._out.get(timeout=60)
        if kind == "error":
            raise start
        self.status: int = start["status"]
        self.header_list = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in start["headers"]]
        self.headers = {name.lower(): value for name, value in self.header_list}

    def _run(self, app: Any, scope: dict[str, Any]) -> None:
        try:
            self._loop.run_until_complete(self._serve(app, scope))
        finally:
            self._loop.close()

    async def _serve(self, app: Any, scope: dict[str, Any]) -> None:
        self._ack = asyncio.Event()
        requested = False
        gone = asyncio.Event()
        self._gone = gone

        async def receive() -> dict[str, Any]:
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": self._body, "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body":
                self.sent += len(message.get("body", b""))  # handed over, even if the client has gone
                finished.append(not message.get("more_body", False))
            if self._closed:
                raise ClientDisconnected("the test closed the response")
            if message["type"] == "http.response.start":
                self._out.put(("start", message))
            elif message.get("body"):
                assert self._ack is not None
                self._ack.clear()
                self._out.put(("body", message["body"]))
                await self._ack.wait()  # until the test asks for the next chunk, or closes
                if self._closed:
                    raise ClientDisconnected("the test closed the response")

        finished: list[bool] = []
        try:
            await app(scope, receive, send)
        except BaseException as exc:  # handed to the test, as a WSGI body would raise it
            self._out.put(("error", exc))
        else:
            ended = bool(finished) and finished[-1]
            self._out.put(("end", None) if ended else ("error", ResponseUnfinished("the body was never ended")))

    def _release(self) -> None:
        if not self._thread.is_alive():
            return
        ack, gone = self._ack, getattr(self, "_gone", None)
        try:
            if ack is not None:
                self._loop.call_soon_threadsafe(ack.set)
            if gone is not None and self._closed:
                self._loop.call_soon_threadsafe(gone.set)
        except RuntimeError:  # the loop closed meanwhile: the app has returned
            pass

    def __iter__(self) -> Iterator[bytes]:
        while not self._finished:
            if self._delivered:
                self._release()
            kind, value = self._out.get(timeout=60)
            self._delivered = kind == "body"
            if kind == "body":
                yield value
                continue
            self._finished = True
            if kind == "error" and not isinstance(value, ClientDisconnected):
                raise value

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        self._closed = True
        self._release()
        self._thread.join(timeout=60)
        assert not self._thread.is_alive(), "the ASGI app did not return after its client went away"
