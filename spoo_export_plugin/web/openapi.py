"""The OpenAPI 3.1 document of the export route, served at ``<route>/openapi.json``.

The document ships in the package (``openapi.json``) with the default route; the served
copy names the route this deployment is configured with, and, under a mount (WSGI
``SCRIPT_NAME``, ASGI ``root_path``), a ``servers`` entry with the mount's prefix.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any

import falcon

from .._version import __version__
from ..core.settings import ExportSettings
from .cors import EXPOSED_HEADERS
from .head import answers_head
from .routes import mount_prefix, under

DEFAULT_ROUTE = "/api/v1/export"
#: The parts of the document served only with ``job_queue`` set.
JOBS_DOCUMENTS = ("openapi_jobs.json", "openapi_schedules.json")


def load_document(
    route: str = DEFAULT_ROUTE, extra_dimensions: Sequence[str] = (), *, cors: bool = False, jobs: bool = False
) -> dict[str, Any]:
    """The OpenAPI document as a dict, its paths under ``route``, with the host's declared dimensions;
    the export jobs' and scheduled reports' routes when ``jobs`` (``job_queue`` is set); HEAD beside
    every GET, and the CORS preflight (OPTIONS) when ``cors`` (``cors_origins`` is set)."""
    document = _shipped("openapi.json", route)
    document["info"] = {"title": document["info"]["title"], "version": __version__, **document["info"]}
    for name in extra_dimensions:  # each works like a built-in one: its own comma parameter
        for item in document["paths"].values():
            _add_parameter(item["get"], name)
    # Shipped apart: the export jobs' routes and the scheduled reports' (whose slots run as jobs) join
    # the document's paths and components.
    for addition in [_shipped(name, route) for name in JOBS_DOCUMENTS] if jobs else []:
        document["paths"].update(addition["paths"])
        for kind, entries in addition["components"].items():
            document["components"].setdefault(kind, {}).update(entries)
    add_head_operations(document)
    if cors:
        add_preflight_operations(document, exposes_location=jobs)
    return document


def _shipped(name: str, route: str) -> dict[str, Any]:
    """A JSON document shipped beside this module, its paths (written for the default route) under ``route``."""
    document: dict[str, Any] = json.loads(resources.files(__package__).joinpath(name).read_text(encoding="utf-8"))
    document["paths"] = {
        (route if path == DEFAULT_ROUTE else under(route, path[len(DEFAULT_ROUTE) :])): item
        for path, item in document["paths"].items()
    }
    return document


def _add_parameter(operation: dict[str, Any], name: str) -> None:
    operation["parameters"].append(
        {
            "name": name,
            "in": "query",
            "required": False,
            "description": (
                f"Comma list of {name} values to keep (a dimension this server declares); the same as "
                f"`filters` with key `{name}`. Also usable in `group_by`, `filters` and `exclude`."
            ),
            "schema": {"type": "string"},
        }
    )


def add_head_operations(document: dict[str, Any]) -> None:
    """Describe ``HEAD`` on every path with a ``GET`` (``web/head.py`` answers it on every route).

    Derived from the ``GET`` operation rather than written twice in ``openapi.json``: the same
    parameters, security and statuses with the same headers, and no content.
    """
    _beside_every_get(
        document,
        "head",
        lambda get: {
            "operationId": get["operationId"] + "Head",
            "summary": "Headers only: " + get["summary"][0].lower() + get["summary"][1:],
            "description": "What GET answers (the same checks, rate limit, status and headers: file type and "
            "name, X-RateLimit-*, errors), without a body. No statistics are computed.",
            "parameters": get.get("parameters", []),
            **({"security": get["security"]} if "security" in get else {}),
            "responses": {
                status: {key: value for key, value in response.items() if key != "content"}
                for status, response in get["responses"].items()
            },
        },
    )


def add_preflight_operations(document: dict[str, Any], *, exposes_location: bool = False) -> None:
    """Describe the CORS preflight ``OPTIONS`` on every path with a ``GET`` (``web/cors.py``); the methods
    it allows are the path's own (Falcon answers ``Allow`` from the resource's responders). With jobs on
    the exposed headers include ``Location``."""
    exposed = ", ".join(EXPOSED_HEADERS + (("Location",) if exposes_location else ()))
    for item in document["paths"].values():
        get = item.get("get")
        if get is None or "options" in item:
            continue
        allowed = [method.upper() for method in _METHODS if method in item]
        methods = ", ".join(allowed)
        in_words = " and ".join([", ".join(allowed[:-1]), allowed[-1]]) if len(allowed) > 1 else methods
        item["options"] = {
            "operationId": get["operationId"] + "Preflight",
            "summary": "CORS preflight",
            "description": "Answered without credentials. For an origin listed in `cors_origins` (or any, with "
            f"`*`) and an `Access-Control-Request-Method` header, the answer allows {in_words} "
            "with the requested headers (e.g. `Authorization`) for 24 hours; other origins get "
            "no `Access-Control-*` header.",
            "parameters": [p for p in get.get("parameters", []) if p.get("in") == "path"],
            "security": [{}],
            "responses": {
                "200": {
                    "description": "No body.",
                    "headers": _preflight_headers(methods, exposed),
                }
            },
        }


#: The operations a path item may hold, in the order Falcon's ``Allow`` lists them (its other keys are
#: ``parameters``, ``summary``...).
_METHODS = ("delete", "get", "head", "patch", "post", "put")


def _beside_every_get(
    document: dict[str, Any], method: str, operation: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    """Add ``method``, built from the path's ``GET`` operation, to every path that has a GET and lacks it."""
    for item in document["paths"].values():
        get = item.get("get")
        if get is not None and method not in item:
            item[method] = operation(get)


def _preflight_headers(methods: str, exposed: str) -> dict[str, Any]:
    """The headers of a preflight answer: the methods the path allows, the headers scripts may read."""
    return {
        "Access-Control-Allow-Origin": {
            "description": "The calling origin, or `*` when `cors_origins` is `*`.",
            "schema": {"type": "string"},
        },
        "Access-Control-Allow-Methods": {"description": f"`{methods}`.", "schema": {"type": "string"}},
        "Access-Control-Allow-Headers": {
            "description": "The headers the preflight asked for.",
            "schema": {"type": "string"},
        },
        "Access-Control-Max-Age": {
            "description": "Seconds a browser may reuse the answer (86400).",
            "schema": {"type": "integer", "minimum": 0},
        },
        "Access-Control-Expose-Headers": {
            "description": f"`{exposed}` (sent on every answer to an allowed origin).",
            "schema": {"type": "string"},
        },
    }


def with_server(document: dict[str, Any], root_path: str) -> dict[str, Any]:
    """The document as served under the mount ``root_path``: ``servers: [{"url": <prefix>}]`` after
    ``info`` when mounted, so server URL + path is the route; unchanged (no ``servers``) when not."""
    prefix = mount_prefix(root_path)
    if not prefix:
        return document
    head = {key: value for key, value in document.items() if key in ("openapi", "info")}
    return {**head, "servers": [{"url": prefix}], **document}


@answers_head
class OpenAPIResource:
    """``GET``/``HEAD <route>/openapi.json``: the document, cacheable (it only changes with the package
    and the mount, which a URL names: a cache keyed on the URL keeps each mount's copy apart)."""

    def __init__(self, settings: ExportSettings):
        self._document = load_document(
            settings.route,
            tuple(settings.extra_dimensions),
            cors=settings.cors_origins is not None,
            jobs=settings.job_queue is not None,
        )
        # One encoding per mount prefix: a server has one or two (the prefix comes from its
        # configuration, not the client), and a few are kept in case a proxy forwards more.
        self._encode = functools.lru_cache(maxsize=8)(self._encode_for)

    def body(self, root_path: str) -> bytes:
        """The encoded document for a request under ``root_path`` (``req.root_path``)."""
        return self._encode(root_path.rstrip("/"))

    def _encode_for(self, root_path: str) -> bytes:
        return json.dumps(with_server(self._document, root_path), ensure_ascii=False, indent=1).encode()

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_JSON
        resp.set_header("Cache-Control", "public, max-age=3600")
        resp.data = self.body(req.root_path)
