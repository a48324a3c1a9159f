"""Falcon hooks of the export resource: plain ``(req, resp, resource)`` functions.

:class:`~spoo_export_plugin.web.resource.ExportResource` applies them at class level, to every
responder (a subclass's own responders included): :func:`identify_caller`, :func:`rate_limit`
and :func:`refuse_bad_credential` before, :func:`render_export` after. Each runs once per
request, so a subclass's responder that calls its base's counts and renders once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import falcon
import falcon.asgi

from ..access.auth import identify
from ..core.exceptions import ExportError, RateLimited, Unavailable
from ..files.produce import ProducedFile, clicks_file, report_file
from ..formats import FORMATS
from .head import is_head


def identify_caller(req: falcon.Request, resp: falcon.Response, resource: Any, params: Any) -> None:
    """Set ``req.context.owner_id`` (None = anonymous).

    A credential error is kept in ``req.context.auth_error`` rather than raised, so the
    rate limiter can still count the request against the client's IP before it is refused.
    """
    if "auth_error" in req.context:  # already identified for this request
        return
    req.context.owner_id = None
    req.context.auth_error = None
    try:
        req.context.owner_id = identify(resource.store, resource.authenticator, req.get_header("Authorization"), req)
    except ExportError as exc:
        req.context.auth_error = exc


def rate_limit(req: falcon.Request, resp: falcon.Response, resource: Any, params: Any) -> None:
    """Count the request against its tier (after :func:`identify_caller`); 429 or 503 when refused.

    The ``X-RateLimit-*`` headers go on the response now and are kept in
    ``req.context.ratelimit_headers``, so the error handlers put them on error bodies too.
    """
    if "ratelimit_headers" in req.context:  # already counted for this request
        return
    decision = resource.throttle.check(resource.settings.route, req.context.owner_id, client_environ(req))
    req.context.ratelimit_headers = decision.headers()
    resp.set_headers(req.context.ratelimit_headers)
    if decision.allowed:
        return
    if decision.storage_failed:
        raise Unavailable("the rate-limit store is unreachable; try again shortly", retry_after=decision.retry_after)
    raise RateLimited(
        f"rate limit exceeded ({decision.window} for exports); retry in {decision.retry_after} s",
        None,
        retry_after=decision.retry_after,
    )


def client_environ(req: falcon.Request) -> Mapping[str, Any]:
    """What the rate limiter reads of the client: the WSGI environ, or the same two variables read
    from an ASGI request's scope (the peer's address and ``X-Forwarded-For``)."""
    if not isinstance(req, falcon.asgi.Request):
        return req.env
    try:  # any two-item iterable, says the ASGI spec (falcon.testing sends an iterator; uvicorn may send None)
        client: Any = req.scope.get("client")
        host, _port = client
    except (TypeError, ValueError):
        host = None
    return {"REMOTE_ADDR": host, "HTTP_X_FORWARDED_FOR": req.get_header("X-Forwarded-For")}


def refuse_bad_credential(req: falcon.Request, resp: falcon.Response, resource: Any, params: Any) -> None:
    """Raise the credential error :func:`identify_caller` kept (a 401 or 403), now that it is counted.

    The one place it is raised: a responder never sees a refused caller, so none can serve
    one as anonymous by forgetting to check.
    """
    if req.context.auth_error is not None:
        raise req.context.auth_error


def claim_export_slot(req: falcon.Request) -> None:
    """Take one of the worker's export slots (503 + Retry-After when all are taken).

    Called by the responder once credentials and parameters have passed, so a bad request
    gets its own 4xx, never a busy 503, and never holds a slot real exports could use.
    :class:`~spoo_export_plugin.web.guard.ExportGuard` releases the slot when the body is done.
    """
    slots = req.context.get("export_slots")
    if slots is not None:
        req.context.export_slot = slots.acquire()


def render_export(req: falcon.Request, resp: falcon.Response, resource: Any) -> None:
    """Render what the responder left in ``resp.context``: a report, raw clicks, or neither (nothing to do).

    A body already set (by this hook on an inner responder, or by the responder) is left alone.
    """
    if resp.stream is not None:
        return
    for render in (render_report, render_clicks):  # each returns when its object is absent
        render(req, resp, resource)


def render_report(req: falcon.Request, resp: falcon.Response, resource: Any) -> None:
    """Emit ``resp.context.report`` in the requested format, chosen from the registry.

    ``HEAD`` gets the same headers and an empty stream: like the streamed file, no Content-Length.
    """
    report = resp.context.get("report")
    if report is not None:
        _emit(req, resp, report_file(report, FORMATS[req.context.export_request.format], resource.settings))


def render_clicks(req: falcon.Request, resp: falcon.Response, resource: Any) -> None:
    """Emit ``resp.context.clicks`` (a raw-click export) with its format's ``render_clicks``; ``HEAD``: no body."""
    export = resp.context.get("clicks")
    if export is not None:
        _emit(req, resp, clicks_file(export, FORMATS[req.context.export_request.format], resource.settings))


def _emit(req: falcon.Request, resp: falcon.Response, produced: ProducedFile) -> None:
    """The file's headers, and its body (none for ``HEAD``: the chunks are never started, so nothing runs)."""
    file_headers(resp, produced)
    resp.stream = iter(()) if is_head(req) else produced.open()


class FileDescription(Protocol):
    """What a file's headers are made of: a produced file's, or a job's stored one (the same values)."""

    @property
    def media_type(self) -> str: ...
    @property
    def disposition(self) -> str: ...
    @property
    def headers(self) -> Sequence[tuple[str, str]]: ...


def file_headers(resp: falcon.Response, produced: FileDescription) -> None:
    """What every downloaded file carries: its type, its name, no sniffing, no shared cache (and its
    format's own headers: html's Content-Security-Policy)."""
    resp.content_type = produced.media_type
    resp.set_header("Content-Disposition", produced.disposition)
    resp.set_header("X-Content-Type-Options", "nosniff")
    resp.set_header("Cache-Control", "private, no-store")
    for name, value in produced.headers:
        resp.set_header(name, value)
