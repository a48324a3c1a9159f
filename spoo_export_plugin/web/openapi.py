"""The OpenAPI 3.1 document of the export route, served at ``<route>/openapi.json``.

The document ships in the package (``openapi.json``) with the default route; the served
copy names the route this deployment is configured with.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import falcon

from ..core.settings import ExportSettings

DEFAULT_ROUTE = "/api/v1/export"


def load_document(route: str = DEFAULT_ROUTE) -> dict[str, Any]:
    """The OpenAPI document as a dict, its one path set to ``route``."""
    text = resources.files(__package__).joinpath("openapi.json").read_text(encoding="utf-8")
    document = json.loads(text)
    operation = document["paths"].pop(DEFAULT_ROUTE)
    document["paths"][route] = operation
    return document


class OpenAPIResource:
    """``GET <route>/openapi.json``: the document, cacheable (it only changes with the package)."""

    def __init__(self, settings: ExportSettings):
        self._body = json.dumps(load_document(settings.route), ensure_ascii=False, indent=1).encode()

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_JSON
        resp.set_header("Cache-Control", "public, max-age=3600")
        resp.data = self._body
