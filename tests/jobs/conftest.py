"""Fixtures of the export-job tests: a small world of URLs and clicks, a frozen clock that tests move,
the real app's GET for comparison, and a JobService over the same database."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import falcon.testing
import pytest
from bson import ObjectId

from spoo_export_plugin import ExportSettings, create_app
from spoo_export_plugin.jobs.service import JobService

from ..factories import ROUTE, add_api_key, add_url, make_click

ME = ObjectId("650000000000000000000021")
OTHER = ObjectId("650000000000000000000022")
#: The instant the tests' clock starts at (milliseconds kept: MongoDB's precision).
NOW = datetime(2025, 3, 20, 12, 30, 15, 123000, tzinfo=timezone.utc)
VISITOR_KEY = "k" * 40  # raw clicks' visitor pseudonyms: the same in the GET and the job


@dataclass
class Clock:
    """A clock the test moves (``clock.now += timedelta(...)``)."""

    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def fill(db: Any, clicks_per_day: int = 6) -> dict[str, Any]:
    """Two URLs of ME (one with a hostile alias), one of OTHER; clicks over ten days of March 2025."""
    mine = add_url(db, "mine", ME, created_at=datetime(2025, 3, 1))
    sale = add_url(db, "=sale", ME, created_at=datetime(2025, 3, 2))
    theirs = add_url(db, "theirs", OTHER, created_at=datetime(2025, 3, 1))
    browsers = ("Chrome", "Firefox", "Safari")
    docs = []
    for day in range(5, 15):
        for i in range(clicks_per_day):
            docs.append(
                make_click(
                    "mine" if i % 3 else "=sale",
                    ME,
                    datetime(2025, 3, day, i % 24, i % 60),
                    browser=browsers[i % 3],
                    ip_address=f"203.0.113.{i % 50}",
                    country="France" if i % 2 else "Japan",
                )
            )
        docs.append(make_click("theirs", OTHER, datetime(2025, 3, day, 9)))
    db.clicks.insert_many(docs)
    return {
        "mine": mine,
        "sale": sale,
        "theirs": theirs,
        "me_key": add_api_key(db, ME),
        "other_key": add_api_key(db, OTHER),
    }


def job_settings(db: Any, **changes: Any) -> ExportSettings:
    values: dict[str, Any] = {
        "database": db,
        "job_queue": "immediate://",
        "visitor_id_secret": VISITOR_KEY,
        "authenticated_limits": "10000/minute",
        "anonymous_limits": "10000/minute",
    }
    values.update(changes)
    return ExportSettings(**values)


@dataclass
class World:
    db: Any
    settings: ExportSettings
    clock: Clock
    ids: dict[str, Any]
    service: JobService
    _client: falcon.testing.TestClient | None = field(default=None, repr=False)

    def get(self, url: str, key: str = "me_key") -> falcon.testing.Result:
        """The synchronous GET of ``url`` through the real app, at the clock's instant."""
        if self._client is None:
            self._client = falcon.testing.TestClient(create_app(self.settings))
        resource = self._client.app._router.find(ROUTE)[0]
        resource.exporter.clock = self.clock
        path, _, query = url.partition("?")
        return self._client.simulate_get(path, query_string=query, headers={"Authorization": f"Bearer {self.ids[key]}"})

    def service_with(self, **changes: Any) -> JobService:
        return JobService(self.settings.replace(**changes), clock=self.clock)


@pytest.fixture
def world(db: Any) -> World:
    clock = Clock()
    ids = fill(db)
    settings = job_settings(db)
    return World(db, settings, clock, ids, JobService(settings, clock=clock))


def read(service: JobService, job_id: str, **kwargs: Any) -> bytes:
    return b"".join(service.open_file(job_id, **kwargs).open())


def comparable(data: bytes, media_type: str) -> Any:
    """A file's bytes, but an xlsx as its members' bytes without docProps/core.xml (openpyxl stamps the
    workbook's creation time there, and each zip member's date, at writing)."""
    if media_type.startswith("application/vnd.openxmlformats"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return {n: archive.read(n) for n in archive.namelist() if n != "docProps/core.xml"}
    return data


def files_in(db: Any, bucket: str = "export_files") -> tuple[int, int]:
    """(files documents, chunk documents) in the bucket."""
    return db[f"{bucket}.files"].count_documents({}), db[f"{bucket}.chunks"].count_documents({})
