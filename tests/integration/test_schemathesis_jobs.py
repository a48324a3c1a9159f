"""Schemathesis against the live job routes (``job_queue="immediate://"``, a real HTTP server over
SecantusDB): generated valid and invalid submissions, polls, deletions and downloads; no 5xx, every
answer as the served document (jobs on) says. Then one job's whole life, each answer checked
against the document, since generated job ids name no job.

Kept small (a few hundred requests): the export routes' own run (test_schemathesis.py) covers every
export parameter; here a generated ``url`` is almost always refused at once (400), so few jobs run.
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

JOBS = ROUTE + "/jobs"
schema = schemathesis.openapi.from_dict(load_document(jobs=True)).include(path_regex="/jobs")
STATS: Counter = Counter()
METHODS: Counter = Counter()
MAX_EXAMPLES = 60


@pytest.fixture(scope="module")
def live(secantus_uri: str) -> Iterator[dict[str, Any]]:
    with live_app(secantus_uri, "schemathesis_jobs", STATS, METHODS, job_queue="immediate://") as served:
        yield served


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
)
def test_every_job_answer_matches_the_openapi_document(case: Any, live: dict[str, Any]) -> None:
    # Submissions carry the owner's key (without it every one is the same 401), other requests half the
    # time, chosen by what was generated; never one whose headers schemathesis made invalid on purpose.
    chosen = case.method == "POST" or zlib.crc32(repr((case.path_parameters, case.query)).encode()) % 2
    headers = {"Authorization": f"Bearer {live['key']}"} if chosen and not headers_made_invalid(case) else None
    # Excluded: "schema-valid data is accepted": a schema-valid `url` string is rarely an export GET.
    case.call_and_validate(
        base_url=live["url"], headers=headers, excluded_checks=[schemathesis.checks.positive_data_acceptance]
    )


def test_a_jobs_life_matches_the_document(live: dict[str, Any]) -> None:
    """Submit, poll, list, download (credentials, token, HEAD), delete: each answer validated."""
    auth = {"Authorization": f"Bearer {live['key']}"}
    base = live["url"]

    def checked(method: str, template: str, response: requests.Response) -> requests.Response:
        METHODS[method] += 1
        STATS[response.status_code] += 1
        schema[template][method].validate_response(response)
        return response

    body = {"url": f"{ROUTE}/clicks?format=json&start_date=2025-03-01&end_date=2025-03-31"}
    submitted = checked("POST", JOBS, requests.post(base + JOBS, json=body, headers=auth, timeout=30))
    assert submitted.status_code == 202 and submitted.json()["status"] == "done"
    job_id = submitted.json()["id"]
    one, file = f"{JOBS}/{{job_id}}", f"{JOBS}/{{job_id}}/file"
    assert checked("GET", one, requests.get(f"{base}{JOBS}/{job_id}", headers=auth, timeout=30)).status_code == 200
    assert checked("GET", JOBS, requests.get(base + JOBS, headers=auth, timeout=30)).json()["jobs"][0]["id"] == job_id
    owned = checked("GET", file, requests.get(f"{base}{JOBS}/{job_id}/file", headers=auth, timeout=30))
    by_token = checked("GET", file, requests.get(base + submitted.json()["file_url"], timeout=30))
    assert owned.status_code == by_token.status_code == 200 and owned.content == by_token.content
    assert len(owned.json()["clicks"]) == 24
    head = checked("HEAD", file, requests.head(f"{base}{JOBS}/{job_id}/file", headers=auth, timeout=30))
    assert head.status_code == 200 and head.headers["content-length"] == str(len(owned.content))
    forged = checked("GET", file, requests.get(f"{base}{JOBS}/{job_id}/file?token=x", timeout=30))
    assert forged.status_code == 403
    deleted = checked("DELETE", one, requests.delete(f"{base}{JOBS}/{job_id}", headers=auth, timeout=30))
    assert deleted.status_code == 204
    assert checked("GET", one, requests.get(f"{base}{JOBS}/{job_id}", headers=auth, timeout=30)).status_code == 404


def test_the_run_was_broad_and_cheap(live: dict[str, Any]) -> None:
    """Runs after the generated tests: every method tried, no 5xx, and few jobs made (each one runs an export)."""
    total = sum(STATS.values())
    jobs = live["db"]["export_jobs"].count_documents({"owner_id": {"$exists": True}})
    print(f"\nschemathesis (jobs): {total} requests, statuses {dict(sorted(STATS.items()))}, {jobs} jobs made")
    assert not [status for status in STATS if status >= 500]
    assert {"POST", "GET", "HEAD", "DELETE"} <= set(METHODS)
    assert STATS[400] >= 10 and STATS[401] >= 20 and STATS[404] >= 20 and STATS[202] >= 1
    assert jobs < 100
