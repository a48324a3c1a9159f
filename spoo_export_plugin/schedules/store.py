"""Schedules in MongoDB (``schedules_collection``, default ``export_schedules``), and the claim that
runs each slot once however many schedulers are running.

A schedule document holds what its owner asked for (``url``, ``cron``, ``timezone``,
``webhook_url``, ``email``, ``paused``) and where it stands:

* ``slots_after``: only slots strictly after this instant may still run (when it was created or
  resumed, then each claimed slot);
* ``next_run_at``: the first slot after ``slots_after`` (null while paused), which is what makes a
  schedule due (``next_run_at <= now``, one indexed query);
* ``last_slot``, ``last_run_at``, ``last_job_id``, ``last_error``, ``mail_pending``: the latest run.

:meth:`ScheduleStore.claim_slot` is one conditional update (``slots_after < slot`` becomes
``slots_after = slot``): MongoDB applies it to the document atomically, so of several schedulers
claiming the same slot exactly one succeeds, and a slot older than one already claimed never runs.
Every read and write is scoped by owner except the scheduler's own (``due``, ``claim_slot``,
``record_run``), which act on a schedule the scheduler found due.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from ..core.engine.store import Store, driver_errors
from ..core.exceptions import NotFound, RateLimited, Unauthorized
from ..core.settings import ExportSettings
from ..jobs.records import parse_job_id, utcnow
from ..jobs.stored_files import iso
from ..jobs.stored_files import utc as as_utc
from .slots import next_run_at
from .validation import ScheduleSpec

#: Schedules ``list`` returns at most (newest first); the per-owner cap is normally lower.
LIST_LIMIT = 100


#: mongomock (the demo's and the tests' in-process database) applies a conditional update in Python
#: steps another thread can interleave (8 threads claiming one slot: two or more "win" about half the
#: time); MongoDB applies it to the document atomically. This lock gives mongomock's updates that
#: guarantee within the process, which is where a mongomock database lives.
_IN_PROCESS_WRITES = threading.Lock()


def _atomic(collection: Any) -> contextlib.AbstractContextManager[Any]:
    if type(collection).__module__.partition(".")[0] == "mongomock":
        return _IN_PROCESS_WRITES
    return contextlib.nullcontext()


def to_ms(value: datetime) -> datetime:
    """``value`` in UTC, truncated to the millisecond MongoDB keeps (so what is compared is what was stored)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("schedule times must be aware datetimes, not naive ones")
    value = value.astimezone(timezone.utc)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


#: A schedule's id from a URL (24 hex digits), else None (an unknown schedule: 404, not 400).
parse_schedule_id = parse_job_id


def schedule_object(doc: dict[str, Any]) -> dict[str, Any]:
    """The schedule as the API shows it (SPEC: Scheduled reports), with ``last_error`` beside ``last_run_at``."""
    return {
        "id": str(doc["_id"]),
        "url": doc["url"],
        "cron": doc["cron"],
        "timezone": doc["timezone"],
        "webhook_url": doc.get("webhook_url"),
        "email": list(doc.get("email") or []),
        "paused": bool(doc.get("paused")),
        "next_run_at": iso(doc.get("next_run_at")),
        "last_run_at": iso(doc.get("last_run_at")),
        "last_error": doc.get("last_error"),
    }


class ScheduleStore:
    """Create, read, pause and delete an owner's schedules; find the due ones; claim their slots."""

    def __init__(
        self, settings: ExportSettings, *, store: Store | None = None, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.settings = settings
        self.store = store or Store(settings)
        self.clock = clock
        self._indexed = False

    @property
    def schedules(self) -> Any:
        if not self._indexed:
            collection = self.store.database[self.settings.schedules_collection]
            collection.create_index([("owner_id", 1), ("created_at", -1)])  # an owner's list, the cap
            collection.create_index([("paused", 1), ("next_run_at", 1)])  # the scheduler's due query
            self._indexed = True
        return self.store.database[self.settings.schedules_collection]

    def _guard(self) -> Any:
        return driver_errors(self.settings.retry_after_seconds)  # an unreachable database is a 503

    def _now(self, now: datetime | None) -> datetime:
        return to_ms(now if now is not None else self.clock())

    # -- the owner's doors: every one scoped by owner_id, and none open without one

    @staticmethod
    def _owner(owner_id: Any) -> Any:
        if owner_id is None:
            raise Unauthorized(
                "scheduled reports need credentials: send Authorization: Bearer spoo_<key>", "Authorization"
            )
        return owner_id

    def create(self, owner_id: Any, spec: ScheduleSpec, *, now: datetime | None = None) -> dict[str, Any]:
        """A new schedule (its first slot is after ``now``); 429 past ``max_schedules_per_owner``."""
        created = self._now(now)
        doc: dict[str, Any] = {
            "owner_id": self._owner(owner_id),
            "url": spec.url,
            "cron": spec.cron,
            "timezone": spec.timezone,
            "webhook_url": spec.webhook_url,
            "email": list(spec.email),
            "paused": spec.paused,
            "created_at": created,
            "slots_after": created,
            "next_run_at": None if spec.paused else next_run_at(spec.cron, spec.timezone, created),
            "last_slot": None,
            "last_run_at": None,
            "last_job_id": None,
            "last_error": None,
            "mail_pending": False,
        }
        cap = self.settings.max_schedules_per_owner
        with self._guard():
            doc["_id"] = self.schedules.insert_one(doc).inserted_id
            # Insert, then count: of creations racing for the last place none slips past the cap (each
            # counts the others inserted first; at worst both step back).
            if self.schedules.count_documents({"owner_id": owner_id}) > cap:
                self.schedules.delete_one({"_id": doc["_id"]})
                raise RateLimited(
                    f"at most {cap} schedule{'' if cap == 1 else 's'} per owner; delete one to make room", None
                )
        return doc

    def get(self, owner_id: Any, schedule_id: Any) -> dict[str, Any]:
        """The owner's schedule; NotFound for an unknown id or another owner's (no difference shown)."""
        found = self._find(owner_id, schedule_id)
        if found is None:
            raise NotFound("no such schedule", None)
        return found

    def set_paused(
        self, owner_id: Any, schedule_id: Any, paused: bool, *, now: datetime | None = None
    ) -> dict[str, Any]:
        """Pause (no slot runs, ``next_run_at`` null) or resume: the slots missed while paused do not run,
        the first is the first after ``now``. Doing what is already done changes nothing."""
        doc = self.get(owner_id, schedule_id)
        if bool(doc.get("paused")) == paused:
            return doc
        if paused:
            change: dict[str, Any] = {"paused": True, "next_run_at": None}
        else:
            resumed = max(self._now(now), as_utc(doc["slots_after"]) or self._now(now))
            change = {
                "paused": False,
                "slots_after": resumed,
                "next_run_at": next_run_at(doc["cron"], doc["timezone"], resumed),
            }
        with self._guard():
            self.schedules.update_one({"_id": doc["_id"], "owner_id": owner_id, "paused": not paused}, {"$set": change})
        return self.get(owner_id, schedule_id)

    def delete(self, owner_id: Any, schedule_id: Any) -> None:
        """Delete the owner's schedule (its jobs and their files stay until they expire); NotFound otherwise."""
        self._owner(owner_id)
        key = parse_schedule_id(schedule_id)
        with self._guard():
            deleted = key is not None and self.schedules.delete_one({"_id": key, "owner_id": owner_id}).deleted_count
        if not deleted:
            raise NotFound("no such schedule", None)

    def _find(self, owner_id: Any, schedule_id: Any) -> dict[str, Any] | None:
        self._owner(owner_id)
        key = parse_schedule_id(schedule_id)
        if key is None:
            return None
        with self._guard():
            found: dict[str, Any] | None = self.schedules.find_one({"_id": key, "owner_id": owner_id})
            return found

    # -- the scheduler's doors

    def due(self, now: datetime, *, limit: int = 1_000) -> list[dict[str, Any]]:
        """Unpaused schedules whose next slot is at or before ``now``, the longest waiting first."""
        with self._guard():
            query = {"paused": False, "next_run_at": {"$lte": to_ms(now)}}
            return list(self.schedules.find(query).sort([("next_run_at", 1), ("_id", 1)]).limit(limit))

    def claim_slot(self, schedule_id: Any, slot: datetime, *, now: datetime | None = None) -> bool:
        """Take ``slot`` of the schedule for this scheduler: True exactly once per (schedule, slot), and
        never for a slot at or before one already taken, nor for a paused or deleted schedule.

        Records ``last_slot``, ``last_run_at`` (``now``), ``next_run_at`` (the slot after this one),
        and clears the previous run's ``last_job_id``, ``last_error`` and ``mail_pending``.
        """
        key = parse_schedule_id(schedule_id)
        slot = to_ms(slot)
        with self._guard():
            doc = None if key is None else self.schedules.find_one({"_id": key}, {"cron": 1, "timezone": 1})
            if doc is None:
                return False
            change = {
                "slots_after": slot,
                "last_slot": slot,
                "last_run_at": self._now(now),
                "next_run_at": next_run_at(doc["cron"], doc["timezone"], slot),
                "last_job_id": None,
                "last_error": None,
                "mail_pending": False,
            }
            with _atomic(self.schedules):
                claimed = self.schedules.update_one(
                    {"_id": key, "paused": False, "slots_after": {"$lt": slot}}, {"$set": change}
                )
            return bool(claimed.matched_count)

    def record_run(
        self,
        schedule_id: Any,
        slot: datetime,
        *,
        job_id: str | None = None,
        error: str | None = None,
        mail_pending: bool = False,
    ) -> bool:
        """What became of a claimed slot: its job, a delivery error (``last_error``), and whether its e-mail
        is still to be sent. Ignored (False) once a later slot was claimed: the latest run is the one shown."""
        key = parse_schedule_id(schedule_id)
        change: dict[str, Any] = {"last_job_id": job_id, "last_error": error, "mail_pending": mail_pending}
        with self._guard():
            updated = self.schedules.update_one({"_id": key, "last_slot": to_ms(slot)}, {"$set": change})
            return bool(updated.matched_count)

    def pending_mail(self, *, limit: int = 1_000) -> list[dict[str, Any]]:
        """Schedules whose latest run's e-mail is waiting for its job (a queued job ends in a worker)."""
        with self._guard():
            return list(self.schedules.find({"mail_pending": True}).limit(limit))

    def claim_mail(self, schedule_id: Any, job_id: str) -> bool:
        """Take the sending of a run's e-mail: True once per run, so several schedulers send it once."""
        key = parse_schedule_id(schedule_id)
        with self._guard():
            with _atomic(self.schedules):
                taken = self.schedules.update_one(
                    {"_id": key, "last_job_id": job_id, "mail_pending": True}, {"$set": {"mail_pending": False}}
                )
            return bool(taken.matched_count)

    # -- last in the class: the name ``list`` would shadow the type in the annotations after it

    def list(self, owner_id: Any) -> list[dict[str, Any]]:
        """The owner's schedules, newest first."""
        self._owner(owner_id)
        with self._guard():
            cursor = self.schedules.find({"owner_id": owner_id}).sort([("created_at", -1), ("_id", -1)])
            return list(cursor.limit(LIST_LIMIT))


__all__ = [
    "LIST_LIMIT",
    "ScheduleStore",
    "as_utc",
    "iso",
    "parse_schedule_id",
    "schedule_object",
    "to_ms",
]
