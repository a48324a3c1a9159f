"""Where each of the plugin's routes lives under ``settings.route``: the one join every door uses.

``route`` may be ``/``, ``/x`` or ``/x/``; the routes under it never start with ``//``
(``/`` gives ``/links/{url_id}``, ``/clicks``, ``/openapi.json``). The app's router, the
WSGI middleware's path matching and the OpenAPI document's paths all read these helpers,
so they cannot disagree.
"""

from __future__ import annotations

from urllib.parse import quote


def under(route: str, tail: str) -> str:
    """``tail`` (starting with ``/``) under ``route``, with exactly one ``/`` between them."""
    return route.rstrip("/") + tail


def link_route(route: str) -> str:
    """The per-link route's template: ``<route>/links/{url_id}``."""
    return under(route, "/links/{url_id}")


def clicks_route(route: str) -> str:
    """The raw-click route: ``<route>/clicks``."""
    return under(route, "/clicks")


def openapi_route(route: str) -> str:
    """Where the OpenAPI document is served: ``<route>/openapi.json``."""
    return under(route, "/openapi.json")


def mount_prefix(root_path: str) -> str:
    """The OpenAPI ``servers`` URL of a mount (WSGI ``SCRIPT_NAME``, ASGI ``root_path``); ``""`` when none.

    Percent-encoded (a ``{`` would start a server variable) and without a trailing ``/``, so a
    client joining it with a path (``/stats`` + ``/clicks``) reaches the route.
    """
    return quote(root_path.rstrip("/"), safe="/:@!$&'()*+,;=")
