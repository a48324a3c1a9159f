"""Where each of the plugin's routes lives under ``settings.route``: the one join every door uses.

``route`` may be ``/``, ``/x`` or ``/x/``; the routes under it never start with ``//``
(``/`` gives ``/links/{url_id}``, ``/clicks``, ``/openapi.json``, ``/jobs``, ``/schedules``...).
The app's router, the WSGI middleware's path matching and the OpenAPI document's paths all read
these helpers, so they cannot disagree.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit


def under(route: str, tail: str) -> str:
    """``tail`` (starting with ``/``) under ``route``, with exactly one ``/`` between them."""
    return route.rstrip("/") + tail


def link_route(route: str) -> str:
    """The per-link route's template: ``<route>/links/{url_id}``."""
    return under(route, "/links/{url_id}")


def clicks_route(route: str) -> str:
    """The raw-click route: ``<route>/clicks``."""
    return under(route, "/clicks")


def jobs_route(route: str) -> str:
    """Export jobs (``POST`` submits one, ``GET`` lists the caller's): ``<route>/jobs``."""
    return under(route, "/jobs")


def job_route(route: str) -> str:
    """One job (``GET`` its state, ``DELETE`` cancels or deletes it): ``<route>/jobs/{job_id}``."""
    return under(route, "/jobs/{job_id}")


def job_file_route(route: str) -> str:
    """A finished job's file: ``<route>/jobs/{job_id}/file``."""
    return under(route, "/jobs/{job_id}/file")


def job_path(route: str, job_id: str, *, file: bool = False) -> str:
    """One job's address (its file's with ``file``), the id percent-encoded: a ``Location`` header's path."""
    template = job_file_route(route) if file else job_route(route)
    return template.replace("{job_id}", quote(job_id, safe=""))


def schedules_route(route: str) -> str:
    """Scheduled reports (``POST`` creates one, ``GET`` lists the caller's): ``<route>/schedules``."""
    return under(route, "/schedules")


def schedule_route(route: str) -> str:
    """One schedule (``GET``, ``PATCH`` pauses or resumes, ``DELETE``): ``<route>/schedules/{schedule_id}``."""
    return under(route, "/schedules/{schedule_id}")


def schedule_path(route: str, schedule_id: str) -> str:
    """One schedule's address, the id percent-encoded: a ``Location`` header's path."""
    return schedule_route(route).replace("{schedule_id}", quote(schedule_id, safe=""))


def openapi_route(route: str) -> str:
    """Where the OpenAPI document is served: ``<route>/openapi.json``."""
    return under(route, "/openapi.json")


def mount_prefix(root_path: str) -> str:
    """The OpenAPI ``servers`` URL of a mount (WSGI ``SCRIPT_NAME``, ASGI ``root_path``); ``""`` when none.

    Percent-encoded (a ``{`` would start a server variable) and without a trailing ``/``, so a
    client joining it with a path (``/stats`` + ``/clicks``) reaches the route.
    """
    return quote(root_path.rstrip("/"), safe="/:@!$&'()*+,;=")


def below_mount(route: str, url: str, prefix: str) -> str:
    """A body's ``url`` as the plugin routes it: under a mount (``/stats``) a client may name the GET as it
    sends it (``/stats/api/v1/export?...``): when what follows the prefix is under the route, the prefix goes."""
    if not prefix or not url.startswith(prefix + "/"):
        return url
    rest = url[len(prefix) :]
    base = route.rstrip("/")
    path = urlsplit(rest).path
    return rest if path == base or path.startswith(base + "/") else url
