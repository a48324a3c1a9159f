"""Schemathesis against the live schedule routes (jobs on, a real HTTP server over SecantusDB): generated
valid and invalid creations, reads, pauses and deletions; no 5xx, every answer as the served document
says. Then one schedule's whole life, each answer checked against the document, since generated ids
name no schedule.

Kept small (a few hundred requests), and bounded: a generated body is almost always refused at once
(400), and the schedules that are made are at most ``max_schedules_per_owner`` (the cap, 429 past it),
so a run can never leave an unbounded number of schedules behind.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, settings

from spoo_export_plugin.web.openapi import load_document

from ..factories import ROUTE
from .live_app import headers_made_invalid, live_app

schemathesis = pytest.importorskip("schemathesis")

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCHEDULES = ROUTE + "/schedules"
CAP = 3
schema = schemathesis.openapi.from_dict(load_document(jobs=True)).include(path_regex="/schedules")
STATS: Counter = Counter()
METHODS: Counter = Counter()
MAX_EXAMPLES = 60
HOOK = "http://127.0.0.1:9/hook"


@pytest.fixture(scope="module")
def live(secantus_uri: str) -> Iterator[dict[str, Any]]:
    with live_app(
        secantus_uri,
        "schemathesis_schedules",
        STATS,
        METHODS,
        job_queue="immediate://",
        webhook_secret="whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        webhook_allow_http=True,
        webhook_allow_private=True,
        max_schedules_per_owner=CAP,
    ) as served:
        yield served


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
)
def test_every_schedule_answer_matches_the_openapi_document(case: Any, live: dict[str, Any]) -> None:
    # Creations and pauses carry the owner's key (without it every one is the same 401), other requests
    # half the time; never one whose headers schemathesis made invalid on purpose.
    chosen = case.method in ("POST", "PATCH") or zlib.crc32(repr((case.path_parameters, case.query)).encode()) % 2
    headers = {"Authorization": f"Bearer {live['key']}"} if chosen and not headers_made_invalid(case) else None
    # Excluded: "schema-valid data is accepted": a schema-valid `url`, `cron` or `timezone` is rarely valid.
    case.call_and_validate(
        base_url=live["url"], headers=headers, excluded_checks=[schemathesis.checks.positive_data_acceptance]
    )


def test_a_schedules_life_matches_the_document(live: dict[str, Any]) -> None:
    """Create, list, look at, pause, resume, delete: each answer validated; then the cap's 429."""
    auth = {"Authorization": f"Bearer {live['key']}"}
    base = live["url"]
    live["db"]["export_schedules"].delete_many({})

    def checked(method: str, template: str, response: requests.Response) -> requests.Response:
        METHODS[method] += 1
        STATS[response.status_code] += 1
        schema[template][method].validate_response(response)
        return response

    body = {"url": f"{ROUTE}/clicks?format=json&period=last_week", "cron": "0 8 * * 1", "timezone": "Europe/Berlin"}
    created = checked(
        "POST", SCHEDULES, requests.post(base + SCHEDULES, json={**body, "webhook_url": HOOK}, headers=auth, timeout=30)
    )
    assert created.status_code == 201, created.text
    one, path = f"{SCHEDULES}/{{schedule_id}}", created.headers["location"]
    assert checked("GET", one, requests.get(base + path, headers=auth, timeout=30)).json() == created.json()
    listed = checked("GET", SCHEDULES, requests.get(base + SCHEDULES, headers=auth, timeout=30))
    assert listed.json()["schedules"] == [created.json()]
    paused = checked("PATCH", one, requests.patch(base + path, json={"paused": True}, headers=auth, timeout=30))
    assert paused.json()["next_run_at"] is None
    resumed = checked("PATCH", one, requests.patch(base + path, json={"paused": False}, headers=auth, timeout=30))
    assert resumed.json()["next_run_at"] == created.json()["next_run_at"]
    assert checked("HEAD", one, requests.head(base + path, headers=auth, timeout=30)).status_code == 200
    assert checked("DELETE", one, requests.delete(base + path, headers=auth, timeout=30)).status_code == 204
    assert checked("GET", one, requests.get(base + path, headers=auth, timeout=30)).status_code == 404
    for _ in range(CAP):
        made = requests.post(base + SCHEDULES, json={**body, "webhook_url": HOOK}, headers=auth, timeout=30)
        assert checked("POST", SCHEDULES, made).status_code == 201
    refused = requests.post(base + SCHEDULES, json={**body, "webhook_url": HOOK}, headers=auth, timeout=30)
    assert checked("POST", SCHEDULES, refused).status_code == 429


def test_the_run_was_broad_and_bounded(live: dict[str, Any]) -> None:
    """Runs after the generated tests: every method tried, no 5xx, and never more schedules than the cap."""
    total = sum(STATS.values())
    made = live["db"]["export_schedules"].count_documents({})
    print(
        f"\nschemathesis (schedules): {total} requests, statuses {dict(sorted(STATS.items()))}, {made} schedules left"
    )
    assert not [status for status in STATS if status >= 500]
    assert {"POST", "GET", "HEAD", "PATCH", "DELETE"} <= set(METHODS)
    assert STATS[400] >= 10 and STATS[401] >= 20 and STATS[404] >= 20 and STATS[201] >= 1
    assert made <= CAP
