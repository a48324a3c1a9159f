"""What keeps jobs moving when processes die, and storage bounded: the reaper and the expiry sweep.

Every worker runs both at start and then every few seconds (``spoo-export worker``); several at
once are safe, as each change is a conditional update one of them wins.

- :func:`reap`: a running job whose lease ran out lost its worker (killed, or the machine gone).
  Its partial file is deleted and it is queued again, or, after :data:`~.records.MAX_ATTEMPTS`
  runs, failed with an error a person understands. A cancelled one is removed. A queued job
  whose task was lost (popped by a worker that died before claiming it) is enqueued again.
- :func:`sweep`: files of done jobs past ``expires_at`` are deleted (the job stays listed, its
  file 410).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pymongo.errors import PyMongoError

from .records import DONE, MAX_ATTEMPTS, QUEUED, RUNNING, STALE_QUEUED, JobRecords
from .runner import INTERRUPTED_ERROR
from .stored_files import delete_file

log = logging.getLogger("spoo_export_plugin.jobs")


def reap(records: JobRecords, enqueue: Callable[[str, float], None], on_end: Callable[[dict[str, Any]], None]) -> int:
    """Re-queue, fail or remove the running jobs whose lease expired; re-enqueue lost queued ones.
    Returns how many jobs it changed."""
    now = records.now()
    changed = 0
    for doc in list(records.jobs.find({"status": RUNNING, "lease_until": {"$lt": now}})):
        oid, attempt = doc["_id"], int(doc.get("attempts") or 0)
        if doc.get("cancelled"):
            if records.jobs.delete_one({"_id": oid, "status": RUNNING, "lease_until": {"$lt": now}}).deleted_count:
                delete_file(records.bucket, doc.get("writing_file_id"))
                changed += 1
        elif attempt >= MAX_ATTEMPTS:
            failed = records.fail(oid, attempt, INTERRUPTED_ERROR.format(attempts=attempt), lease_expired=True)
            if failed is not None:
                delete_file(records.bucket, doc.get("writing_file_id"))
                changed += 1
                on_end(failed)
        elif records.release(oid, attempt, lease_expired=True):
            delete_file(records.bucket, doc.get("writing_file_id"))
            enqueue(str(oid), 0)
            changed += 1
    for doc in list(records.jobs.find({"status": QUEUED, "enqueued_at": {"$lt": now - STALE_QUEUED}}, {"_id": 1})):
        if records.mark_enqueued(doc["_id"], now - STALE_QUEUED):
            enqueue(str(doc["_id"]), 0)
            changed += 1
    return changed


def sweep(records: JobRecords) -> int:
    """Delete the files of done jobs past their expiry; how many."""
    now = records.now()
    deleted = 0
    expired = {"status": DONE, "expires_at": {"$lte": now}, "file_id": {"$ne": None}}
    for doc in list(records.jobs.find(expired, {"file_id": 1})):
        delete_file(records.bucket, doc["file_id"])
        records.forget_file(doc["_id"], doc["file_id"])
        deleted += 1
    return deleted


def upkeep(
    records: JobRecords, enqueue: Callable[[str, float], None], on_end: Callable[[dict[str, Any]], None]
) -> None:
    """One round of both, logged; a database outage waits for the next round."""
    try:
        reaped = reap(records, enqueue, on_end)
        swept = sweep(records)
    except PyMongoError as exc:
        log.warning("job upkeep skipped a round: the database failed (%s)", exc)
        return
    if reaped or swept:
        log.info("job upkeep: %d job(s) re-queued or failed, %d expired file(s) deleted", reaped, swept)
