"""What the export-job HTTP tests share: the data, the app with jobs on, submitting, the job clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import falcon.testing
from bson import ObjectId

from spoo_export_plugin import ExportSettings
from spoo_export_plugin.jobs.service import JobService
from spoo_export_plugin.web.offload import wrapped_resource

from ..doors import make_app
from ..factories import ROUTE, add_api_key, add_url, url_id_for
from ..formats.hostile_data import ALL_DIMENSIONS, seed_hostile_dataset
from ..scenarios import VISITOR_SECRET

JOBS = ROUTE + "/jobs"
RANGE = {"start_date": "2025-03-08", "end_date": "2025-03-10T23:59:59"}
STATISTICS = {**RANGE, "scope": "all", "group_by": ALL_DIMENSIONS, "granularity": "day"}
GENEROUS = {"anonymous_limits": "1000/minute", "authenticated_limits": "1000/minute"}
WEBHOOK_SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def seed(db: Any) -> dict[str, Any]:
    """The hostile data set (one owner, two URLs, a click per hostile city), a private URL of someone
    else, and a second owner with a key (for owner isolation)."""
    dataset = seed_hostile_dataset(db)
    add_url(db, "private", ObjectId(), created_at=dt.datetime(2025, 3, 1), private_stats=True)
    other = ObjectId()
    return {
        **dataset,
        "db": db,
        "link": str(url_id_for("abc", dataset["owner"])),
        "other_auth": {"Authorization": f"Bearer {add_api_key(db, other)}"},
    }


def job_settings(db: Any, **overrides: Any) -> ExportSettings:
    """Jobs on (``immediate://`` unless told), generous rate limits, stable visitor ids."""
    values: dict[str, Any] = {
        "database": db,
        "job_queue": "immediate://",
        "visitor_id_secret": VISITOR_SECRET,
        **GENEROUS,
        **overrides,
    }
    return ExportSettings(**values)


def jobs_client(settings: ExportSettings) -> falcon.testing.TestClient:
    """A test client over the running test's door (tests/doors.py)."""
    return falcon.testing.TestClient(make_app(settings))


def jobs_resource(client: falcon.testing.TestClient) -> Any:
    """The app's ``JobsResource`` (the ASGI door's adapter unwrapped)."""
    found = client.app._router.find(JOBS)
    assert found is not None, "the job routes are not routed"
    return wrapped_resource(found[0])


def set_job_clock(client: falcon.testing.TestClient, clock: Callable[[], dt.datetime]) -> None:
    """The jobs' clock (submission instant = the report's ``as_of`` and ``generated_at``; expiry)."""
    resource = jobs_resource(client)
    resource.service = JobService(resource.settings, store=resource.store, clock=clock)


def get_path(kind: str, data: dict[str, Any], query: dict[str, str]) -> str:
    """The path and query of the GET of one export route over the seeded data."""
    path = {"statistics": ROUTE, "link": f"{ROUTE}/links/{data['link']}", "clicks": f"{ROUTE}/clicks"}[kind]
    return f"{path}?{urlencode(query)}"


def submit(
    client: falcon.testing.TestClient, url: Any, headers: dict[str, str] | None = None, **fields: Any
) -> falcon.testing.Result:
    return client.simulate_post(JOBS, json={"url": url, **fields}, headers=headers)


def split(url: str) -> tuple[str, str]:
    """``path?query`` -> (path, query)."""
    path, _, query = url.partition("?")
    return path, query
