"""The ``export_jobs`` collection: a job's state is its document, and every change of state is one
conditional update, so web processes, workers and reapers on many machines agree without locks.

A job document::

    _id            ObjectId (the job id, 24 hex digits in URLs)
    owner_id       the owner, as the authenticator returned it
    url            path and query of the deferred GET, as submitted
    webhook_url    where the end of the job is announced, or None
    status         queued | running | done | failed
    created_at     submission; also ``as_of``, the instant its period and default dates are read at
    as_of
    enqueued_at    when a task was last put on the queue for it (the reaper re-enqueues a lost one)
    started_at, finished_at, expires_at (finished_at + job_ttl_seconds, done jobs)
    attempts       runs started (at most :data:`MAX_ATTEMPTS`)
    lease_until    the running attempt's claim, renewed by its heartbeat
    writing_file_id  the file the running (or last interrupted) attempt writes: its chunks are removed
                   before another attempt starts, so no half file stays behind
    file_id, size, media_type, disposition, headers   the finished file
    cancelled      deleted by its owner while running: hidden, and removed once its runner stops
    error          why it failed, in words a person understands

Times are stored as UTC truncated to milliseconds (MongoDB's precision), so the ``as_of`` a job
runs at is exactly the one it was submitted with.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from ..core.engine.store import Store
from ..core.settings import ExportSettings
from .stored_files import Bucket

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
#: Runs of one job at most (the first and two retries): a job whose worker dies three times fails.
MAX_ATTEMPTS = 3
#: A queued job with no run for this long lost its task (a process died between the insert and the
#: enqueue, or a worker popped it and died before claiming it): the reaper enqueues it again.
STALE_QUEUED = timedelta(minutes=10)
#: The document holding the generated ``signing_secret`` (one per deployment), in the jobs collection.
SECRET_ID = "signing_secret"
_VISIBLE = {"cancelled": {"$ne": True}}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def to_ms(value: datetime) -> datetime:
    """``value`` in UTC, truncated to the millisecond MongoDB keeps."""
    value = value.astimezone(timezone.utc)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def parse_job_id(text: Any) -> ObjectId | None:
    """A job's (or schedule's) id from a URL (24 hex digits), else None: an unknown one, 404 not 400."""
    if isinstance(text, ObjectId):
        return text
    if isinstance(text, str) and len(text) == 24 and ObjectId.is_valid(text):
        return ObjectId(text)
    return None


class JobRecords:
    """Reads and conditional writes of job documents, and the files bucket."""

    def __init__(self, settings: ExportSettings, store: Store, clock: Callable[[], datetime] = utcnow):
        self.settings = settings
        self.store = store
        self.clock = clock
        self._indexed = False

    @property
    def jobs(self) -> Any:
        self._ensure_indexes()
        return self.store.database[self.settings.jobs_collection]

    @property
    def bucket(self) -> Bucket:
        self._ensure_indexes()
        return Bucket(self.store.database, self.settings.files_bucket)

    def now(self) -> datetime:
        return to_ms(self.clock())

    def _ensure_indexes(self) -> None:
        """Listing (owner, newest first), the reaper (status, lease) and the expiry sweep; once per process."""
        if self._indexed:
            return
        database = self.store.database
        jobs = database[self.settings.jobs_collection]
        jobs.create_index([("owner_id", 1), ("created_at", -1)])
        jobs.create_index([("status", 1), ("lease_until", 1)])
        jobs.create_index([("status", 1), ("expires_at", 1)])
        Bucket(database, self.settings.files_bucket).ensure_indexes()
        self._indexed = True

    # -- reading

    def find(self, job_id: ObjectId, owner_id: Any = None, *, any_owner: bool = False) -> dict[str, Any] | None:
        """The visible job ``job_id`` of ``owner_id`` (of anyone with ``any_owner``)."""
        query: dict[str, Any] = {"_id": job_id, **_VISIBLE}
        if not any_owner:
            query["owner_id"] = owner_id
        return self.jobs.find_one(query)

    def newest(self, owner_id: Any, limit: int = 100) -> list[dict[str, Any]]:
        cursor = self.jobs.find({"owner_id": owner_id, **_VISIBLE}).sort([("created_at", -1), ("_id", -1)])
        return list(cursor.limit(limit))

    def active_count(self, owner_id: Any) -> int:
        return int(self.jobs.count_documents({"owner_id": owner_id, "status": {"$in": [QUEUED, RUNNING]}, **_VISIBLE}))

    # -- writing

    def insert(self, doc: dict[str, Any]) -> ObjectId:
        return self.jobs.insert_one(doc).inserted_id

    def remove(self, job_id: ObjectId) -> None:
        self.jobs.delete_one({"_id": job_id})

    def claim(self, job_id: ObjectId, file_id: ObjectId) -> dict[str, Any] | None:
        """queued -> running for this worker (attempts + 1, a lease, a new file id); the document as it
        was before, or None when the job is not queued (run elsewhere, done, deleted)."""
        now = self.now()
        return self.jobs.find_one_and_update(
            {"_id": job_id, "status": QUEUED, "attempts": {"$lt": MAX_ATTEMPTS}, **_VISIBLE},
            {
                "$set": {
                    "status": RUNNING,
                    "started_at": now,
                    "lease_until": self.lease_from(now),
                    "writing_file_id": file_id,
                },
                "$inc": {"attempts": 1},
            },
            return_document=ReturnDocument.BEFORE,
        )

    def lease_from(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.settings.job_lease_seconds)

    def _running(self, job_id: ObjectId, attempt: int) -> dict[str, Any]:
        """The filter that holds while ``attempt`` is the job's running attempt (not reaped, not cancelled)."""
        return {"_id": job_id, "status": RUNNING, "attempts": attempt, **_VISIBLE}

    def heartbeat(self, job_id: ObjectId, attempt: int) -> bool:
        """Renew the lease; False when the attempt lost the job (reaped, cancelled, deleted)."""
        result = self.jobs.update_one(
            self._running(job_id, attempt), {"$set": {"lease_until": self.lease_from(self.now())}}
        )
        return bool(result.matched_count)

    def finish(self, job_id: ObjectId, attempt: int, file: dict[str, Any]) -> dict[str, Any] | None:
        """running -> done with the file, only for the attempt that holds the job: the document, or None."""
        now = self.now()
        return self.jobs.find_one_and_update(
            self._running(job_id, attempt),
            {
                "$set": {
                    **file,
                    "status": DONE,
                    "finished_at": now,
                    # whole seconds: the file_url token's expiry is exactly this instant
                    "expires_at": (now + timedelta(seconds=self.settings.job_ttl_seconds)).replace(microsecond=0),
                    "lease_until": None,
                    "error": None,
                },
                "$unset": {"writing_file_id": ""},
            },
            return_document=ReturnDocument.AFTER,
        )

    def fail(self, job_id: ObjectId, attempt: int, error: str, *, lease_expired: bool = False) -> dict[str, Any] | None:
        """running -> failed (the attempt's own, or with ``lease_expired`` the reaper's): the document, or None."""
        now = self.now()
        query = self._running(job_id, attempt)
        if lease_expired:
            query["lease_until"] = {"$lt": now}
        return self.jobs.find_one_and_update(
            query,
            {"$set": {"status": FAILED, "finished_at": now, "lease_until": None, "error": error}},
            return_document=ReturnDocument.AFTER,
        )

    def release(self, job_id: ObjectId, attempt: int, *, lease_expired: bool = False, refund: bool = False) -> bool:
        """running -> queued, for another attempt. ``refund``: the attempt does not count (a worker that
        was asked to stop). The writing file id stays recorded until the next claim removes its chunks."""
        now = self.now()
        query = self._running(job_id, attempt)
        if lease_expired:
            query["lease_until"] = {"$lt": now}
        change: dict[str, Any] = {"$set": {"status": QUEUED, "lease_until": None, "enqueued_at": now}}
        if refund:
            change["$inc"] = {"attempts": -1}
        return bool(self.jobs.update_one(query, change).matched_count)

    def cancel(self, job_id: ObjectId) -> bool:
        """Mark a running job cancelled (its runner stops at its next heartbeat and removes it)."""
        return bool(
            self.jobs.update_one({"_id": job_id, "status": RUNNING}, {"$set": {"cancelled": True}}).matched_count
        )

    def remove_cancelled(self, job_id: ObjectId) -> None:
        self.jobs.delete_one({"_id": job_id, "cancelled": True})

    def mark_enqueued(self, job_id: ObjectId, before: datetime) -> bool:
        """Take over re-enqueuing a queued job last enqueued before ``before`` (one reaper wins)."""
        result = self.jobs.update_one(
            {"_id": job_id, "status": QUEUED, "enqueued_at": {"$lt": before}, **_VISIBLE},
            {"$set": {"enqueued_at": self.now()}},
        )
        return bool(result.matched_count)

    def forget_file(self, job_id: ObjectId, file_id: Any) -> None:
        """The expired file of a done job was deleted: the job stays listed, without a file."""
        self.jobs.update_one({"_id": job_id, "file_id": file_id}, {"$set": {"file_id": None, "expired": True}})

    def signing_secret(self) -> bytes:
        """The deployment's generated token key: inserted once if absent, then read by every process."""
        doc = self.jobs.find_one({"_id": SECRET_ID})
        if doc is None:
            try:
                self.jobs.insert_one({"_id": SECRET_ID, "secret": secrets.token_urlsafe(32)})
            except DuplicateKeyError:  # another process inserted it first: theirs is the one
                pass
            doc = self.jobs.find_one({"_id": SECRET_ID})
        return str(doc["secret"]).encode()
