"""A per-worker cap on exports running at once.

An export holds MongoDB (one aggregation) and then a worker thread (the streamed file).
Past the cap, new exports are answered 503 + ``Retry-After`` at once instead of queueing
behind the running ones, so a burst cannot pile up work the worker will never finish.
"""

from __future__ import annotations

import threading

from ..core.exceptions import Unavailable

BUSY_MESSAGE = "too many exports are running on this server; try again shortly"


class Slot:
    """One running export. ``release()`` is idempotent: the body's close and error paths may both call it."""

    __slots__ = ("_slots", "_released")

    def __init__(self, slots: ExportSlots):
        self._slots = slots
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._slots._semaphore.release()


class ExportSlots:
    """A non-blocking counting semaphore: ``acquire()`` returns a :class:`Slot` or raises 503."""

    def __init__(self, limit: int, retry_after: int):
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.retry_after = retry_after
        self._semaphore = threading.BoundedSemaphore(limit)

    def acquire(self) -> Slot:
        if not self._semaphore.acquire(blocking=False):
            raise Unavailable(BUSY_MESSAGE, retry_after=self.retry_after)
        return Slot(self)

    @property
    def available(self) -> int:
        """Free slots right now (for tests and diagnostics)."""
        return self._semaphore._value
