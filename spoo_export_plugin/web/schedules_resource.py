"""The Falcon resource of scheduled reports (SPEC "Scheduled reports"): create, list, look at, pause, delete.

Routes (``web/routes.py``), added by ``assemble`` with the job routes, only when ``job_queue`` is set
(each slot of a schedule runs as an export job):

- ``POST <route>/schedules`` (body ``{"url", "cron", "timezone", "webhook_url", "email"}``): 201,
  ``Location`` and the schedule;
- ``GET <route>/schedules``: ``{"schedules": [...]}``; ``GET <route>/schedules/<id>``: the schedule;
- ``PATCH <route>/schedules/<id>`` (``{"paused": true|false}``): 200 and the schedule;
- ``DELETE <route>/schedules/<id>``: 204.

``HEAD`` answers like ``GET`` on each (``web/head.py``). Every rule (the body's fields, the GET the
url names, access, the cap) is :class:`~spoo_export_plugin.schedules.owners.OwnerSchedules`'s; this
module only turns HTTP into its calls and its answers into HTTP.

Rate limits, as on the job routes and for the same reasons: creating a schedule counts against the
caller's export budget like the GET it plans (``export_tier``: it reads the database to check the
url's access as the GET would), and the reads, the pause and the delete are not counted
(``poll_tier``) unless their credential is refused, which counts against the client's IP.
"""

from __future__ import annotations

import falcon

from ..access.auth import Authenticator
from ..access.ratelimit import Throttle
from ..core.engine.store import Store
from ..core.settings import ExportSettings
from ..schedules.owners import OwnerSchedules
from .head import answers_head
from .json_body import parse_object, request_body
from .owner_routes import OwnerRoutes, export_tier, json_answer, poll_tier
from .routes import below_mount, mount_prefix, schedule_path

#: A schedule's body, as the error messages show it.
EXAMPLE_BODY = (
    '{"url": "<route>?format=csv&period=last_week", "cron": "0 8 * * 1", "timezone": "Europe/Berlin", '
    '"email": ["team@example.com"]}'
)
#: A pause's body, as the error messages show it.
EXAMPLE_PATCH = '{"paused": true}'


@answers_head
class SchedulesResource(OwnerRoutes):
    """Scheduled reports over HTTP. Built by ``assemble`` with the export resource's store, throttle and
    authenticator, so creating a schedule and a ``GET`` share one rate-limit budget."""

    json_body_methods = ("POST", "PATCH")

    def __init__(
        self,
        settings: ExportSettings,
        *,
        store: Store | None = None,
        throttle: Throttle | None = None,
        authenticator: Authenticator | None = None,
        schedules: OwnerSchedules | None = None,
    ):
        super().__init__(settings, store=store, throttle=throttle, authenticator=authenticator)
        self.schedules = schedules or OwnerSchedules(settings, store=self.store)

    @export_tier
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Create: the body is checked field by field, and the GET its url names as a slot will run it."""
        owner_id = self.schedules.owner(req.context.owner_id)
        body = parse_object(request_body(req), req.content_type, example=EXAMPLE_BODY)
        prefix = mount_prefix(req.root_path)
        if isinstance(body.get("url"), str):  # named with the mount prefix or without, as for jobs
            body["url"] = below_mount(self.settings.route, body["url"], prefix)
        schedule = self.schedules.create(owner_id, body)
        resp.status = falcon.HTTP_201
        resp.set_header("Location", prefix + schedule_path(self.settings.route, schedule["id"]))
        json_answer(resp, schedule)

    @poll_tier
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """The caller's schedules, newest first."""
        json_answer(resp, {"schedules": self.schedules.list(req.context.owner_id)})

    @poll_tier
    def on_get_schedule(self, req: falcon.Request, resp: falcon.Response, schedule_id: str) -> None:
        """One of the caller's schedules (404 for anyone else's, or none)."""
        json_answer(resp, self.schedules.get(req.context.owner_id, schedule_id))

    @poll_tier
    def on_patch_schedule(self, req: falcon.Request, resp: falcon.Response, schedule_id: str) -> None:
        """Pause or resume: ``{"paused": true|false}``; 200 and the schedule."""
        owner_id = self.schedules.owner(req.context.owner_id)
        body = parse_object(request_body(req), req.content_type, example=EXAMPLE_PATCH)
        json_answer(resp, self.schedules.set_paused(owner_id, schedule_id, body))

    @poll_tier
    def on_delete_schedule(self, req: falcon.Request, resp: falcon.Response, schedule_id: str) -> None:
        """Delete the schedule (the files of its past runs stay until they expire): 204."""
        self.schedules.delete(req.context.owner_id, schedule_id)
        resp.status = falcon.HTTP_204
