"""``JobService``: what the job routes and commands call; no web framework.

A job is a deferred GET: submission checks everything the GET would (parameters, credentials,
access, through :class:`~spoo_export_plugin.files.produce.FileProducer`) and fixes the instant
its period and default dates are read at (``as_of``), so a job never fails for a reason the GET
would have refused at once, and its file is the GET's at that instant. The state lives in
MongoDB (:mod:`.records`), so any web process answers for any job.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..core.engine.store import Store, driver_errors
from ..core.exceptions import Conflict, ExportError, Gone, NotFound, RateLimited, Unauthorized
from ..core.service import Exporter
from ..core.settings import ExportSettings
from ..files.produce import FileProducer, target_from_url
from .queue import JobQueue, queue_name
from .records import DONE, FAILED, QUEUED, JobRecords, parse_job_id, to_ms, utcnow
from .runner import JobRunner
from .stored_files import delete_file, iso, read_file, utc
from .tokens import check_token, make_token
from .upkeep import upkeep
from .webhooks import check_webhook_url, deliver

log = logging.getLogger("spoo_export_plugin.jobs")

#: Jobs ``list`` returns at most (newest first).
LIST_LIMIT = 100
IMMEDIATE = "immediate://"


@dataclass(frozen=True)
class JobFile:
    """A finished job's file: the GET's headers, its size, and its bytes read from GridFS on ``open()``."""

    media_type: str
    disposition: str
    headers: tuple[tuple[str, str], ...]
    size: int
    open: Callable[[], Iterator[bytes]]


class JobService:
    """Submit, read, delete jobs and open their files; and, in a worker, run them."""

    def __init__(self, settings: ExportSettings, *, store: Store | None = None, clock: Callable[[], datetime] = utcnow):
        self.settings = settings
        self.store = store or Store(settings)
        self.clock = clock
        self.records = JobRecords(settings, self.store, clock)
        self.stopping = threading.Event()
        queue_uri = settings.job_queue or IMMEDIATE
        self.immediate = queue_uri == IMMEDIATE
        name = queue_name(self.store.database.name, settings.jobs_collection)
        self.queue = None if self.immediate else JobQueue(queue_uri, name, self.run_job)
        self.runner = JobRunner(
            settings,
            self.store,
            self.records,
            retry=None if self.queue is None else self.queue.enqueue,
            on_end=self._announce,
            stopping=self.stopping,
        )
        self._secret: bytes | None = settings.signing_secret.encode() if settings.signing_secret else None

    # -- the routes

    def submit(
        self,
        owner_id: Any,
        url: str,
        webhook_url: str | None,
        *,
        as_of: datetime | None = None,
        schedule_id: Any = None,
        running: Callable[[], AbstractContextManager[Any]] = nullcontext,
    ) -> dict[str, Any]:
        """Check like the GET, queue (or, ``immediate://``, run) the job; its job object (the 202 body).

        ``as_of`` (aware) is the instant the period and default dates are read at, now when None: a
        scheduled report's slot. ``schedule_id`` marks the job as that schedule's run. The planned range
        is kept on the job (``range_start``, ``range_end``) for what announces it (a report e-mail)."""
        if owner_id is None:
            raise Unauthorized("export jobs need credentials: send Authorization: Bearer spoo_<key>", "Authorization")
        target = target_from_url(self.settings.route, url)
        with self._guard():
            now = self.records.now()
            if as_of is not None and (as_of.tzinfo is None or as_of.utcoffset() is None):
                raise ValueError("as_of must be an aware datetime (a naive one names no instant)")
            fixed = now if as_of is None else to_ms(as_of)
            exporter = Exporter(self.settings, self.store, clock=lambda: fixed)
            planned = FileProducer(self.settings, store=self.store, exporter=exporter).plan(target, owner_id)
            if webhook_url is not None:
                check_webhook_url(webhook_url, self.settings)
            doc: dict[str, Any] = {
                "owner_id": owner_id,
                "url": url,
                "webhook_url": webhook_url,
                "status": QUEUED,
                "created_at": now,
                "as_of": fixed,
                "range_start": planned.spec.start,
                "range_end": planned.spec.end,
                "enqueued_at": now,
                "started_at": None,
                "finished_at": None,
                "expires_at": None,
                "attempts": 0,
                "lease_until": None,
                "file_id": None,
                "size": None,
                "error": None,
            }
            if schedule_id is not None:
                doc["schedule_id"] = schedule_id
            job_id = self.records.insert(doc)
            # Insert, then count: of submissions racing for the last slot none can slip past the cap
            # (each counts the others that were inserted first, and at worst both step back).
            if self.records.active_count(owner_id) > self.settings.max_jobs_per_owner:
                self.records.remove(job_id)
                raise RateLimited(
                    f"at most {self.settings.max_jobs_per_owner} export jobs may be queued or running at once; "
                    "wait for one to finish",
                    None,
                    retry_after=self.settings.retry_after_seconds,
                )
            if self.queue is None:
                with ExitStack() as stack:
                    try:  # what running inside this call needs (the web's export slot), once checks passed
                        stack.enter_context(running())
                    except ExportError:
                        self.records.remove(job_id)
                        raise
                    self.run_job(str(job_id))
            else:
                self.queue.enqueue(str(job_id))
            return self.job_object(self.records.find(job_id, any_owner=True) or doc)

    def get(self, owner_id: Any, job_id: str) -> dict[str, Any]:
        with self._guard():
            return self.job_object(self._owned(owner_id, job_id))

    def list(self, owner_id: Any) -> list[dict[str, Any]]:
        if owner_id is None:
            raise Unauthorized("export jobs need credentials: send Authorization: Bearer spoo_<key>", "Authorization")
        with self._guard():
            return [self.job_object(doc) for doc in self.records.newest(owner_id, LIST_LIMIT)]

    def delete(self, owner_id: Any, job_id: str) -> None:
        """Cancel a queued or running job, or delete a finished one; its file goes too."""
        with self._guard():
            doc = self._owned(owner_id, job_id)
            if self.records.cancel(doc["_id"]):  # running: its runner stops and removes it
                return
            self.records.remove(doc["_id"])
            for key in ("file_id", "writing_file_id"):
                delete_file(self.records.bucket, doc.get(key))

    def open_file(self, job_id: str, *, owner_id: Any = None, token: str | None = None) -> JobFile:
        """The finished file, for its owner or a valid ``file_url`` token."""
        with self._guard():
            now = self.records.now()
            oid = parse_job_id(job_id)
            if token is not None:
                try:
                    check_token(self._signing_secret(), token, job_id, now)
                except Gone:
                    if oid is not None:
                        self._expire(self.records.find(oid, any_owner=True), now)
                    raise
                doc = self.records.find(oid, any_owner=True) if oid is not None else None
                if doc is None:
                    raise NotFound("no such export job (it was deleted)", None)
            elif owner_id is not None:
                doc = self._owned(owner_id, job_id)
            else:
                raise Unauthorized(
                    "the file needs the owner's credentials or the job's file_url token", "Authorization"
                )
            if doc["status"] != DONE:
                detail = f": {doc['error']}" if doc["status"] == FAILED else "; try again when its status is done"
                raise Conflict(f"the export job is {doc['status']}, it has no file{detail}", None)
            if self._expire(doc, now) or doc.get("file_id") is None:
                raise Gone("the job's file has expired and was deleted; submit the export again", None)
            bucket, file_id, size = self.records.bucket, doc["file_id"], int(doc["size"])
            return JobFile(
                media_type=doc["media_type"],
                disposition=doc["disposition"],
                headers=tuple((str(k), str(v)) for k, v in doc.get("headers") or ()),
                size=size,
                open=lambda: read_file(bucket, file_id, size),
            )

    def job_object(self, doc: dict[str, Any]) -> dict[str, Any]:
        """What the API shows of a job (times in ISO 8601 UTC, ``file_url`` while the file is kept)."""
        done = doc.get("status") == DONE
        expires_at = utc(doc.get("expires_at"))
        file_url = None
        if done and doc.get("file_id") is not None and expires_at is not None and expires_at > self.records.now():
            token = make_token(self._signing_secret(), str(doc["_id"]), expires_at)
            file_url = f"{self.settings.route.rstrip('/')}/jobs/{doc['_id']}/file?token={token}"
        return {
            "id": str(doc["_id"]),
            "status": doc.get("status"),
            "url": doc.get("url"),
            "created_at": iso(doc.get("created_at")),
            "started_at": iso(doc.get("started_at")),
            "finished_at": iso(doc.get("finished_at")),
            "size": doc.get("size") if done else None,
            "file_url": file_url,
            "expires_at": iso(expires_at) if done else None,
            "error": doc.get("error") if doc.get("status") == FAILED else None,
        }

    # -- workers

    def run_job(self, job_id: str) -> None:
        """One attempt at a job (the queue's task)."""
        self.runner.run(job_id)

    def upkeep(self) -> None:
        """Reap jobs whose worker died, re-enqueue lost ones, delete expired files."""
        retry = self.queue.enqueue if self.queue is not None else (lambda job_id, delay: self.run_job(job_id))
        upkeep(self.records, retry, self._announce)

    # -- inside

    def _guard(self) -> Any:
        return driver_errors(self.settings.retry_after_seconds)

    def _owned(self, owner_id: Any, job_id: str) -> dict[str, Any]:
        if owner_id is None:
            raise Unauthorized("export jobs need credentials: send Authorization: Bearer spoo_<key>", "Authorization")
        oid = parse_job_id(job_id)
        doc = self.records.find(oid, owner_id) if oid is not None else None
        if doc is None:
            raise NotFound("no such export job", None)
        return doc

    def _expire(self, doc: dict[str, Any] | None, now: datetime) -> bool:
        """Delete the file of a done job past its expiry; whether it was past."""
        expires_at = utc(doc.get("expires_at")) if doc else None
        if doc is None or expires_at is None or now < expires_at:
            return False
        if doc.get("file_id") is not None:
            delete_file(self.records.bucket, doc["file_id"])
            self.records.forget_file(doc["_id"], doc["file_id"])
        return True

    def _signing_secret(self) -> bytes:
        if self._secret is None:
            self._secret = self.records.signing_secret()
        return self._secret

    def _announce(self, doc: dict[str, Any]) -> None:
        """The webhook of a job that ended (sent by the one process whose update ended it)."""
        if not doc.get("webhook_url"):
            return
        kind = "export.completed" if doc.get("status") == DONE else "export.failed"
        event = {"type": kind, "timestamp": iso(to_ms(self.clock())), "data": self.job_object(doc)}
        try:
            deliver(doc["webhook_url"], event, self.settings)
        except Exception:  # the job's outcome stands whatever the receiver does
            log.exception("export job %s: the webhook to its receiver failed", doc.get("_id"))
