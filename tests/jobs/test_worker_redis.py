"""The Redis queue (many machines): a job submitted by one process runs in a ``spoo-export worker``
that consumes ``redis://``, on SecantusDB over TCP; deployments sharing the Redis keep their queues
apart."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from spoo_export_plugin import ExportSettings
from spoo_export_plugin.jobs.service import JobService

from ..factories import ROUTE, add_url, make_click, redis_url_or_skip
from .conftest import ME
from .test_worker_kill import SCRIPT

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_worker_on_redis_runs_the_job(mongo_db: Any, secantus_uri: str, tmp_path: Path) -> None:
    redis_url = redis_url_or_skip()
    add_url(mongo_db, "mine", ME, created_at=datetime(2025, 3, 1))
    mongo_db.clicks.insert_many([make_click("mine", ME, datetime(2025, 3, 2, h)) for h in range(24)])
    settings = ExportSettings(database=mongo_db, job_queue=redis_url)
    service = JobService(settings)
    other_deployment = JobService(settings.replace(jobs_collection="their_jobs"))
    assert service.queue is not None and other_deployment.queue is not None
    assert service.queue.huey.name != other_deployment.queue.huey.name
    service.queue.huey.flush()
    job = service.submit(ME, f"{ROUTE}?format=json&start_date=2025-03-01&end_date=2025-03-03", None)
    assert job["status"] == "queued" and service.queue.huey.pending_count() == 1
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPOO_EXPORT_")}
    env.update(
        SPOO_EXPORT_MONGODB_URI=secantus_uri, SPOO_EXPORT_DATABASE_NAME=mongo_db.name, SPOO_EXPORT_JOB_QUEUE=redis_url
    )
    assert SCRIPT
    with open(tmp_path / "worker.log", "wb") as log:
        worker = subprocess.Popen([SCRIPT, "worker"], env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while (status := service.get(ME, job["id"])["status"]) not in ("done", "failed"):
            assert time.monotonic() < deadline, f"the job is still {status}"
            time.sleep(0.1)
    finally:
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(20)
    assert status == "done" and code == 0
    body = b"".join(service.open_file(job["id"], owner_id=ME).open())
    assert b'"total_clicks":24' in body
