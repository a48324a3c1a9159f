"""The OpenAPI 3.1 document of the export route, served at ``<route>/openapi.json``.

The document ships in the package (``openapi.json``) with the default route; the served
copy names the route this deployment is configured with.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any, Sequence

import falcon

from ..core.settings import ExportSettings

DEFAULT_ROUTE = "/api/v1/export"


def load_document(route: str = DEFAULT_ROUTE, extra_dimensions: Sequence[str] = ()) -> dict[str, Any]:
    """The OpenAPI document as a dict, its paths under ``route``, with the host's declared dimensions."""
    text = resources.files(__package__).joinpath("openapi.json").read_text(encoding="utf-8")
    document = json.loads(text)
    base = route.rstrip("/") or route
    document["paths"] = {(route if path == DEFAULT_ROUTE else base + path[len(DEFAULT_ROUTE):]): item
                         for path, item in document["paths"].items()}
    for name in extra_dimensions:  # each works like a built-in one: its own comma parameter
        for item in document["paths"].values():
            _add_parameter(item["get"], name)
    return document


def _add_parameter(operation: dict[str, Any], name: str) -> None:
    operation["parameters"].append({
        "name": name, "in": "query", "required": False,
        "description": (f"Comma list of {name} values to keep (a dimension this server declares); the same as "
                        f"`filters` with key `{name}`. Also usable in `group_by`, `filters` and `exclude`."),
        "schema": {"type": "string"},
    })


class OpenAPIResource:
    """``GET <route>/openapi.json``: the document, cacheable (it only changes with the package)."""

    def __init__(self, settings: ExportSettings):
        document = load_document(settings.route, tuple(settings.extra_dimensions))
        self._body = json.dumps(document, ensure_ascii=False, indent=1).encode()

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_JSON
        resp.set_header("Cache-Control", "public, max-age=3600")
        resp.data = self._body
