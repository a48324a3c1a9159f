"""Off the event loop: the ASGI door runs the WSGI door's own responders and bodies in threads.

Why threads, not pymongo's async API: every step of an export (the key lookup, the rate-limit
store, the aggregation, grouping on the worker path, writing xlsx) is the same code the WSGI
door runs, written against pymongo's blocking API, mongomock, ``limits`` and openpyxl, which
have no async flavour. Running that code in a bounded pool keeps one core with two doors, and
the loop only ever awaits: a request waiting for the database, or a reader waiting for the
network, costs the loop nothing. A waiting *reader* holds no thread: a body is produced one
chunk per thread call, and sending that chunk is the loop's business.

The pool has ``max_concurrent_exports + 4`` threads: exports hold at most
``max_concurrent_exports`` of them (the slot cap), so at least four are always left for what
answers fast (a 401, a 429, the busy 503, ``HEAD``, the OpenAPI document).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

import falcon
import falcon.asgi

from ..core.settings import ExportSettings
from .resource import RESPONDER

Result = TypeVar("Result")

#: Threads beyond the export cap, for requests that hold no slot (see the module's docstring).
SPARE_THREADS = 4


def export_threads(settings: ExportSettings) -> ThreadPoolExecutor:
    """The pool one ASGI app runs its blocking work in (threads start on demand)."""
    return ThreadPoolExecutor(settings.max_concurrent_exports + SPARE_THREADS, thread_name_prefix="spoo-export")


async def in_thread(threads: Executor, function: Callable[..., Result], *args: Any) -> Result:
    return await asyncio.get_running_loop().run_in_executor(threads, partial(function, *args))


class OffLoop:
    """A WSGI-door resource as Falcon's ASGI app wants it: each responder a coroutine that runs the
    resource's own (hooks included) in ``threads``.

    Every ``on_<method>[_<suffix>]`` of the resource is adapted, a subclass's own included, so the
    ASGI door routes exactly what the WSGI door routes. ``resource`` is the wrapped object.
    """

    def __init__(self, resource: Any, threads: Executor):
        self.resource = resource
        for name in dir(type(resource)):
            responder = getattr(resource, name)
            if RESPONDER.match(name) and callable(responder):
                setattr(self, name, self._threaded(responder, threads))

    @staticmethod
    def _threaded(responder: Callable[..., None], threads: Executor) -> Callable[..., Awaitable[None]]:
        async def threaded(req: falcon.asgi.Request, resp: falcon.asgi.Response, **params: Any) -> None:
            await in_thread(threads, partial(responder, req, resp, **params))

        threaded.__name__ = threaded.__qualname__ = responder.__name__
        threaded.__doc__ = responder.__doc__
        return threaded


def wrapped_resource(resource: Any) -> Any:
    """The resource an :class:`OffLoop` wraps, or ``resource`` itself (the WSGI door's)."""
    return resource.resource if isinstance(resource, OffLoop) else resource


class ThreadedBody:
    """A WSGI body (an iterable of bytes) as an async iterator: each chunk is produced in ``threads``.

    ``close()`` (awaited by Falcon when the stream ends, fails or the client is cut off) closes the
    WSGI body in a thread too, after any chunk still being produced, so its ``close`` (release the
    export slot, log the line, delete a temporary file) runs exactly as under a WSGI server.
    """

    def __init__(self, body: Iterable[bytes], threads: Executor):
        self._body = body
        self._iterator: Iterator[bytes] = iter(body)
        self._threads = threads
        self._pending: Future[bytes | None] | None = None
        self._closed = False

    def __aiter__(self) -> ThreadedBody:
        return self

    async def __anext__(self) -> bytes:
        self._pending = self._threads.submit(next, self._iterator, None)
        chunk = await asyncio.wrap_future(self._pending)
        if chunk is None:
            raise StopAsyncIteration
        return chunk

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        pending = self._pending
        if pending is not None and not pending.done():  # a cancelled await left a chunk in the making
            await asyncio.wait([asyncio.wrap_future(pending)])
        close = getattr(self._body, "close", None)
        if close is not None:
            await in_thread(self._threads, close)


class ThreadedStreams:
    """Falcon ASGI middleware, first in the list so its ``process_response`` runs last: a body the
    WSGI door's hooks and guard left as an iterable of bytes becomes a :class:`ThreadedBody`."""

    def __init__(self, threads: Executor):
        self.threads = threads

    async def process_response(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, resource: Any, req_succeeded: bool
    ) -> None:
        stream: Any = resp.stream
        if stream is not None and not hasattr(stream, "__aiter__") and not hasattr(stream, "read"):
            resp.stream = ThreadedBody(stream, self.threads)
