"""What the schedule HTTP tests share: settings that accept a loopback webhook and e-mail, a valid
body, creating one, and the schedules' clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import falcon.testing

from spoo_export_plugin import ExportSettings
from spoo_export_plugin.schedules.owners import OwnerSchedules
from spoo_export_plugin.web.offload import wrapped_resource

from ..factories import ROUTE
from .jobs_support import WEBHOOK_SECRET, job_settings

SCHEDULES = ROUTE + "/schedules"
#: A webhook target the jobs' check accepts with http and private addresses allowed (nothing listens).
HOOK = "http://127.0.0.1:9/hook"
WEEKLY_URL = ROUTE + "?format=csv&period=last_week"
#: Monday 08:00 in Berlin.
BODY: dict[str, Any] = {"url": WEEKLY_URL, "cron": "0 8 * * 1", "timezone": "Europe/Berlin", "webhook_url": HOOK}
#: A Tuesday, in winter time (CET, UTC+1).
CREATED = dt.datetime(2026, 2, 3, 4, 5, 6, 789_000, tzinfo=dt.timezone.utc)


def schedule_settings(db: Any, **overrides: Any) -> ExportSettings:
    """Jobs on, webhooks signable and allowed to loopback, e-mail configured (nothing is sent here)."""
    values: dict[str, Any] = {
        "webhook_secret": WEBHOOK_SECRET,
        "webhook_allow_http": True,
        "webhook_allow_private": True,
        "smtp_url": "smtp://127.0.0.1:2525",
        "email_from": "Reports <reports@example.com>",
        **overrides,
    }
    return job_settings(db, **values)


def schedules_resource(client: falcon.testing.TestClient) -> Any:
    """The app's ``SchedulesResource`` (the ASGI door's adapter unwrapped)."""
    found = client.app._router.find(SCHEDULES)
    assert found is not None, "the schedule routes are not routed"
    return wrapped_resource(found[0])


def set_schedule_clock(client: falcon.testing.TestClient, clock: Callable[[], dt.datetime]) -> None:
    """The instant creations and resumptions read (``next_run_at`` follows from it)."""
    resource = schedules_resource(client)
    resource.schedules = OwnerSchedules(resource.settings, store=resource.store, clock=clock)


def create(
    client: falcon.testing.TestClient, headers: dict[str, str] | None = None, **fields: Any
) -> falcon.testing.Result:
    """POST a schedule: :data:`BODY` with ``fields`` changed (a field set to ``...`` is left out)."""
    body = {key: value for key, value in {**BODY, **fields}.items() if value is not ...}
    return client.simulate_post(SCHEDULES, json=body, headers=headers)
