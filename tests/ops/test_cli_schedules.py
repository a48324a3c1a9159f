"""``spoo-export run-schedules --now`` and ``spoo-export scheduler`` against SecantusDB over TCP: a
schedule made through ScheduleStore, run by the commands with settings from flags (and the environment,
for the installed script), as an operator runs them."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook

from spoo_export_plugin import ExportSettings
from spoo_export_plugin.jobs.service import JobService
from spoo_export_plugin.jobs.webhooks import check_webhook_url
from spoo_export_plugin.ops import cli
from spoo_export_plugin.schedules.store import ScheduleStore
from spoo_export_plugin.schedules.validation import validate_schedule

from ..factories import ROUTE
from ..jobs.conftest import ME, fill
from ..jobs.webhook_receiver import SECRET, Receiver, serve

pytestmark = pytest.mark.integration

URL = f"{ROUTE}/clicks?format=json&period=last_week"
CREATED = datetime(2025, 3, 5, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def no_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("SPOO_EXPORT_")]:
        monkeypatch.delenv(name)


@pytest.fixture
def receiver() -> Any:
    with serve(Receiver()) as running:
        yield running


def flags(mongo_db: Any, uri: str) -> list[str]:
    return [
        "--mongodb-uri", uri,
        "--database-name", mongo_db.name,
        "--job-queue", "immediate://",
        "--visitor-id-secret", "k" * 40,
        "--webhook-secret", SECRET,
        "--webhook-allow-http",
        "--webhook-allow-private",
    ]  # fmt: skip


def make_schedule(mongo_db: Any, receiver: Receiver, *, cron: str = "0 8 * * 1", created: datetime = CREATED) -> Any:
    fill(mongo_db)
    settings = ExportSettings(
        database=mongo_db, webhook_secret=SECRET, webhook_allow_http=True, webhook_allow_private=True
    )
    body = {"url": URL, "cron": cron, "timezone": "Europe/Berlin", "webhook_url": receiver.url()}
    spec = validate_schedule(body, settings, check_webhook_url=check_webhook_url)
    return settings, ScheduleStore(settings).create(ME, spec, now=created)["_id"]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["run-schedules", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_run_schedules_twice_is_idempotent_and_prints_json_lines(
    mongo_db: Any, secantus_uri: str, receiver: Receiver, capsys: Any
) -> None:
    settings, schedule_id = make_schedule(mongo_db, receiver)
    code, out, err = run(capsys, "--now", "2025-03-17T07:30:00Z", *flags(mongo_db, secantus_uri))
    assert (code, err) == (0, "")
    [line] = out.splitlines()
    job = json.loads(line)
    assert job["status"] == "done" and job["url"] == f"{URL}&timezone=Europe/Berlin"
    assert JobService(settings.replace(job_queue="immediate://")).get(ME, job["id"]) == job
    saved = mongo_db[settings.jobs_collection].find_one({"schedule_id": schedule_id})
    assert saved["as_of"] == datetime(2025, 3, 17, 7, 0)  # only the latest missed slot (the 10th passed over)
    assert run(capsys, "--now", "2025-03-17T07:30:00Z", *flags(mongo_db, secantus_uri)) == (0, "", "")
    assert run(capsys, "--now", "2025-03-17T09:30:00+01:00", *flags(mongo_db, secantus_uri)) == (0, "", "")
    [request] = receiver.requests
    assert Webhook(SECRET).verify(request.body, request.headers)["data"]["id"] == job["id"]


@pytest.mark.parametrize(
    ("now", "message"),
    [
        ("yesterday", "'yesterday' is not an ISO 8601 date-time, e.g. 2025-03-10T07:00:00Z"),
        ("2025-03-17T07:30:00", "'2025-03-17T07:30:00' has no offset; say which instant it is"),
    ],
)
def test_a_bad_now_is_exit_2_with_a_clear_message(capsys: Any, now: str, message: str) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["run-schedules", "--now", now, "--mongodb-uri", "mongodb://127.0.0.1:1"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "run-schedules: error: argument --now: " + message in err


def test_without_job_queue_it_is_exit_2(mongo_db: Any, secantus_uri: str, capsys: Any) -> None:
    code, out, err = run(capsys, "--now", "2025-03-17T07:30:00Z", "--mongodb-uri", secantus_uri)
    assert (code, out) == (2, "")
    assert err.startswith("spoo-export: error: scheduled reports run as export jobs: set job_queue")


def test_the_scheduler_runs_due_slots_and_stops_on_sigterm(
    mongo_db: Any, secantus_uri: str, receiver: Receiver, tmp_path: Path
) -> None:
    """The installed console script, settings from the environment: a slot due a minute ago runs at the
    first tick; SIGTERM ends it with exit code 0."""
    now = datetime.now(timezone.utc)
    make_schedule(mongo_db, receiver, cron="* * * * *", created=now - timedelta(minutes=3))
    script = shutil.which("spoo-export", path=str(Path(sys.executable).parent))
    assert script is not None
    env = {
        "SPOO_EXPORT_MONGODB_URI": secantus_uri,
        "SPOO_EXPORT_DATABASE_NAME": mongo_db.name,
        "SPOO_EXPORT_JOB_QUEUE": "immediate://",
        "SPOO_EXPORT_WEBHOOK_SECRET": SECRET,
        "SPOO_EXPORT_WEBHOOK_ALLOW_HTTP": "true",
        "SPOO_EXPORT_WEBHOOK_ALLOW_PRIVATE": "true",
        "HOME": str(tmp_path),
        "PATH": "/usr/bin",
    }
    process = subprocess.Popen(
        [script, "scheduler", "--interval", "0.5"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    try:
        assert process.stdout is not None
        job = json.loads(process.stdout.readline())  # the first tick's run
        assert job["status"] == "done"
        deadline = time.monotonic() + 30
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    # the first run is the latest of the three missed minutes, once (a later minute may have come since)
    first = Webhook(SECRET).verify(receiver.requests[0].body, receiver.requests[0].headers)
    assert first["data"]["id"] == job["id"]
    assert mongo_db["export_jobs"].count_documents({"url": {"$exists": True}}) == len(receiver.requests) <= 2
    assert "scheduler running" in process.stderr.read().decode()  # type: ignore[union-attr]


def test_a_bad_interval_is_exit_2(capsys: Any) -> None:
    assert cli.main(["scheduler", "--interval", "0", "--mongodb-uri", "mongodb://127.0.0.1:1"]) == 2
    assert capsys.readouterr().err == "spoo-export: error: --interval must be a positive number of seconds\n"


def test_an_unreachable_database_is_exit_1(capsys: Any) -> None:
    from ..factories import unused_port

    uri = f"mongodb://127.0.0.1:{unused_port()}/"
    code, out, err = run(
        capsys, "--now", "2025-03-17T07:30:00Z", "--mongodb-uri", uri, "--server-selection-timeout-ms", "300",
        "--job-queue", "immediate://",
    )  # fmt: skip
    assert (code, out) == (1, "")
    assert err == "spoo-export: error: the statistics database is unreachable; try again shortly\n"
