"""The Falcon resource of export jobs (SPEC "Export jobs"): submit, list, look at, cancel, download.

Routes (``web/routes.py``), added by ``assemble`` only when ``job_queue`` is set:

- ``POST <route>/jobs`` (body ``{"url": ..., "webhook_url": ...}``): 202, ``Location`` and the job;
- ``GET <route>/jobs``: ``{"jobs": [...]}``; ``GET|DELETE <route>/jobs/<id>``: the job; 204;
- ``GET <route>/jobs/<id>/file``: the file, with the owner's credentials or the job's ``?token=``.

``HEAD`` answers like ``GET`` on each (``web/head.py``). Every rule about jobs (validation, access,
the cap, tokens, expiry) is :class:`~spoo_export_plugin.jobs.service.JobService`'s; this module
only turns HTTP into its calls and its answers into HTTP.

Rate limits, and why. A submission counts against the caller's export budget exactly like the
``GET`` it defers (the same hooks, the same bucket: ``settings.route``). So does a download: it is
the heavy part a client repeats, and a ``file_url`` handed around is counted against the client's
IP (anonymous tier) as an anonymous ``GET`` is. Status polls (``GET`` of a job or the list) and
``DELETE`` are not counted: a client waiting for a job polls every few seconds, and charging that
to the 30/minute export budget would take exports away from the very caller waiting for one; each
poll is one indexed read by id or owner. A poll whose credential is refused is counted against the
client's IP, as on every route, so the job routes are no free oracle for guessing keys.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import falcon

from ..access.auth import Authenticator
from ..access.ratelimit import Throttle
from ..core.engine.store import Store
from ..core.exceptions import BadRequest, Unauthorized
from ..core.settings import ExportSettings
from ..files.produce import parse_query
from ..jobs.service import JobService
from . import hooks
from .head import answers_head, is_head
from .json_body import parse_fields, request_body
from .owner_routes import OwnerRoutes, export_tier, json_answer, poll_tier
from .routes import below_mount, job_path, mount_prefix

#: A submission's body, as the error messages show it.
EXAMPLE_BODY = '{"url": "<route>?format=csv&period=last_30_days"}'
#: The fields of a submission: name -> required.
SUBMISSION_FIELDS = {"url": True, "webhook_url": False}

NEEDS_CREDENTIALS = "export jobs belong to an owner: send Authorization: Bearer spoo_<key>"
NEEDS_CREDENTIALS_OR_TOKEN = (
    "send the owner's credentials (Authorization: Bearer spoo_<key>) or the job's file_url with its token"
)


@answers_head
class JobsResource(OwnerRoutes):
    """Export jobs over HTTP. Build it with the export resource's store, throttle and authenticator
    (``assemble`` does), so a submission and a ``GET`` share one rate-limit budget."""

    json_body_methods = ("POST",)

    def __init__(
        self,
        settings: ExportSettings,
        *,
        store: Store | None = None,
        throttle: Throttle | None = None,
        authenticator: Authenticator | None = None,
        service: JobService | None = None,
    ):
        super().__init__(settings, store=store, throttle=throttle, authenticator=authenticator)
        self.service = service or JobService(settings, store=self.store)
        self.runs_inside_post = str(settings.job_queue or "").startswith("immediate:")

    @export_tier
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Submit: the GET named by ``url`` is checked now (its own 400/401/403/404), run later."""
        owner_id = _owner(req, NEEDS_CREDENTIALS)
        fields = parse_fields(request_body(req), req.content_type, SUBMISSION_FIELDS, example=EXAMPLE_BODY)
        prefix = mount_prefix(req.root_path)
        url = self._below_mount(str(fields["url"]), prefix)
        job = self.service.submit(owner_id, url, fields["webhook_url"], running=lambda: self._export_slot(req))
        resp.status = falcon.HTTP_202
        resp.set_header("Location", prefix + job_path(self.settings.route, str(job["id"])))
        json_answer(resp, self._served(job, prefix))

    @poll_tier
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """The caller's jobs, newest first (at most 100)."""
        jobs = self.service.list(_owner(req, NEEDS_CREDENTIALS))
        prefix = mount_prefix(req.root_path)
        json_answer(resp, {"jobs": [self._served(job, prefix) for job in jobs]})

    @poll_tier
    def on_get_job(self, req: falcon.Request, resp: falcon.Response, job_id: str) -> None:
        """One of the caller's jobs (404 for anyone else's, or none)."""
        job = self.service.get(_owner(req, NEEDS_CREDENTIALS), job_id)
        json_answer(resp, self._served(job, mount_prefix(req.root_path)))

    @poll_tier
    def on_delete_job(self, req: falcon.Request, resp: falcon.Response, job_id: str) -> None:
        """Cancel a queued or running job, or delete a finished one and its file: 204."""
        self.service.delete(_owner(req, NEEDS_CREDENTIALS), job_id)
        resp.status = falcon.HTTP_204

    @export_tier
    def on_get_file(self, req: falcon.Request, resp: falcon.Response, job_id: str) -> None:
        """The file, streamed from GridFS, with the headers of the GET it defers (and its length)."""
        token = _token(req)
        owner_id = req.context.owner_id
        if owner_id is None and token is None:
            raise Unauthorized(NEEDS_CREDENTIALS_OR_TOKEN, "Authorization")
        stored = self.service.open_file(job_id, owner_id=owner_id, token=token)
        hooks.file_headers(resp, stored)
        resp.content_length = stored.size
        resp.stream = iter(()) if is_head(req) else stored.open()

    def _served(self, job: dict[str, Any], prefix: str) -> dict[str, Any]:
        """The job as this request sees it: ``file_url`` under the mount prefix, as ``Location`` is."""
        file_url = job.get("file_url")
        if prefix and isinstance(file_url, str) and file_url.startswith("/"):
            return {**job, "file_url": prefix + file_url}
        return job

    def _below_mount(self, url: str, prefix: str) -> str:
        return below_mount(self.settings.route, url, prefix)

    @contextmanager
    def _export_slot(self, req: falcon.Request) -> Iterator[None]:
        """With ``immediate://`` the export runs inside the POST: once the submission has passed every
        check (a bad one gets its own 4xx, never a busy 503), it takes one of the worker's export slots
        for that time, as a ``GET`` does (503 + Retry-After when all are taken)."""
        slots = req.context.get("export_slots")
        slot = slots.acquire() if self.runs_inside_post and slots is not None else None
        try:
            yield
        finally:
            if slot is not None:
                slot.release()


def _owner(req: falcon.Request, message: str) -> Any:
    """The caller's owner id; 401 for an anonymous caller (anonymous callers have no jobs)."""
    owner_id = req.context.owner_id
    if owner_id is None:
        raise Unauthorized(message, "Authorization")
    return owner_id


def _token(req: falcon.Request) -> str | None:
    """The ``token`` query parameter; absent or empty is None (then credentials are needed)."""
    value = parse_query(req.query_string).get("token")
    if isinstance(value, list):
        raise BadRequest("token is given more than once; send the file_url as it was given", "token")
    return value or None
