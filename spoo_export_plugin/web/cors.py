"""CORS for the plugin's routes, off unless ``cors_origins`` is set: Falcon's own middleware.

Browsers on the listed origins may call the routes and read what scripts need: the file name
(``Content-Disposition``), the rate limit (``X-RateLimit-*``) and ``Retry-After``. Preflight
``OPTIONS`` is answered by Falcon's default responder, patched by the middleware.

No origin is ever allowed credentials (``Access-Control-Allow-Credentials``): a cross-origin
caller sends ``Authorization: Bearer ...`` (an API key or a token), which CORS allows without
credentials mode, while the session cookie stays usable by same-origin pages only (spoo.me's
dashboard is served from the API's own origin and needs no CORS). A listed site can then never
read a visitor's statistics with that visitor's cookie. docs/security.md explains it.
"""

from __future__ import annotations

from typing import Any

import falcon

from ..core.settings import ExportSettings

#: Response headers a script on an allowed origin may read, besides the CORS-safelisted ones.
EXPOSED_HEADERS = (
    "Content-Disposition",
    "Retry-After",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
)


class ExportCORS(falcon.CORSMiddleware):
    """``falcon.CORSMiddleware`` with the plugin's exposed headers, no credentials, and ``Vary: Origin``.

    With a list of origins the answer depends on the request's ``Origin`` (its
    ``Access-Control-Allow-Origin`` names it, or is absent): ``Vary: Origin`` stops a shared cache
    (the OpenAPI document is cacheable) from handing one origin's answer to another.
    """

    def __init__(self, origins: Any, expose: tuple[str, ...] = EXPOSED_HEADERS):
        super().__init__(allow_origins=origins, expose_headers=expose, allow_credentials=None)

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: Any, req_succeeded: bool) -> None:
        super().process_response(req, resp, resource, req_succeeded)
        if self.allow_origins != "*":
            resp.append_header("Vary", "Origin")


def cors_middleware(settings: ExportSettings) -> list[ExportCORS]:
    """The CORS middleware for ``falcon.App(middleware=...)``: one, or none when ``cors_origins`` is unset.

    With export jobs on, a script may read a submission's ``Location`` (the job's address) too.
    """
    if not settings.cors_origins:
        return []
    expose = EXPOSED_HEADERS + (("Location",) if settings.job_queue is not None else ())
    return [ExportCORS(settings.cors_origins, expose)]
