"""The one place exceptions become HTTP: ``{"error": ..., "param": ...}`` JSON, never a trace."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import falcon
import falcon.asgi

from ..core.exceptions import ExportError

log = logging.getLogger("spoo_export_plugin")


def _write(resp: falcon.Response, status: int, message: str, param: str | None, retry_after: int | None = None) -> None:
    resp.status = status
    resp.content_type = falcon.MEDIA_JSON
    resp.data = json.dumps({"error": message, "param": param}).encode()
    resp.stream = None
    resp.downloadable_as = None  # also drops a Content-Disposition set before the error
    if retry_after is not None:
        resp.set_header("Retry-After", str(retry_after))


def _keep_rate_limit_headers(req: falcon.Request, resp: falcon.Response) -> None:
    """Error bodies carry the X-RateLimit-* headers the rate-limit hook computed for this request."""
    headers = getattr(req.context, "ratelimit_headers", None)
    if headers:
        resp.set_headers(headers)


def bearer_challenge(req: falcon.Request, exc: ExportError) -> str:
    """The ``WWW-Authenticate`` value of a 401 (RFC 6750): which credential to send, and whether
    the one sent was refused.

    Credentials are refused only while the caller is identified (``hooks.identify_caller``
    keeps that error in ``req.context.auth_error``); any other 401 asks for credentials that
    were not sent.
    """
    if req.context.get("auth_error") is exc:
        return 'Bearer error="invalid_token"'
    return "Bearer"


def handle_export_error(req: falcon.Request, resp: falcon.Response, exc: ExportError, params: Any) -> None:
    _write(resp, exc.status, exc.message, exc.param, exc.retry_after if exc.status in (429, 503) else None)
    if exc.status == 401:
        resp.set_header("WWW-Authenticate", bearer_challenge(req, exc))
    _keep_rate_limit_headers(req, resp)


def handle_http_error(req: falcon.Request, resp: falcon.Response, exc: falcon.HTTPError, params: Any) -> None:
    """Falcon's own errors (unknown route, wrong method...) in the same JSON shape."""
    message = exc.description or exc.title or "request failed"
    _write(resp, exc.status_code, message, None)
    resp.set_headers(exc.headers or {})
    _keep_rate_limit_headers(req, resp)


def handle_unexpected(req: falcon.Request, resp: falcon.Response, exc: Exception, params: Any) -> None:
    log.exception("export failed unexpectedly")
    _write(resp, 500, "internal error; the export could not be produced", None)
    _keep_rate_limit_headers(req, resp)


def install(app: falcon.App) -> None:
    """The handlers on ``app``; on an ASGI app each as the coroutine Falcon requires (the same function)."""
    for exception, handler in (
        # Falcon picks the most specific handler for the exception's class.
        (Exception, handle_unexpected),
        (falcon.HTTPError, handle_http_error),
        (ExportError, handle_export_error),
    ):
        app.add_error_handler(
            exception,
            _coroutine(handler) if isinstance(app, falcon.asgi.App) else handler,  # type: ignore[arg-type]
        )


def _coroutine(handler: Callable[[Any, Any, Any, Any], None]) -> Callable[[Any, Any, Any, Any], Awaitable[None]]:
    async def handle(req: Any, resp: Any, exc: Any, params: Any) -> None:  # writes a small body: no I/O
        handler(req, resp, exc, params)

    return handle
