"""Falcon hooks of the export resource: plain ``(req, resp, resource)`` functions."""

from __future__ import annotations

from typing import Any

import falcon

from .auth import API_KEY_PREFIX, bearer_token, owner_from_api_key
from .disposition import content_disposition, export_filename
from .exceptions import ExportError, Unauthorized
from .formats import FORMATS


def identify_caller(req: falcon.Request, resp: falcon.Response, resource: Any, params: Any) -> None:
    """Set ``req.context.owner_id`` (None = anonymous).

    A credential error is kept in ``req.context.auth_error`` rather than raised, so the
    rate limiter can still count the request against the client's IP before it is refused.
    """
    req.context.owner_id = None
    req.context.auth_error = None
    try:
        header = req.get_header("Authorization")
        token = bearer_token(header) if header else None
        if token is not None and token.startswith(API_KEY_PREFIX):
            req.context.owner_id = owner_from_api_key(resource.store, token)
        elif resource.authenticator is not None:
            req.context.owner_id = resource.authenticator(req)
        elif token is not None:
            raise Unauthorized("the bearer token is not a spoo_ API key", "Authorization")
    except ExportError as exc:
        req.context.auth_error = exc


def render_report(req: falcon.Request, resp: falcon.Response, resource: Any) -> None:
    """Emit ``resp.context.report`` in the requested format, chosen from the registry."""
    report = resp.context.get("report")
    if report is None:
        return
    fmt = FORMATS[req.context.export_request.format]
    resp.content_type = fmt.media_type
    resp.set_header("Content-Disposition", content_disposition(export_filename(report, fmt.extension)))
    resp.set_header("X-Content-Type-Options", "nosniff")
    resp.set_header("Cache-Control", "private, no-store")
    resp.stream = iter(fmt.render(report, resource.settings))
