"""A schedule made over HTTP (both doors) is the one ``run_schedules`` runs: created through the routes,
its slot's file is the synchronous GET's at the slot, and the run shows on the schedule the routes
return (``last_run_at``; ``next_run_at`` moved on). What the SPEC's outside tests do."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import falcon.testing
import pytest

from spoo_export_plugin import run_schedules
from spoo_export_plugin.jobs.service import JobService
from spoo_export_plugin.schedules.validation import url_for_slot

from ..doors import make_app
from ..factories import ROUTE
from ..jobs.conftest import ME, read
from ..web.schedules_support import set_schedule_clock
from .smtp_server import Inbox, smtp_server
from .test_run_schedules import CREATED, MONDAY_10, MONDAY_17, TO, URL, WEEKLY, as_of, fill, get_at, settings_for

#: HTTP-level: each test runs through both doors (WSGI and ASGI, tests/doors.py).
pytestmark = pytest.mark.usefixtures("door")

SCHEDULES = ROUTE + "/schedules"


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    box = Inbox()
    with smtp_server(box) as port:
        box.port = port  # type: ignore[attr-defined]
        yield box


def test_a_schedule_made_over_http_runs_and_shows_its_run(db: Any, inbox: Inbox) -> None:
    ids = fill(db)
    settings = settings_for(db, inbox)
    client = falcon.testing.TestClient(make_app(settings))
    set_schedule_clock(client, lambda: CREATED)  # made the Wednesday before the first slot
    auth = {"Authorization": f"Bearer {ids['me_key']}"}
    body = {"url": URL, "cron": WEEKLY, "timezone": "Europe/Berlin", "email": TO}
    created = client.simulate_post(SCHEDULES, json=body, headers=auth)
    assert created.status_code == 201, created.text
    schedule = created.json
    assert schedule["last_run_at"] is None

    [job] = run_schedules(settings, MONDAY_10 + timedelta(minutes=2))
    assert job["status"] == "done" and as_of(settings, job) == MONDAY_10
    expected = get_at(settings, db, ids, url_for_slot(URL, "Europe/Berlin"), MONDAY_10)
    assert read(JobService(settings), job["id"], owner_id=ME) == expected.content
    assert json.loads(expected.content)["start_date"] == "2025-03-03T00:00:00+01:00"  # last week in Berlin
    assert len(inbox.received) == 1

    shown = client.simulate_get(created.headers["location"], headers=auth).json
    assert shown["last_run_at"] is not None and shown["last_error"] is None
    assert shown["next_run_at"] == MONDAY_17.strftime("%Y-%m-%dT%H:%M:%SZ")
    paused = client.simulate_patch(created.headers["location"], json={"paused": True}, headers=auth)
    assert paused.status_code == 200
    assert run_schedules(settings, MONDAY_17 + timedelta(minutes=2)) == []  # paused over HTTP: no run
    assert client.simulate_delete(created.headers["location"], headers=auth).status_code == 204
