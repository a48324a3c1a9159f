"""``OwnerSchedules``: what the schedule routes call (create, list, look at, pause, delete); no web framework.

Creating a schedule checks everything a run would meet, so a schedule that could never run is
refused when it is made, with the error its GET would give then: the body field by field
(:func:`~.validation.validate_schedule`: the url's route and its ``period``, the cron, the zone, the
recipients; the webhook target by the jobs' own check), then the GET itself, as a slot will run it
(the url with the schedule's zone, :func:`~.validation.url_for_slot`), planned by
:class:`~spoo_export_plugin.files.produce.FileProducer` with the creator as owner: its parameters
(the same 400 naming the same ``param``) and access (401/403/404). The routes' answers are
:func:`~.store.schedule_object`\\ s; every read and write is the owner's (:class:`~.store.ScheduleStore`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from ..core.engine.store import Store, driver_errors
from ..core.exceptions import Unauthorized
from ..core.service import Exporter
from ..core.settings import ExportSettings
from ..files.produce import FileProducer, target_from_url
from .store import ScheduleStore, schedule_object, to_ms, utcnow
from .validation import ScheduleSpec, url_for_slot, validate_patch, validate_schedule

NEEDS_CREDENTIALS = "scheduled reports belong to an owner: send Authorization: Bearer spoo_<key>"


class OwnerSchedules:
    """An owner's schedules over HTTP's verbs; every method raises the plugin's 4xx exceptions."""

    def __init__(
        self, settings: ExportSettings, *, store: Store | None = None, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.settings = settings
        self.store = store or Store(settings)
        self.clock = clock
        self.schedules = ScheduleStore(settings, store=self.store, clock=clock)

    @staticmethod
    def owner(owner_id: Any) -> Any:
        """The caller's owner id; 401 for an anonymous caller (anonymous callers have no schedules)."""
        if owner_id is None:
            raise Unauthorized(NEEDS_CREDENTIALS, "Authorization")
        return owner_id

    def create(self, owner_id: Any, body: Any) -> dict[str, Any]:
        """Check ``body`` and the GET it names as a slot will run it; store it (429 past the cap)."""
        self.owner(owner_id)
        from ..jobs.webhooks import check_webhook_url  # the jobs' own check: the same targets refused

        spec = validate_schedule(body, self.settings, check_webhook_url=check_webhook_url)
        now = to_ms(self.clock())
        self.check_runnable(owner_id, spec, now)
        return schedule_object(self.schedules.create(owner_id, spec, now=now))

    def check_runnable(self, owner_id: Any, spec: ScheduleSpec, now: datetime) -> None:
        """Plan the GET a slot runs (the url with the schedule's zone unless it names one) at ``now``:
        the GET's own 400 (naming its parameter), 401, 403 or 404 when it would be refused."""
        target = target_from_url(self.settings.route, url_for_slot(spec.url, spec.timezone), param="url")
        exporter = Exporter(self.settings, self.store, clock=lambda: now)
        with driver_errors(self.settings.retry_after_seconds):
            FileProducer(self.settings, store=self.store, exporter=exporter).plan(target, owner_id)

    def get(self, owner_id: Any, schedule_id: str) -> dict[str, Any]:
        """One of the owner's schedules (404 for another owner's, or none)."""
        return schedule_object(self.schedules.get(self.owner(owner_id), schedule_id))

    def list(self, owner_id: Any) -> list[dict[str, Any]]:
        """The owner's schedules, newest first."""
        return [schedule_object(doc) for doc in self.schedules.list(self.owner(owner_id))]

    def set_paused(self, owner_id: Any, schedule_id: str, body: Any) -> dict[str, Any]:
        """``{"paused": true|false}``: pause, or resume from now (what was missed while paused does not run)."""
        self.owner(owner_id)
        self.schedules.get(owner_id, schedule_id)  # an unknown id is 404 before its body is judged
        paused = validate_patch(body)
        return schedule_object(self.schedules.set_paused(owner_id, schedule_id, paused, now=self.clock()))

    def delete(self, owner_id: Any, schedule_id: str) -> None:
        """Delete the owner's schedule; the jobs it ran keep their files until they expire."""
        self.schedules.delete(self.owner(owner_id), schedule_id)


__all__ = ["NEEDS_CREDENTIALS", "OwnerSchedules"]
