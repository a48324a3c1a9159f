"""``ExportMiddleware``: the export route to the plugin, everything else to the host app."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..core.settings import ExportSettings
from .app import create_app
from .routes import clicks_route, job_route, jobs_route, link_route, openapi_route, schedule_route, schedules_route

WSGIApp = Callable[[dict, Callable[..., Any]], Iterable[bytes]]


class PluginPaths:
    """Whether a path (below any mount prefix) is one the plugin's app routes: the route, its OpenAPI
    document, its raw clicks, ``<route>/links/<url_id>``, and with ``jobs`` (``job_queue`` set)
    ``<route>/jobs``, ``<route>/jobs/<job_id>``, ``<route>/jobs/<job_id>/file``, ``<route>/schedules`` and
    ``<route>/schedules/<schedule_id>``. Both doors' middleware ask it; with jobs off those paths stay
    the host's, as every path the plugin does not serve.
    """

    def __init__(self, route: str, *, jobs: bool = False):
        self._paths = {route, openapi_route(route), clicks_route(route)}
        self._link_prefix = link_route(route).partition("{")[0]
        self._job_prefix: str | None = None
        self._one_segment_prefixes = [self._link_prefix]
        if jobs:
            self._paths.update((jobs_route(route), schedules_route(route)))
            self._job_prefix = job_route(route).partition("{")[0]
            self._one_segment_prefixes.append(schedule_route(route).partition("{")[0])

    def __call__(self, path: str) -> bool:
        """Only those: with ``route="/"`` the plugin takes ``/``, ``/openapi.json``, ``/clicks`` and
        ``/links/<url_id>``, and every other path (``/links/``, ``/links/a/b``, ``//clicks``) is the host's.
        Likewise ``/jobs/<id>`` and ``/jobs/<id>/file``, not ``/jobsx``, ``/jobs/`` or ``/jobs/<id>/x``;
        ``/schedules/<id>``, not ``/schedulesx``, ``/schedules/`` or ``/schedules/<id>/x``.
        An empty path (a request for the mount itself) is ``/``, as Falcon and Werkzeug read it.
        """
        path = path or "/"
        if path in self._paths:
            return True
        if any(_one_segment_after(path, prefix) for prefix in self._one_segment_prefixes):
            return True
        if self._job_prefix is None or not path.startswith(self._job_prefix):
            return False
        rest = path[len(self._job_prefix) :]
        job_id, _, tail = rest.partition("/")
        return bool(job_id) and ("/" not in rest or tail == "file")


def _one_segment_after(path: str, prefix: str) -> bool:
    rest = path[len(prefix) :] if path.startswith(prefix) else ""
    return bool(rest) and "/" not in rest


class ExportMiddleware:
    """Wrap a host WSGI app (Flask, Falcon, Django...)::

        app.wsgi_app = ExportMiddleware(app.wsgi_app, settings)

    Requests for the export route (and its OpenAPI document) reach the plugin; every other
    request is handed to the host app unchanged (the environ, the ``start_response`` and
    the returned iterable are passed straight through, so streaming and ``close()`` work).
    """

    def __init__(self, application: WSGIApp, settings: ExportSettings, *, plugin_app: WSGIApp | None = None):
        self.application = application
        self.settings = settings
        # The plugin's own Falcon app; built here unless the host supplies one.
        self.plugin_app = plugin_app or create_app(settings)
        self.matches = PluginPaths(settings.route, jobs=settings.job_queue is not None)

    def __call__(self, environ: dict, start_response: Callable[..., Any]) -> Iterable[bytes]:
        if self.matches(environ.get("PATH_INFO", "")):
            return self.plugin_app(environ, start_response)
        return self.application(environ, start_response)
