"""The task queue behind ``job_queue``: huey's SQLite and Redis storages.

A task carries only the job id; the job document is the truth (a task popped by a worker that is
then killed is gone from the queue, and the reaper in :mod:`.upkeep` takes over from the
document). ``immediate://`` has no queue: :class:`~.service.JobService` runs the job inside the
submission with a direct call, which keeps the web process free of huey's in-memory storage and
result store and lets the caller see the finished job the moment the call returns.

Every process that builds a :class:`JobQueue` for the same ``job_queue`` registers the same task
name, so a web process enqueues what a ``spoo-export worker`` consumes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # huey is the jobs extra: imported when a queue is built, not with the package
    from huey.api import Huey

#: huey's queue name (the Redis key prefix, the SQLite table's ``queue`` column) starts with this; the
#: database and jobs collection follow, so deployments sharing one Redis never run each other's jobs.
QUEUE_PREFIX = "spoo-export-jobs"
#: The task's registered name: the same in every process whatever module path runs it.
TASK_NAME = "run_export_job"


def queue_name(database: str, jobs_collection: str) -> str:
    return f"{QUEUE_PREFIX}:{database}.{jobs_collection}"


def make_huey(uri: str, name: str) -> Huey:
    """huey for ``sqlite:///path`` or ``redis://...`` (``rediss://`` too); checked by the settings already."""
    from huey import RedisHuey, SqliteHuey

    scheme = uri.partition("://")[0]
    if scheme == "sqlite":
        return SqliteHuey(name, filename=uri[len("sqlite://") :], results=False, utc=True)
    if scheme in ("redis", "rediss"):
        return RedisHuey(name, url=uri, results=False, utc=True)
    raise ValueError(f"job_queue {scheme}:// has no huey storage")


class JobQueue:
    """Enqueues job ids for ``run`` (called by a consumer, ``spoo-export worker``)."""

    def __init__(self, uri: str, name: str, run: Callable[[str], None]):
        self.huey = make_huey(uri, name)
        self._task: Any = self.huey.task(name=TASK_NAME)(run)

    def enqueue(self, job_id: str, delay: float = 0) -> None:
        """Queue one run of ``job_id`` now, or after ``delay`` seconds."""
        if delay > 0:
            self._task.schedule((job_id,), delay=delay)
        else:
            self._task(job_id)
