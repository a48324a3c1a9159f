"""A real ``spoo-export worker`` killed with SIGKILL mid-write (SecantusDB over TCP, a SQLite queue):
the job is run again and delivered once, whole, with no orphan chunk; killed three times it fails in
words; SIGTERM puts a running job back without counting the attempt."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import falcon.testing
import pytest
from bson import ObjectId

from spoo_export_plugin import ExportSettings, create_app
from spoo_export_plugin.jobs.service import JobService
from spoo_export_plugin.jobs.stored_files import utc

from ..factories import ROUTE, add_api_key, add_url, make_click
from .conftest import ME, VISITOR_KEY

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCRIPT = shutil.which("spoo-export", path=str(Path(sys.executable).parent)) or shutil.which("spoo-export")
#: 25,000 raw clicks as json: ~7 MB, some 30 GridFS chunks written over seconds on SecantusDB, so a
#: signal sent once the first chunk is stored lands mid-write even on a loaded machine (a csv zip of
#: the same clicks is 2 chunks: the worker could finish between the check and the signal).
CLICKS = 25_000
URL = f"{ROUTE}/clicks?format=json&start_date=2025-02-01&end_date=2025-02-28"
LEASE = 2


@pytest.fixture
def env(mongo_db: Any, secantus_uri: str, tmp_path: Path) -> dict[str, Any]:
    add_url(mongo_db, "mine", ME, created_at=datetime(2025, 1, 1))
    base = datetime(2025, 2, 1)
    docs = [
        make_click(
            "mine", ME, base + timedelta(seconds=i * 37), city=f"City {i % 700}", ip_address=f"10.{i % 251}.{i % 13}.9"
        )
        for i in range(CLICKS)
    ]
    for start in range(0, CLICKS, 10_000):
        mongo_db.clicks.insert_many(docs[start : start + 10_000])
    queue = f"sqlite:///{tmp_path}/queue.db"
    settings = ExportSettings(
        database=mongo_db, job_queue=queue, job_lease_seconds=LEASE, visitor_id_secret=VISITOR_KEY
    )
    worker_env = {k: v for k, v in os.environ.items() if not k.startswith("SPOO_EXPORT_")}
    worker_env.update(
        SPOO_EXPORT_MONGODB_URI=secantus_uri,
        SPOO_EXPORT_DATABASE_NAME=mongo_db.name,
        SPOO_EXPORT_JOB_QUEUE=queue,
        SPOO_EXPORT_JOB_LEASE_SECONDS=str(LEASE),
        SPOO_EXPORT_VISITOR_ID_SECRET=VISITOR_KEY,
    )
    return {"db": mongo_db, "service": JobService(settings), "settings": settings, "env": worker_env, "tmp": tmp_path}


@pytest.fixture
def workers(env: dict[str, Any]) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        assert SCRIPT, "the spoo-export console script is not installed"
        log = open(env["tmp"] / f"worker{len(started)}.log", "wb")  # closed when the process ends
        process = subprocess.Popen([SCRIPT, "worker", "--workers", "1"], env=env["env"], stdout=log, stderr=log)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def job_doc(env: dict[str, Any], job_id: str) -> dict[str, Any]:
    return env["db"].export_jobs.find_one({"_id": ObjectId(job_id)})


def chunks_of(env: dict[str, Any], file_id: Any) -> int:
    return int(env["db"]["export_files.chunks"].count_documents({"files_id": file_id})) if file_id else 0


def mid_write(env: dict[str, Any], job_id: str, attempt: int) -> bool:
    """The given attempt is running and has chunks in GridFS (and no files document: not finished)."""
    doc = job_doc(env, job_id)
    return (
        doc["status"] == "running"
        and doc["attempts"] == attempt
        and chunks_of(env, doc.get("writing_file_id")) > 0
        and env["db"]["export_files.files"].count_documents({"_id": doc["writing_file_id"]}) == 0
    )


def the_gets_file(env: dict[str, Any], as_of: datetime) -> bytes:
    client = falcon.testing.TestClient(create_app(env["settings"]))
    client.app._router.find(ROUTE)[0].exporter.clock = lambda: as_of
    path, _, query = URL.partition("?")
    got = client.simulate_get(
        path, query_string=query, headers={"Authorization": f"Bearer {add_api_key(env['db'], ME)}"}
    )
    assert got.status_code == 200
    return got.content


def test_a_job_killed_mid_write_is_delivered_once_by_the_next_worker(env: dict[str, Any], workers: Any) -> None:
    job = env["service"].submit(ME, URL, None)
    first = workers()
    wait_until(lambda: mid_write(env, job["id"], 1), 60, "the first attempt to be mid-write")
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    killed = job_doc(env, job["id"])
    assert killed["status"] == "running" and chunks_of(env, killed["writing_file_id"]) > 0  # a half file, for now
    second = workers()
    done = wait_until(
        lambda: (d := job_doc(env, job["id"]))["status"] in ("done", "failed") and d, 90, "the job to end"
    )
    assert done["status"] == "done", done.get("error")
    assert done["attempts"] == 2
    db = env["db"]
    assert db["export_files.files"].count_documents({}) == 1
    assert db["export_files.chunks"].count_documents({"files_id": {"$ne": done["file_id"]}}) == 0  # no orphan
    body = b"".join(env["service"].open_file(job["id"], owner_id=ME).open())
    assert body == the_gets_file(env, utc(done["as_of"]))
    import gridfs  # any GridFS reader reads it (pymongo's own, here)

    assert gridfs.GridFSBucket(db, bucket_name="export_files").open_download_stream(done["file_id"]).read() == body
    second.send_signal(signal.SIGTERM)
    assert second.wait(20) == 0


def test_sigterm_steps_back_and_three_kills_fail_the_job(env: dict[str, Any], workers: Any) -> None:
    job = env["service"].submit(ME, URL, None)
    polite = workers()
    wait_until(lambda: mid_write(env, job["id"], 1), 60, "the first attempt to be mid-write")
    polite.send_signal(signal.SIGTERM)
    assert polite.wait(20) == 0
    back = job_doc(env, job["id"])
    assert back["status"] == "queued" and back["attempts"] == 0  # a stop asked for does not count
    assert env["db"]["export_files.chunks"].count_documents({}) == 0
    for attempt in (1, 2, 3):
        worker = workers()
        wait_until(lambda a=attempt: mid_write(env, job["id"], a), 60, f"attempt {attempt} to be mid-write")
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    last = workers()
    failed = wait_until(lambda: (d := job_doc(env, job["id"]))["status"] != "running" and d, 30, "the job to fail")
    assert failed["status"] == "failed" and failed["attempts"] == 3
    assert failed["error"] == (
        "the export was interrupted 3 times (a worker stopped while writing it); "
        "try a shorter date range or ask the operator"
    )
    # The reaper fails the job first, then deletes the killed attempt's chunks (in that order: an
    # attempt that was only slow could still finish until the job is failed): wait for the second step.
    wait_until(lambda: env["db"]["export_files.chunks"].count_documents({}) == 0, 10, "the partial file to go")
    assert env["db"]["export_files.files"].count_documents({}) == 0
    assert env["service"].get(ME, job["id"])["error"] == failed["error"]
    last.send_signal(signal.SIGTERM)
    assert last.wait(20) == 0
