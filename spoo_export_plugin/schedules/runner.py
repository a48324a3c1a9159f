"""``run_schedules(settings, now)``: run every schedule's latest due slot, once, as an export job; then send
the e-mails of runs whose jobs have ended. What ``spoo-export scheduler`` calls at each tick and
``spoo-export run-schedules --now`` calls once.

For each unpaused schedule whose ``next_run_at`` is at or before ``now``: the latest slot at or before
``now`` (after downtime the earlier missed ones are passed over, as the SPEC says) is claimed with one
atomic update (:meth:`ScheduleStore.claim_slot`: of several schedulers one wins), then submitted as a job
of the schedule's owner whose ``period`` is read at the slot's instant in the schedule's zone
(``JobService.submit(..., as_of=slot)``, the URL given the schedule's ``timezone``). The job's webhook is
the schedule's (signed and retried as for any job). A submission refused (the URL deleted: the GET's
404; the owner's jobs cap: 429) is recorded on the schedule in words (``last_error``) and that slot is
not tried again: the claim stands, the next slot runs as usual.

A scheduler that dies between its claim and the submission loses that slot (at most once, never twice).
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ..core.engine.store import Store
from ..core.exceptions import ExportError
from ..core.settings import ExportSettings
from ..jobs.records import utcnow
from ..jobs.service import JobService
from .reports import ReportMailer
from .slots import latest_due_slot
from .store import ScheduleStore, as_utc, iso
from .validation import url_for_slot

log = logging.getLogger("spoo_export_plugin.schedules")


class Scheduler:
    """One deployment's schedules, jobs and mail, over one database connection."""

    def __init__(
        self,
        settings: ExportSettings,
        *,
        store: Store | None = None,
        clock: Callable[[], datetime] = utcnow,
        ssl_context: ssl.SSLContext | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.store = store or Store(settings)
        self.schedules = ScheduleStore(settings, store=self.store, clock=clock)
        self.jobs = JobService(settings, store=self.store, clock=clock)
        self.mailer = ReportMailer(settings, self.jobs, self.schedules, ssl_context=ssl_context, sleep=sleep)

    def run(self, now: datetime) -> list[dict[str, Any]]:
        """Run the due slots at ``now``, send the e-mails owed; one job object per run."""
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now must be an aware datetime (e.g. datetime.now(timezone.utc)), not a naive one")
        runs = []
        for schedule in self.schedules.due(now):
            job = self.run_slot(schedule, now)
            if job is not None:
                runs.append(job)
        self.mailer.send_pending()
        return runs

    def close(self) -> None:
        """Close the MongoDB client this scheduler opened (none when the settings hand it a ``database``)."""
        opened = self.store._database if self.settings.database is None else None
        if opened is not None:
            opened.client.close()

    def run_slot(self, schedule: dict[str, Any], now: datetime) -> dict[str, Any] | None:
        """Claim and submit the schedule's latest due slot; its job object, or None (not ours, or refused)."""
        since = as_utc(schedule["slots_after"])
        assert since is not None
        slot = latest_due_slot(schedule["cron"], schedule["timezone"], since, now)
        if slot is None or not self.schedules.claim_slot(schedule["_id"], slot, now=now):
            return None  # nothing due after all, or another scheduler took it
        url = url_for_slot(schedule["url"], schedule["timezone"])
        try:
            job = self.jobs.submit(
                schedule["owner_id"], url, schedule.get("webhook_url"), as_of=slot, schedule_id=schedule["_id"]
            )
        except ExportError as refused:  # the GET's refusal (URL gone, access lost), the cap, the database
            error = f"the run of {iso(slot)} was refused ({refused.status}): {refused.message}"
        except Exception:  # one schedule's fault stops no other
            log.exception("schedule %s: the run of %s failed", schedule["_id"], iso(slot))
            error = (
                f"the run of {iso(slot)} failed because of an error in the server; the operator's log has the details"
            )
        else:
            mail = bool(schedule.get("email"))
            self.schedules.record_run(schedule["_id"], slot, job_id=job["id"], mail_pending=mail)
            return job
        log.warning("schedule %s: %s", schedule["_id"], error)
        self.schedules.record_run(schedule["_id"], slot, error=error)
        return None


def run_schedules(
    settings: ExportSettings,
    now: datetime,
    *,
    clock: Callable[[], datetime] = utcnow,
    ssl_context: ssl.SSLContext | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[dict[str, Any]]:
    """Run every schedule's latest slot due at or before ``now`` (aware) that has not run, each once
    however many callers race; send the e-mails of runs whose jobs have ended. One job object per run.

    ``clock`` is the jobs' own clock (their ``created_at``, ``finished_at``, expiry); ``ssl_context``
    verifies the SMTP server (the system's trust store when None); ``sleep`` waits between mail tries.
    """
    scheduler = Scheduler(settings, clock=clock, ssl_context=ssl_context, sleep=sleep)
    try:
        return scheduler.run(now)
    finally:
        scheduler.close()  # a caller's loop calling this each minute leaves no client behind


__all__ = ["Scheduler", "run_schedules"]
