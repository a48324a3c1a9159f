"""JobService on mongomock with ``immediate://``: every route and format gives the GET's file, and
owners, the cap, tokens, expiry and deletion behave as the contract says."""

from __future__ import annotations

import json
from typing import Any

import pytest

from spoo_export_plugin.core.exceptions import (
    BadRequest,
    Conflict,
    Forbidden,
    Gone,
    NotFound,
    RateLimited,
    Unauthorized,
)
from spoo_export_plugin.formats import FORMATS, click_formats

from ..factories import ROUTE
from .conftest import ME, NOW, OTHER, World, comparable, files_in, read

STATISTICS = [
    # defaults (start: the owner's oldest URL; end: now) read at the job's as_of
    f"{ROUTE}?format={{fmt}}&group_by=time,browser,country&timezone=Europe/Paris",
    f"{ROUTE}?format={{fmt}}&period=last_7_days&group_by=time,short_code&metrics=clicks,unique_clicks,share",
]


def cases() -> list[tuple[str, str]]:
    out = [(url.replace("{{fmt}}", "{fmt}"), fmt) for url in STATISTICS for fmt in FORMATS]
    out += [(f"{ROUTE}/links/{{mine}}?format={fmt}&group_by=time,os", fmt) for fmt in FORMATS]
    out += [(f"{ROUTE}/clicks?format={fmt}&start_date=2025-03-06", fmt) for fmt in click_formats()]
    return out


@pytest.mark.parametrize(("template", "fmt"), cases())
def test_a_job_file_is_the_get_file(world: World, template: str, fmt: str) -> None:
    url = template.format(fmt=fmt, mine=world.ids["mine"])
    got = world.get(url)
    assert got.status_code == 200, got.text
    job = world.service.submit(ME, url, None)
    assert job["status"] == "done", job
    file = world.service.open_file(job["id"], owner_id=ME)
    body = b"".join(file.open())
    assert file.media_type == got.headers["content-type"]
    assert file.disposition == got.headers["content-disposition"]
    assert file.size == len(body) == job["size"]
    assert comparable(body, file.media_type) == comparable(got.content, file.media_type)
    extra = {k.lower(): v for k, v in file.headers}
    for name, value in extra.items():  # the html report's Content-Security-Policy, as the GET sends it
        assert got.headers[name] == value


def test_job_object_fields(world: World) -> None:
    url = f"{ROUTE}?format=json"
    job = world.service.submit(ME, url, None)
    assert set(job) == {
        "id",
        "status",
        "url",
        "created_at",
        "started_at",
        "finished_at",
        "size",
        "file_url",
        "expires_at",
        "error",
    }
    assert job["url"] == url and job["error"] is None
    assert job["created_at"] == job["started_at"] == job["finished_at"] == "2025-03-20T12:30:15Z"
    assert job["expires_at"] == "2025-03-21T12:30:15Z"  # job_ttl_seconds after finishing
    assert job["file_url"].startswith(f"{ROUTE}/jobs/{job['id']}/file?token={job['id']}.")
    assert world.service.get(ME, job["id"]) == job
    report = json.loads(read(world.service, job["id"], owner_id=ME))
    assert report["generated_at"].startswith("2025-03-20T12:30:15.123")  # the job's as_of


@pytest.mark.parametrize(
    ("owner", "url", "error", "param"),
    [
        (None, f"{ROUTE}?format=json", Unauthorized, "Authorization"),
        (ME, "https://evil.example/api/v1/export?format=json", BadRequest, "url"),
        (ME, "/elsewhere?format=json", BadRequest, "url"),
        (ME, f"{ROUTE}?format=pdf", BadRequest, "format"),
        (ME, f"{ROUTE}?format=json&timezone=Mars/Olympus", BadRequest, "timezone"),
        (ME, f"{ROUTE}/clicks?format=html", BadRequest, "format"),
    ],
)
def test_submission_refuses_what_the_get_refuses(world: World, owner: Any, url: str, error: type, param: str) -> None:
    with pytest.raises(error) as caught:
        world.service.submit(owner, url, None)
    assert caught.value.param == param
    if owner is not None and url.startswith(ROUTE):
        got = world.get(url)
        assert got.status_code == error.status and got.json["param"] == param
    assert world.db.export_jobs.count_documents({"owner_id": {"$exists": True}}) == 0


def test_another_owners_link_is_the_gets_404(world: World) -> None:
    url = f"{ROUTE}/links/{world.ids['theirs']}?format=json"
    got = world.get(url)
    with pytest.raises(NotFound):
        world.service.submit(ME, url, None)
    assert got.status_code == 404


def test_owners_are_isolated(world: World) -> None:
    job = world.service.submit(ME, f"{ROUTE}?format=csv", None)
    for call in (
        lambda: world.service.get(OTHER, job["id"]),
        lambda: world.service.open_file(job["id"], owner_id=OTHER),
        lambda: world.service.delete(OTHER, job["id"]),
    ):
        with pytest.raises(NotFound):
            call()
    assert world.service.list(OTHER) == []
    assert [j["id"] for j in world.service.list(ME)] == [job["id"]]
    assert read(world.service, job["id"], owner_id=ME)  # still there
    for unknown in ("000000000000000000000000", "nope", "6500000000000000000000zz"):
        with pytest.raises(NotFound):
            world.service.get(ME, unknown)
    with pytest.raises(Unauthorized):
        world.service.open_file(job["id"])
    with pytest.raises(Unauthorized):
        world.service.list(None)


def test_list_is_newest_first_and_capped(world: World) -> None:
    ids = []
    for _ in range(3):
        ids.append(world.service.submit(ME, f"{ROUTE}?format=json", None)["id"])
        world.clock.advance(seconds=1)
    assert [j["id"] for j in world.service.list(ME)] == ids[::-1]
    more = [{"owner_id": ME, "status": "done", "created_at": NOW, "url": "x"} for _ in range(120)]
    world.db.export_jobs.insert_many(more)
    assert len(world.service.list(ME)) == 100


def test_the_cap_counts_queued_and_running_jobs(world: World, tmp_path: Any) -> None:
    queued = world.service_with(job_queue=f"sqlite:///{tmp_path}/q.db")  # no worker: jobs stay queued
    jobs = [queued.submit(ME, f"{ROUTE}?format=json", None) for _ in range(3)]
    assert {j["status"] for j in jobs} == {"queued"}
    with pytest.raises(RateLimited) as caught:
        queued.submit(ME, f"{ROUTE}?format=json", None)
    assert caught.value.status == 429 and caught.value.param is None
    assert world.db.export_jobs.count_documents({"owner_id": ME}) == 3  # the refused one removed itself
    assert queued.submit(OTHER, f"{ROUTE}?format=json", None)["status"] == "queued"  # per owner
    queued.run_job(jobs[0]["id"])  # done jobs do not count
    assert queued.get(ME, jobs[0]["id"])["status"] == "done"
    assert queued.submit(ME, f"{ROUTE}?format=json", None)["status"] == "queued"
    queued.delete(ME, jobs[1]["id"])  # nor cancelled ones
    assert queued.submit(ME, f"{ROUTE}?format=json", None)["status"] == "queued"
    with pytest.raises(RateLimited):
        queued.submit(ME, f"{ROUTE}?format=json", None)


def test_file_url_tokens(world: World) -> None:
    service = world.service
    one = service.submit(ME, f"{ROUTE}?format=json", None)
    two = service.submit(ME, f"{ROUTE}?format=xml", None)
    token = one["file_url"].split("token=")[1]
    assert read(service, one["id"], token=token) == read(service, one["id"], owner_id=ME)
    job_id, expires, signature = token.split(".")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    for bad in (
        f"{job_id}.{expires}.{flipped}",  # altered signature
        f"{job_id}.{int(expires) + 3600}.{signature}",  # a later expiry
        f"{two['id']}.{expires}.{signature}",  # another job named
        "garbage",
        "",
        f"{job_id}.{expires}",
    ):
        with pytest.raises(Forbidden) as caught:
            service.open_file(one["id"], token=bad)
        assert caught.value.param == "token"
    with pytest.raises(Forbidden, match="another job"):  # a valid token of job one, on job two
        service.open_file(two["id"], token=token)
    other_secret = world.service_with(signing_secret="s" * 40)
    with pytest.raises(Forbidden):
        other_secret.open_file(one["id"], token=token)


def test_the_generated_signing_secret_is_shared(world: World) -> None:
    job = world.service.submit(ME, f"{ROUTE}?format=json", None)
    token = job["file_url"].split("token=")[1]
    elsewhere = world.service_with()  # another process: reads the stored secret
    assert read(elsewhere, job["id"], token=token)
    assert world.db.export_jobs.count_documents({"_id": "signing_secret"}) == 1
    configured = world.service_with(signing_secret="c" * 32)
    configured_token = configured.get(ME, job["id"])["file_url"].split("token=")[1]
    assert configured_token != token and read(configured, job["id"], token=configured_token)


@pytest.mark.parametrize("way", ["owner", "token"])
def test_expiry_deletes_the_file(world: World, way: str) -> None:
    job = world.service.submit(ME, f"{ROUTE}/clicks?format=csv&start_date=2025-03-01", None)
    assert files_in(world.db) == (1, 1)
    token = job["file_url"].split("token=")[1]
    world.clock.advance(seconds=86_399)
    assert read(world.service, job["id"], owner_id=ME)  # a second before expiry
    world.clock.advance(seconds=1)
    with pytest.raises(Gone):
        if way == "owner":
            world.service.open_file(job["id"], owner_id=ME)
        else:
            world.service.open_file(job["id"], token=token)
    assert files_in(world.db) == (0, 0)
    after = world.service.get(ME, job["id"])
    assert after["status"] == "done" and after["file_url"] is None
    with pytest.raises(Gone):
        world.service.open_file(job["id"], owner_id=ME)


def test_the_sweep_deletes_expired_files_only(world: World) -> None:
    old = world.service.submit(ME, f"{ROUTE}?format=json", None)
    world.clock.advance(hours=12)
    new = world.service.submit(ME, f"{ROUTE}?format=xml", None)
    world.clock.advance(hours=12)
    world.service.upkeep()
    assert files_in(world.db)[0] == 1
    with pytest.raises(Gone):
        world.service.open_file(old["id"], owner_id=ME)
    assert read(world.service, new["id"], owner_id=ME)


def test_delete_removes_the_job_and_its_file(world: World) -> None:
    job = world.service.submit(ME, f"{ROUTE}?format=xlsx", None)
    assert files_in(world.db) == (1, 1)
    world.service.delete(ME, job["id"])
    assert files_in(world.db) == (0, 0)
    for call in (
        lambda: world.service.get(ME, job["id"]),
        lambda: world.service.delete(ME, job["id"]),
        lambda: world.service.open_file(job["id"], owner_id=ME),
        lambda: world.service.open_file(job["id"], token=job["file_url"].split("token=")[1]),
    ):
        with pytest.raises(NotFound):
            call()


def test_not_done_is_a_conflict(world: World, tmp_path: Any) -> None:
    queued = world.service_with(job_queue=f"sqlite:///{tmp_path}/q.db")
    job = queued.submit(ME, f"{ROUTE}?format=json", None)
    with pytest.raises(Conflict) as caught:
        queued.open_file(job["id"], owner_id=ME)
    assert caught.value.status == 409
    assert job["file_url"] is None and job["size"] is None and job["expires_at"] is None
