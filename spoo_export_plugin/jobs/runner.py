"""Running one export job: claim it, write its file into GridFS as it is produced, finish it once.

Every step is a conditional update of the job document (:mod:`.records`), so the outcome is the
same whichever process runs what, and whatever dies when:

- **claim**: queued -> running, attempts + 1, a lease, a fresh file id recorded as
  ``writing_file_id``; the chunks of an earlier attempt's id are removed first (a killed attempt
  leaves no half file behind).
- **write**: chunks go to GridFS as the export yields them; a thread renews the attempt's lease
  every third of it (heartbeat), however long the query takes before a chunk comes. A heartbeat
  that matches nothing means the job was cancelled (deleted by its owner) or reaped (this attempt
  stalled past its lease): the attempt stops at its next chunk and deletes its own file.
- **finish**: running (this attempt) -> done in one update. An attempt that loses it deletes its
  own file; only the winner announces the job, so a file is delivered once.
- **faults**: the database unreachable mid-job (``Unavailable`` from the store, a ``PyMongoError``
  from the file writes): the partial file is removed when it can be, and the job goes back to the
  queue for a later attempt (:data:`RETRY_DELAYS`), or fails after :data:`~.records.MAX_ATTEMPTS`.
  A query past its time budget (``max_time_ms`` of the worker's settings) fails the job at once:
  it would run out of time again.
  A refusal (the URL was deleted since the submission: 404) fails the job with the GET's message.
  A worker asked to stop (SIGTERM) puts its job back without counting the attempt.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from bson import ObjectId
from pymongo.errors import PyMongoError

from ..core.engine.store import Store
from ..core.exceptions import TIMEOUT_MESSAGE, ExportError, Unavailable
from ..core.service import Exporter
from ..core.settings import ExportSettings
from ..files.produce import FileProducer, ProducedFile, target_from_url
from .records import MAX_ATTEMPTS, JobRecords, parse_job_id
from .stored_files import ChunkWriter, delete_file, utc

log = logging.getLogger("spoo_export_plugin.jobs")

#: Seconds before the retry of an attempt the database cut short (after the first, the second attempt).
RETRY_DELAYS = (10, 60)
INTERRUPTED_ERROR = (
    "the export was interrupted {attempts} times (a worker stopped while writing it); "
    "try a shorter date range or ask the operator"
)
UNEXPECTED_ERROR = "the export failed because of an error in the server; the operator's log has the details"


class _Lost(Exception):
    """The running attempt no longer holds its job (cancelled, deleted or reaped)."""


class _Stopping(Exception):
    """The worker process is shutting down: the job goes back to the queue."""


def filename_of(disposition: str) -> str:
    """The ASCII ``filename="..."`` of a Content-Disposition, for the GridFS files document."""
    marker = 'filename="'
    start = disposition.find(marker)
    if start < 0:
        return "export"
    start += len(marker)
    return disposition[start : disposition.find('"', start)] or "export"


class _Heartbeat:
    """Renews an attempt's lease from a thread of its own every ``seconds``, however long the export
    goes without yielding a chunk (a statistics job's aggregation, a slow cursor); ``lost`` is set
    once a renewal matches nothing (the job was cancelled, deleted or reaped)."""

    def __init__(self, records: JobRecords, oid: ObjectId, attempt: int, seconds: float):
        self.records, self.oid, self.attempt, self.seconds = records, oid, attempt, seconds
        self.lost = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"spoo-export-lease-{oid}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._done.wait(self.seconds):
            try:
                if not self.records.heartbeat(self.oid, self.attempt):
                    self.lost.set()
                    return
            except PyMongoError as exc:  # the lease may run out: then the reaper decides
                log.warning("export job %s: a lease renewal failed (%s)", self.oid, exc)


class JobRunner:
    """Runs jobs of one deployment. ``retry(job_id, delay)`` queues another attempt (None: no queue to
    retry on, ``immediate://``); ``on_end(doc)`` announces a job that ended (the webhook)."""

    def __init__(
        self,
        settings: ExportSettings,
        store: Store,
        records: JobRecords,
        *,
        retry: Callable[[str, float], None] | None,
        on_end: Callable[[dict[str, Any]], None],
        stopping: threading.Event | None = None,
    ):
        self.settings = settings
        self.store = store
        self.records = records
        self.retry = retry
        self.on_end = on_end
        self.stopping = stopping or threading.Event()
        self.beat_seconds = settings.job_lease_seconds / 3

    def run(self, job_id: str) -> None:
        """One attempt at ``job_id``; nothing when the job is not queued (any more)."""
        oid = parse_job_id(job_id)
        if oid is None:
            return
        file_id = ObjectId()
        before = self.records.claim(oid, file_id)
        if before is None:
            return
        attempt = int(before.get("attempts") or 0) + 1
        bucket = self.records.bucket
        try:
            with _Heartbeat(self.records, oid, attempt, self.beat_seconds) as beat:
                delete_file(bucket, before.get("writing_file_id"))  # what a killed attempt left
                produced = self._produce(before)  # a statistics job's query runs here, beaten all along
                file = self._write(oid, attempt, file_id, produced, beat)
        except _Lost:
            self._discard(file_id)
            self.records.remove_cancelled(oid)
            return
        except _Stopping:
            self._discard(file_id)
            if self.records.release(oid, attempt, refund=True) and self.retry:
                self.retry(str(oid), 0)
            return
        except (Unavailable, PyMongoError) as exc:
            self._discard(file_id)
            if isinstance(exc, Unavailable) and exc.message == TIMEOUT_MESSAGE:  # would time out again
                self._fail(oid, attempt, exc.message)
            else:
                message = exc.message if isinstance(exc, ExportError) else "the statistics database is unreachable"
                self._retry_or_fail(oid, attempt, message)
            return
        except ExportError as exc:  # refused now (the URL deleted, access revoked): the GET's words
            self._discard(file_id)
            self._fail(oid, attempt, exc.message)
            return
        except Exception:
            log.exception("export job %s failed", oid)
            self._discard(file_id)
            self._fail(oid, attempt, UNEXPECTED_ERROR)
            return
        try:
            done = self.records.finish(oid, attempt, file)
        except PyMongoError:  # the file may or may not count: the lease ends, the reaper decides
            log.warning("export job %s: the database failed while finishing; the reaper will retry it", oid)
            return
        if done is None:  # reaped or cancelled meanwhile: another attempt, or nobody, owns the job
            self._discard(file_id)
            self.records.remove_cancelled(oid)
            return
        self.on_end(done)

    def _produce(self, job: dict[str, Any]) -> ProducedFile:
        """The GET's file as it was at submission (``as_of``), planned again (access may have changed)."""
        as_of = utc(job["as_of"])
        assert as_of is not None
        exporter = Exporter(self.settings, self.store, clock=lambda: as_of)
        producer = FileProducer(self.settings, store=self.store, exporter=exporter)
        planned = producer.plan(target_from_url(self.settings.route, job["url"]), job["owner_id"])
        return producer.produce(planned, budget=False)

    def _write(
        self, oid: ObjectId, attempt: int, file_id: ObjectId, produced: ProducedFile, beat: _Heartbeat
    ) -> dict[str, Any]:
        writer = ChunkWriter(self.records.bucket, file_id, filename_of(produced.disposition), {"job_id": oid})
        for chunk in produced.open():
            writer.write(chunk)
            if self.stopping.is_set():
                raise _Stopping
            if beat.lost.is_set():
                raise _Lost
        size = writer.close(self.records.now())
        return {
            "file_id": file_id,
            "size": size,
            "media_type": produced.media_type,
            "disposition": produced.disposition,
            "headers": [list(pair) for pair in produced.headers],
        }

    def _discard(self, file_id: ObjectId) -> None:
        """Remove this attempt's partial file; when the database is down, the next claim or the reaper will."""
        try:
            delete_file(self.records.bucket, file_id)
        except PyMongoError:
            log.warning("export job file %s: partial file left for the next attempt to remove", file_id)

    def _retry_or_fail(self, oid: ObjectId, attempt: int, message: str) -> None:
        try:
            if attempt < MAX_ATTEMPTS and self.retry is not None:
                if self.records.release(oid, attempt):
                    self.retry(str(oid), RETRY_DELAYS[attempt - 1])
                return
            tries = f" ({attempt} attempts)" if attempt > 1 else ""
            self._fail(oid, attempt, f"{message}{tries}; submit the export again later")
        except PyMongoError:  # still down: the lease runs out and the reaper retries or fails the job
            log.warning("export job %s: the database is down; the reaper will retry it", oid)

    def _fail(self, oid: ObjectId, attempt: int, error: str) -> None:
        doc = self.records.fail(oid, attempt, error)
        if doc is None:
            self.records.remove_cancelled(oid)
        else:
            self.on_end(doc)
