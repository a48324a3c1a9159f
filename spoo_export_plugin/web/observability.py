"""One structured log line per export, written when the streamed body is finished.

The file streams after the responder returns, so bytes and duration are only known
when the WSGI server has iterated the body to the end or closed it. :class:`ObservedBody`
counts bytes as they pass and calls back exactly once at that moment.

The line never carries personal data: no IP address, no credential, no filter value.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Container, Iterable, Iterator
from typing import Any

from ..core.request.params import LINK_SCOPE, SCOPES
from ..formats import FORMATS

log = logging.getLogger("spoo_export_plugin.export")

#: Values logged as sent: the scopes, and the registered formats (the registry itself, so a
#: format a host registers later is known too). Anything else is logged as "invalid".
_KNOWN: dict[str, Container[str]] = {
    "scope": (*SCOPES, LINK_SCOPE),
    "format": FORMATS,
}


def safe_choice(name: str, value: Any) -> str | None:
    """A client-supplied scope/format as logged: known values only, never free text."""
    if value is None or value == "":
        return None
    return value if value in _KNOWN[name] else "invalid"


class ObservedBody:
    """Wrap a response body iterable: count bytes, call ``on_finish(bytes, completed)`` once.

    ``completed`` is False when the server closed the body before it was exhausted
    (the client went away) or when rendering failed part-way (then ``error`` holds why).
    """

    def __init__(self, body: Iterable[bytes], on_finish: Callable[[int, bool], None]):
        self._iterator = iter(body)
        self._body = body
        self._on_finish: Callable[[int, bool], None] | None = on_finish
        self.bytes = 0
        self.error: BaseException | None = None

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        try:
            chunk = next(self._iterator)
        except StopIteration:
            self._finish(True)
            raise
        except BaseException as exc:
            self.error = exc
            self._finish(False)
            raise
        self.bytes += len(chunk)
        return chunk

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._finish(False)

    def _finish(self, completed: bool) -> None:
        callback, self._on_finish = self._on_finish, None
        if callback is not None:
            callback(self.bytes, completed)

    def __del__(self) -> None:  # a server that never calls close() must not leak the export slot
        self._finish(False)


class ExportTimer:
    """Start time and fields of one export, logged once as a JSON object."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.fields: dict[str, Any] = {}

    def emit(self, *, status: int, outcome: str, bytes_sent: int = 0, reason: str | None = None) -> None:
        record = {
            "event": "export",
            **self.fields,
            "status": status,
            "outcome": outcome,
            "bytes": bytes_sent,
            "ms": round((time.perf_counter() - self.started) * 1000, 1),
        }
        if reason is not None:  # why an export was aborted by the plugin itself (a fixed name)
            record["reason"] = reason
        log.info(json.dumps(record, default=str, separators=(",", ":")))
