"""A small JSON request body, read bounded and checked field by field, in both doors.

The plugin's ``POST`` routes take a JSON object of a few string fields (a job: ``url``,
``webhook_url``). Everything about that body is refused as a 4xx naming what is wrong, never a
500: too large (413, ``body``), not sent in time (408, the ASGI door), of unknown length where
the server cannot bound it (411), not ``application/json`` (415, ``body``), not UTF-8 JSON, not
an object, a key twice or a key the route does not know (400, ``body``), a field of the wrong
type (400 naming the field).

Why ``application/json`` only: a browser sends a cross-site ``text/plain`` or form ``POST`` without
asking (no CORS preflight), with the visitor's cookies; spoo.me's dashboard authenticates with a
cookie. Requiring JSON makes every cross-site submission go through the CORS preflight first.

Reading: the WSGI door reads ``req.bounded_stream`` here (or, for a chunked body, ``req.stream``
when the server marks it terminated); the ASGI door's body is a coroutine, so
:class:`~spoo_export_plugin.web.guard.ExportGuard` awaits :func:`read_asgi_body` before the threaded
responder runs and leaves the bytes in ``req.context.request_body``. Either way at most
``limit + 1`` bytes are read: a client sending more learns it is too large without being read whole.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from typing import Any

import falcon

from ..core.exceptions import BadRequest, ContentTooLarge, ExportError, LengthRequired, UnsupportedMediaType

#: The largest body a job submission may have: a URL and a webhook URL fit many times over.
MAX_BODY_BYTES = 16 * 1024

BODY = "body"


def too_large(limit: int) -> ContentTooLarge:
    return ContentTooLarge(f"the request body is larger than {limit} bytes; send a small JSON object", BODY)


def refuse_announced_size(req: falcon.Request, limit: int) -> None:
    """413 before reading anything when ``Content-Length`` already says the body is too large."""
    if (req.content_length or 0) > limit:
        raise too_large(limit)


def read_wsgi_body(req: falcon.Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """At most ``limit`` bytes of a WSGI request's body, or 413/411."""
    refuse_announced_size(req, limit)
    if req.content_length is None and req.get_header("Transfer-Encoding"):
        # Without a length Falcon's bounded stream reads nothing; the raw stream is safe to read to its
        # end only when the server says it ends there (PEP 3333's wsgi.input_terminated: gunicorn does).
        if not req.env.get("wsgi.input_terminated"):
            raise LengthRequired("send the request body with a Content-Length header", BODY)
        return _read_up_to(req.stream.read, limit)
    return _read_up_to(req.bounded_stream.read, limit)


class BodyTimeout(ExportError):
    """The request body did not arrive in time (a client that stopped sending it)."""

    status = 408


async def read_asgi_body(req: Any, limit: int = MAX_BODY_BYTES, *, timeout: float = 30.0) -> bytes:
    """At most ``limit`` bytes of a ``falcon.asgi`` request's body, or 413 (awaited on the event loop).

    The whole body must arrive within ``timeout`` seconds (408 otherwise): a waiting read holds no
    thread, but a client that never finishes its request must not hold the connection for ever
    (under a WSGI server, ``spoo-export serve`` bounds the body the same way: ops/worker.py).
    """
    refuse_announced_size(req, limit)
    try:  # reads until that many bytes or the end
        data: bytes = await asyncio.wait_for(req.stream.read(limit + 1), timeout)
    except asyncio.TimeoutError:
        raise BodyTimeout(f"the request body did not arrive within {timeout:g} s", BODY) from None
    if len(data) > limit:
        raise too_large(limit)
    return data


def _read_up_to(read: Callable[[int], bytes], limit: int) -> bytes:
    """Read until the end or ``limit + 1`` bytes (a read may return less than asked); 413 past ``limit``."""
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise too_large(limit)
    return b"".join(chunks)


def request_body(req: falcon.Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body the guard read for this request, else (a WSGI Falcon host without the guard) read now."""
    body = req.context.get("request_body")
    if body is not None:
        return bytes(body)
    if hasattr(req, "bounded_stream"):
        return read_wsgi_body(req, limit)
    raise RuntimeError("an ASGI request's body is read by ExportGuard; add it to the app's middleware")


def is_json(content_type: str | None) -> bool:
    """``application/json``, any letter case, with parameters (``; charset=utf-8``) or not."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json"


def parse_fields(
    body: bytes, content_type: str | None, fields: Mapping[str, bool], *, example: str
) -> dict[str, str | None]:
    """The body's string fields: ``fields`` maps each name the route takes to whether it is required.

    An absent optional field, or one sent as ``null``, is ``None``. ``example`` shows a valid body
    in the error messages.
    """
    if not is_json(content_type):
        raise UnsupportedMediaType(f"send the body as Content-Type: application/json, e.g. {example}", BODY)
    document = _decode(body, example)
    unknown = [key for key in document if key not in fields]
    if unknown:
        known = ", ".join(fields)
        raise BadRequest(f"unknown key {unknown[0][:40]!r} in the body; it takes {known}", BODY)
    parsed: dict[str, str | None] = {}
    for name, required in fields.items():
        value = document.get(name)
        if value is None and required:
            raise BadRequest(f"{name} is required, e.g. {example}", name)
        if value is not None and not isinstance(value, str):
            raise BadRequest(f"{name} must be a string", name)
        parsed[name] = value
    return parsed


def parse_object(body: bytes, content_type: str | None, *, example: str) -> dict[str, Any]:
    """The body as a JSON object, its fields left to the caller to judge (a schedule's are not all
    strings: ``email`` is a list, ``paused`` a boolean). The same 415 and 400 (``body``) as :func:`parse_fields`."""
    if not is_json(content_type):
        raise UnsupportedMediaType(f"send the body as Content-Type: application/json, e.g. {example}", BODY)
    return _decode(body, example)


def _decode(body: bytes, example: str) -> dict[str, Any]:
    if not body.strip():
        raise BadRequest(f"the request body is empty; send a JSON object, e.g. {example}", BODY)
    try:
        document = json.loads(body.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except UnicodeDecodeError:
        raise BadRequest("the request body is not UTF-8", BODY) from None
    except _DuplicateKey as exc:
        raise BadRequest(f"the key {str(exc)[:40]!r} appears twice in the body", BODY) from None
    except RecursionError:  # deep nesting ("[[[[..."): the parser's own limit, not a server fault
        raise BadRequest("the request body is nested too deeply; send a flat JSON object", BODY) from None
    except ValueError as exc:
        raise BadRequest(f"the request body is not valid JSON ({exc})", BODY) from None
    if not isinstance(document, dict):
        raise BadRequest(f"the request body must be a JSON object, e.g. {example}", BODY)
    return document


class _DuplicateKey(ValueError):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Refuse ``{"url": "a", "url": "b"}``: parsers disagree on which one wins, so none is chosen."""
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise _DuplicateKey(key)
        document[key] = value
    return document
