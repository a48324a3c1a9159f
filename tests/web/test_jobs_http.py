"""Export jobs over HTTP, through both doors: a job's file is the GET's file, its headers the GET's;
the job's lifecycle (list, look at, delete), owner isolation, the signed ``file_url``, ``HEAD``.

``generated_at``: the GET's report reads the exporter's clock, frozen at ``FROZEN`` by
``frozen_clock`` (tests/web/conftest.py, with ``time.time`` and openpyxl's dates); a job's report
reads its submission instant, so the jobs' clock is set to the same ``FROZEN``
(:func:`~tests.web.jobs_support.set_job_clock`). The files are then compared byte for byte (an xlsx
member by member: openpyxl dates its worksheets' temporary files, see test_doors).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from spoo_export_plugin.formats import FORMATS, click_formats

from .jobs_support import (
    JOBS,
    RANGE,
    STATISTICS,
    get_path,
    job_settings,
    jobs_client,
    seed,
    set_job_clock,
    split,
    submit,
)
from .test_doors import assert_same_workbook

#: HTTP-level: each test runs through both doors (WSGI and ASGI, tests/doors.py).
pytestmark = pytest.mark.usefixtures("door")

#: Every export route with every format it has.
ROUTES_AND_FORMATS = [(kind, fmt) for kind in ("statistics", "link") for fmt in sorted(FORMATS)] + [
    ("clicks", fmt) for fmt in sorted(click_formats())
]
#: The headers a downloaded file carries, on the GET and on the job's file alike.
FILE_HEADERS = ("content-type", "content-disposition", "x-content-type-options", "cache-control")


@pytest.fixture
def data(db: Any) -> dict[str, Any]:
    return seed(db)


def query_for(kind: str, fmt: str) -> dict[str, str]:
    return {**(STATISTICS if kind == "statistics" else RANGE), "format": fmt}


def file_headers(result: Any) -> dict[str, str | None]:
    names = FILE_HEADERS + (("content-security-policy",) if result.headers.get("content-security-policy") else ())
    return {name: result.headers.get(name) for name in names}


def assert_same_file(job_file: bytes, get_file: bytes, fmt: str) -> None:
    if fmt == "xlsx":
        assert_same_workbook(job_file, get_file)
    else:
        assert job_file == get_file


@pytest.mark.parametrize("kind, fmt", ROUTES_AND_FORMATS)
def test_a_jobs_file_is_the_gets_file(kind, fmt, data, frozen_clock):
    client = jobs_client(job_settings(data["db"]))
    set_job_clock(client, lambda: frozen_clock)
    url = get_path(kind, data, query_for(kind, fmt))
    path, query = split(url)
    get = client.simulate_get(path, query_string=query, headers=data["auth"])
    assert get.status_code == 200, get.text

    submitted = submit(client, url, data["auth"])
    assert submitted.status_code == 202, submitted.text
    job = submitted.json
    assert submitted.headers["content-type"] == "application/json"
    assert submitted.headers["location"] == f"{JOBS}/{job['id']}"
    assert (job["status"], job["url"], job["error"]) == ("done", url, None)  # immediate:// ran it already
    assert job["created_at"] == "2026-02-03T04:05:06Z"
    owned = client.simulate_get(f"{JOBS}/{job['id']}/file", headers=data["auth"])
    file_path, token_query = split(job["file_url"])
    assert file_path == f"{JOBS}/{job['id']}/file" and token_query.startswith("token=")
    by_token = client.simulate_get(file_path, query_string=token_query)  # no credentials at all

    for download in (owned, by_token):
        assert download.status_code == 200, download.text
        assert file_headers(download) == file_headers(get)
        assert int(download.headers["content-length"]) == job["size"] == len(download.content)
        assert_same_file(download.content, get.content, fmt)
    if fmt == "html":
        assert file_headers(owned)["content-security-policy"]


def test_generated_at_is_the_submission_instant(data):
    """Unfrozen: the report says when the job was submitted (its dates were read then), not when it ran."""
    client = jobs_client(job_settings(data["db"]))
    submitted_at = dt.datetime(2026, 5, 6, 7, 8, 9, 123_000, tzinfo=dt.timezone.utc)
    set_job_clock(client, lambda: submitted_at)
    job = submit(client, get_path("statistics", data, query_for("statistics", "json")), data["auth"]).json
    report = client.simulate_get(f"{JOBS}/{job['id']}/file", headers=data["auth"]).json
    assert report["generated_at"].startswith("2026-05-06T07:08:09.123")
    assert report["summary"]["total_clicks"] == data["clicks"]


def test_list_look_at_and_delete(data):
    client = jobs_client(job_settings(data["db"]))
    urls = [get_path("clicks", data, query_for("clicks", fmt)) for fmt in ("csv", "json")]
    ids = [submit(client, url, data["auth"]).json["id"] for url in urls]

    listed = client.simulate_get(JOBS, headers=data["auth"])
    assert listed.status_code == 200 and listed.headers["cache-control"] == "private, no-store"
    assert [job["id"] for job in listed.json["jobs"]] == ids[::-1]  # newest first
    assert client.simulate_get(JOBS, headers=data["other_auth"]).json == {"jobs": []}

    one = client.simulate_get(f"{JOBS}/{ids[0]}", headers=data["auth"])
    assert one.status_code == 200 and one.json == listed.json["jobs"][1]
    assert one.headers["cache-control"] == "private, no-store"

    deleted = client.simulate_delete(f"{JOBS}/{ids[0]}", headers=data["auth"])
    assert (deleted.status_code, deleted.content) == (204, b"")
    for method in ("GET", "DELETE"):
        gone = client.simulate_request(method, f"{JOBS}/{ids[0]}", headers=data["auth"])
        assert gone.status_code == 404 and gone.json["error"]
    assert client.simulate_get(f"{JOBS}/{ids[0]}/file", headers=data["auth"]).status_code == 404
    assert [job["id"] for job in client.simulate_get(JOBS, headers=data["auth"]).json["jobs"]] == ids[1:]


@pytest.mark.parametrize("job_id", ["other", "650000000000000000000123", "nope", "%00", "ü"])
def test_another_owners_or_an_unknown_job_is_404(data, job_id):
    client = jobs_client(job_settings(data["db"]))
    mine = submit(client, get_path("clicks", data, query_for("clicks", "csv")), data["auth"]).json
    target = mine["id"] if job_id == "other" else job_id
    for method, path in (("GET", ""), ("DELETE", ""), ("GET", "/file"), ("HEAD", ""), ("HEAD", "/file")):
        refused = client.simulate_request(method, f"{JOBS}/{target}{path}", headers=data["other_auth"])
        assert refused.status_code == 404, (method, path, refused.text)
    assert client.simulate_get(f"{JOBS}/{mine['id']}", headers=data["auth"]).json["status"] == "done"  # not deleted


def test_the_file_url_token(data):
    client = jobs_client(job_settings(data["db"]))
    first, second = (
        submit(client, get_path("clicks", data, query_for("clicks", f)), data["auth"]).json for f in ("csv", "json")
    )
    path, query = split(first["file_url"])
    token = query.removeprefix("token=")
    altered = token[:-1] + ("A" if token[-1] != "A" else "B")
    cases = {
        "forged": (path, "token=" + "x" * len(token), 403),
        "altered": (path, "token=" + altered, 403),
        "another job's": (f"{JOBS}/{second['id']}/file", query, 403),
        "none": (path, "", 401),
        "empty": (path, "token=", 401),
        "twice": (path, f"{query}&{query}", 400),
    }
    for name, (where, query_string, status) in cases.items():
        refused = client.simulate_get(where, query_string=query_string)
        assert refused.status_code == status, (name, refused.text)
        assert set(refused.json) == {"error", "param"}
        if status == 401:
            assert refused.headers["www-authenticate"] == "Bearer"
    assert (
        client.simulate_get(path, query_string=query, headers=data["other_auth"]).status_code == 200
    )  # the token suffices


def test_an_expired_file_is_410_and_deleted(data):
    client = jobs_client(job_settings(data["db"], job_ttl_seconds=60))
    now = [dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)]
    set_job_clock(client, lambda: now[0])
    job = submit(client, get_path("clicks", data, query_for("clicks", "csv")), data["auth"]).json
    assert job["expires_at"] == "2026-01-01T00:01:00Z"
    path, query = split(job["file_url"])
    assert client.simulate_get(path, query_string=query).status_code == 200
    now[0] += dt.timedelta(seconds=61)
    for _ in range(2):  # and stays gone
        assert client.simulate_get(path, query_string=query).status_code == 410
        assert client.simulate_get(path, headers=data["auth"]).status_code == 410
    assert data["db"]["export_files.files"].count_documents({}) == 0


def test_head_answers_like_get_without_a_body(data):
    client = jobs_client(job_settings(data["db"]))
    job = submit(client, get_path("statistics", data, query_for("statistics", "xlsx")), data["auth"]).json
    for path, headers in (
        (f"{JOBS}/{job['id']}", data["auth"]),
        (f"{JOBS}/{job['id']}/file", data["auth"]),
        (JOBS, data["auth"]),
        (f"{JOBS}/{job['id']}/file", {}),  # 401
        (f"{JOBS}/{job['id']}", data["other_auth"]),  # 404
    ):
        get, head = client.simulate_get(path, headers=headers), client.simulate_head(path, headers=headers)
        assert head.status_code == get.status_code and head.content == b""
        ignored = {"date", "x-ratelimit-remaining", "x-ratelimit-reset"}  # HEAD counts against the limit too
        assert {k: v for k, v in head.headers.items() if k not in ignored} == {
            k: v for k, v in get.headers.items() if k not in ignored
        }, path


def test_under_a_mount_prefix_location_and_file_url_carry_it(data):
    client = jobs_client(job_settings(data["db"]))
    for url in (
        get_path("clicks", data, query_for("clicks", "csv")),
        "/stats" + get_path("clicks", data, query_for("clicks", "csv")),  # as the client sends the GET
    ):
        submitted = client.simulate_post(JOBS, json={"url": url}, headers=data["auth"], root_path="/stats")
        assert submitted.status_code == 202, submitted.text
        job = submitted.json
        assert submitted.headers["location"] == f"/stats{JOBS}/{job['id']}"
        assert job["file_url"].startswith(f"/stats{JOBS}/{job['id']}/file?token=")
        assert job["url"] == get_path("clicks", data, query_for("clicks", "csv"))
        listed = client.simulate_get(JOBS, headers=data["auth"], root_path="/stats").json["jobs"][0]
        assert listed["file_url"] == job["file_url"]
    unmounted = client.simulate_get(f"{JOBS}/{job['id']}", headers=data["auth"]).json
    assert unmounted["file_url"].startswith(f"{JOBS}/{job['id']}/file?token=")
