"""The time budget of writing one file (``render_time_ms``).

``max_time_ms`` bounds the grouping (``maxTimeMS`` in the database, the same budget on the
worker path); writing the file is CPU work in the web worker that no database limit sees (an
xlsx of 23 breakdowns at the row cap took minutes), so it has its own budget. It counts the
time spent producing the file only: a streamed body is paused while the server sends a chunk,
so a slow reader is left to ``send_timeout_seconds``. Renderers check it every few thousand
rows; past it they raise :class:`RenderTimeout`, a 503 with ``Retry-After`` while no byte of
the file was sent (``web/hooks.py``), else the connection is cut.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from ..exceptions import Unavailable

if TYPE_CHECKING:
    from ..settings import ExportSettings

#: The 503's message when the file could not be written within ``render_time_ms``.
RENDER_TIMEOUT_MESSAGE = (
    "the file took longer to write than its time budget; try a shorter date range, fewer "
    "group_by dimensions or another format"
)

#: The clock budgets read (seconds); a module attribute so tests can drive it.
monotonic: Callable[[], float] = time.monotonic


class RenderTimeout(Unavailable):
    """Writing the file passed ``render_time_ms``."""


class TimeBudget:
    """``budget_ms`` of running time: it runs from creation (or :meth:`resume`) until :meth:`pause`;
    :meth:`check` raises :class:`RenderTimeout` once the running time passes the budget."""

    __slots__ = ("_left", "_since", "_clock", "retry_after")

    def __init__(self, budget_ms: int, *, retry_after: int, clock: Callable[[], float] | None = None):
        self._clock = clock or monotonic
        self._left = budget_ms / 1000
        self._since: float | None = self._clock()
        self.retry_after = retry_after

    def pause(self) -> None:
        if self._since is not None:
            self._left -= self._clock() - self._since
            self._since = None

    def resume(self) -> None:
        if self._since is None:
            self._since = self._clock()

    def spent(self) -> bool:
        """Whether the running time has passed the budget."""
        running = self._clock() - self._since if self._since is not None else 0.0
        return running > self._left

    def check(self) -> None:
        if self.spent():
            raise RenderTimeout(RENDER_TIMEOUT_MESSAGE, retry_after=self.retry_after)


def render_budget(settings: ExportSettings) -> TimeBudget:
    """A running budget of ``settings.render_time_ms`` for one file."""
    return TimeBudget(settings.render_time_ms, retry_after=settings.retry_after_seconds)


def budgeted_body(chunks: Iterable[bytes], budget: TimeBudget) -> Iterator[bytes]:
    """The file's chunks, produced within ``budget`` (``render_time_ms``).

    The first chunk is produced at once (in the web responder), so a file written whole before its
    first byte (xlsx, spooled to a temporary file) that passes the budget is still a 503 +
    Retry-After: nothing was sent. The budget then runs only while each further chunk is produced,
    not while it is sent (a slow reader is ``send_timeout_seconds``' business); past it the body
    raises :class:`RenderTimeout` mid-stream and the server cuts the connection, so the client sees
    an aborted transfer, never a shorter file that looks whole.
    """
    iterator = iter(chunks)
    try:
        first = next(iterator, None)
        budget.check()
    except BaseException:
        _close(iterator)  # e.g. the renderer's temporary file
        raise
    budget.pause()
    return _paced(first, iterator, budget)


def _paced(first: bytes | None, rest: Iterator[bytes], budget: TimeBudget) -> Iterator[bytes]:
    try:
        if first is None:
            return
        yield first
        while True:
            budget.resume()
            chunk = next(rest, None)
            if chunk is None:  # the file is whole
                return
            budget.check()
            budget.pause()
            yield chunk
    finally:  # the server closed the body (done, client gone, or cut): close the renderer too
        _close(rest)


def _close(iterator: Iterator[bytes]) -> None:
    close = getattr(iterator, "close", None)
    if close is not None:
        close()
