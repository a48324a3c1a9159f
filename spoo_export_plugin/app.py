"""``create_app``: a Falcon app serving the export route."""

from __future__ import annotations

import falcon

from . import errors
from .guard import ExportGuard
from .openapi import OpenAPIResource
from .resource import ExportResource
from .settings import ExportSettings


def create_app(settings: ExportSettings) -> falcon.App:
    """A WSGI Falcon app with the export resource at ``settings.route``."""
    app = falcon.App(middleware=[ExportGuard(settings)])
    app.req_options.keep_blank_qs_values = True
    app.req_options.auto_parse_qs_csv = False
    app.resp_options.secure_cookies_by_default = True
    errors.install(app)
    app.add_route(settings.route, ExportResource(settings))
    app.add_route(settings.route.rstrip("/") + "/openapi.json", OpenAPIResource(settings))
    return app
