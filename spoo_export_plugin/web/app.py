"""``create_app``: a Falcon app serving the export route."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import falcon

from ..access.jwt_auth import build_authenticator
from ..access.ratelimit import Throttle
from ..core.settings import ExportSettings
from . import errors
from .cors import cors_middleware
from .guard import ExportGuard
from .openapi import OpenAPIResource
from .resource import ExportResource
from .routes import (
    clicks_route,
    job_file_route,
    job_route,
    jobs_route,
    link_route,
    openapi_route,
    schedule_route,
    schedules_route,
)

__all__ = ["check_composable", "clicks_route", "create_app", "link_route", "openapi_route"]


def check_composable(settings: ExportSettings) -> None:
    """Build what the app builds from settings, and drop it: a bad key or storage fails here.

    ``spoo-export serve`` calls this before gunicorn forks, so a configuration error is one
    line and exit code 2, not a worker crash loop. ``create_app`` needs no call: it builds the
    same pieces and fails the same way.
    """
    build_authenticator(settings)
    Throttle(settings)


def create_app(settings: ExportSettings) -> falcon.App:
    """A WSGI Falcon app with the export resource at ``settings.route`` (and CORS when configured)."""
    middleware: list[Any] = [*cors_middleware(settings), ExportGuard(settings)]
    return assemble(falcon.App(middleware=middleware), settings)


FalconApp = TypeVar("FalconApp", bound=falcon.App)


def assemble(app: FalconApp, settings: ExportSettings, *, adapt: Callable[[Any], Any] = lambda r: r) -> FalconApp:
    """What both doors configure alike: request options, error handlers, and the routes.

    ``adapt`` turns each resource into what the app calls (the ASGI door: responders run in threads).
    """
    app.req_options.keep_blank_qs_values = True
    app.req_options.auto_parse_qs_csv = False
    app.resp_options.secure_cookies_by_default = True
    errors.install(app)
    export_resource = ExportResource(settings)
    exports = adapt(export_resource)
    app.add_route(settings.route, exports)
    app.add_route(link_route(settings.route), exports, suffix="link")
    app.add_route(clicks_route(settings.route), exports, suffix="clicks")
    app.add_route(openapi_route(settings.route), adapt(OpenAPIResource(settings)))
    if settings.job_queue is not None:  # else the job routes are 404, as any path the plugin does not serve
        add_job_routes(app, settings, export_resource, adapt)
    return app


def add_job_routes(
    app: falcon.App, settings: ExportSettings, exports: ExportResource, adapt: Callable[[Any], Any]
) -> None:
    """``<route>/jobs``, ``<route>/jobs/{job_id}`` and its ``/file``, and ``<route>/schedules`` and
    ``<route>/schedules/{schedule_id}``, on the export resource's store, rate-limit store and
    authenticator: a submission, a schedule's creation and a GET share one budget."""
    from .jobs_resource import JobsResource  # only with jobs on: the jobs extra (huey) may be absent

    jobs = adapt(
        JobsResource(settings, store=exports.store, throttle=exports.throttle, authenticator=exports.authenticator)
    )
    app.add_route(jobs_route(settings.route), jobs)
    app.add_route(job_route(settings.route), jobs, suffix="job")
    app.add_route(job_file_route(settings.route), jobs, suffix="file")
    # Scheduled reports: each slot runs as an export job, so they exist exactly when jobs do.
    from .schedules_resource import SchedulesResource

    schedules = adapt(
        SchedulesResource(settings, store=exports.store, throttle=exports.throttle, authenticator=exports.authenticator)
    )
    app.add_route(schedules_route(settings.route), schedules)
    app.add_route(schedule_route(settings.route), schedules, suffix="schedule")
