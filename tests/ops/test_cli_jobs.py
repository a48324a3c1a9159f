"""``spoo-export jobs list|get|download`` against SecantusDB over TCP: jobs submitted through the real
JobService (done, queued with no worker, failed, expired, another owner's), read back by the
command with settings from flags, as an operator runs it."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId

from spoo_export_plugin import ExportSettings
from spoo_export_plugin.jobs.service import JobService
from spoo_export_plugin.ops import cli
from spoo_export_plugin.ops.cli_jobs import EXIT_EXPIRED, EXIT_NOT_DONE, filename_of

from ..factories import ROUTE, unused_port
from ..jobs.conftest import ME, OTHER, files_in, fill

pytestmark = pytest.mark.integration

CLICKS_CSV = f"{ROUTE}/clicks?format=csv&start_date=2025-03-06&end_date=2025-03-15"
STATS_JSON = f"{ROUTE}?format=json&start_date=2025-03-06&end_date=2025-03-15&group_by=browser"


@pytest.fixture(autouse=True)
def no_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in [n for n in os.environ if n.startswith("SPOO_EXPORT_")]:
        monkeypatch.delenv(name)


@pytest.fixture
def jobs(mongo_db: Any, secantus_uri: str, tmp_path: Path) -> dict[str, Any]:
    """One job in each state, the first two of ME done (oldest first), then OTHER's, ME's queued,
    failed and expired ones."""
    fill(mongo_db)
    settings = ExportSettings(database=mongo_db, job_queue="immediate://", visitor_id_secret="k" * 40)
    service = JobService(settings)
    stamps = iter(datetime.now(timezone.utc) - timedelta(minutes=30 - i) for i in range(10))

    def submit(owner: Any, url: str, **changes: Any) -> str:
        moment = next(stamps)
        job_settings = settings.replace(**changes) if changes else settings
        return JobService(job_settings, clock=lambda: moment).submit(owner, url, None)["id"]

    ids = {
        "csv": submit(ME, CLICKS_CSV),
        "json": submit(ME, STATS_JSON),
        "theirs": submit(OTHER, f"{ROUTE}?format=xml&start_date=2025-03-06&end_date=2025-03-15"),
        "queued": submit(ME, STATS_JSON, job_queue=f"sqlite:///{tmp_path}/jobs.db"),  # no worker runs it
        "failed": submit(ME, STATS_JSON, job_queue=f"sqlite:///{tmp_path}/jobs.db"),
    }
    failing = ObjectId(ids["failed"])
    assert service.records.claim(failing, ObjectId()) is not None  # a worker took it...
    assert service.records.fail(failing, 1, "the statistics database was unreachable for 3 attempts")  # ...and failed
    two_days_ago = datetime.now(timezone.utc) - timedelta(days=2)
    ids["expired"] = JobService(settings, clock=lambda: two_days_ago).submit(ME, CLICKS_CSV, None)["id"]
    db_args = ["--mongodb-uri", secantus_uri, "--database-name", mongo_db.name]
    return {"ids": ids, "service": service, "db": mongo_db, "db_args": db_args}


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["jobs", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_every_owners_jobs_newest_first(jobs: dict[str, Any], capsys: Any) -> None:
    ids = jobs["ids"]
    code, out, err = run(capsys, "list", *jobs["db_args"])
    assert (code, err) == (0, "")
    header, *lines = out.splitlines()
    assert header.split() == ["ID", "STATUS", "CREATED", "SIZE", "OWNER", "URL"]
    assert [line.split()[0] for line in lines] == [
        ids[name] for name in ("failed", "queued", "theirs", "json", "csv", "expired")
    ]
    failed, queued, theirs = (line.split() for line in lines[:3])
    assert failed[1:2] + failed[3:5] == ["failed", "-", str(ME)]
    assert queued[1:2] + queued[3:5] + queued[5:] == ["queued", "-", str(ME), STATS_JSON]
    assert theirs[1] == "done" and theirs[-2] == str(OTHER)


def test_list_filters_by_owner_and_status_and_limits(jobs: dict[str, Any], capsys: Any) -> None:
    ids = jobs["ids"]
    code, out, _ = run(capsys, "list", "--owner", str(OTHER), *jobs["db_args"])
    assert code == 0 and [line.split()[0] for line in out.splitlines()[1:]] == [ids["theirs"]]
    code, out, _ = run(capsys, "list", "--status", "done", "--owner", str(ME), "--json", *jobs["db_args"])
    listed = json.loads(out)["jobs"]
    assert [job["id"] for job in listed] == [ids["json"], ids["csv"], ids["expired"]]
    code, out, _ = run(capsys, "list", "--limit", "2", "--json", *jobs["db_args"])
    assert [job["id"] for job in json.loads(out)["jobs"]] == [ids["failed"], ids["queued"]]
    code, _, err = run(capsys, "list", "--limit", "0", *jobs["db_args"])
    assert (code, err) == (2, "spoo-export: error: --limit must be at least 1\n")


def test_get_prints_the_api_job_object_plus_the_owner(jobs: dict[str, Any], capsys: Any) -> None:
    service, job_id = jobs["service"], jobs["ids"]["csv"]
    code, out, err = run(capsys, "get", job_id, *jobs["db_args"])
    assert (code, err) == (0, "")
    shown = json.loads(out)
    assert shown == {**service.get(ME, job_id), "owner_id": str(ME)}  # file_url signed with the same key
    assert shown["status"] == "done" and shown["file_url"].startswith(f"{ROUTE}/jobs/{job_id}/file?token=")
    code, out, _ = run(capsys, "get", jobs["ids"]["failed"], *jobs["db_args"])
    assert json.loads(out)["error"] == "the statistics database was unreachable for 3 attempts"


@pytest.mark.parametrize("job_id", ["0123456789abcdef01234567", "not-an-id"])
def test_an_unknown_job_is_exit_1(jobs: dict[str, Any], capsys: Any, job_id: str) -> None:
    for command in ("get", "download"):
        code, out, err = run(capsys, command, job_id, *jobs["db_args"])
        assert (code, out, err) == (1, "", f"spoo-export: error: no export job {job_id!r}\n")


def test_download_writes_the_stored_file_under_its_own_name(
    jobs: dict[str, Any], capsys: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service, job_id = jobs["service"], jobs["ids"]["csv"]
    stored = service.open_file(job_id, owner_id=ME)
    expected = b"".join(stored.open())
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "download", job_id, *jobs["db_args"])
    assert (code, out, err) == (0, "", "")  # quiet when not on a terminal
    written = tmp_path / filename_of(stored.disposition)
    assert written.name.startswith("spoo-export_clicks_") and written.suffix == ".zip"
    assert written.read_bytes() == expected and zipfile.is_zipfile(written)
    code, _, _ = run(capsys, "download", jobs["ids"]["json"], "-o", str(tmp_path / "stats.json"), *jobs["db_args"])
    report = json.loads((tmp_path / "stats.json").read_text())
    assert code == 0 and report["summary"]["total_clicks"] == 9 * 6  # ME's 6 a day, March 6 to 14 (fill())
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_download_to_standard_output(jobs: dict[str, Any], capsysbinary: Any) -> None:
    code = cli.main(["jobs", "download", jobs["ids"]["json"], "-o", "-", *jobs["db_args"]])
    out, err = capsysbinary.readouterr()
    assert (code, err) == (0, b"")
    assert out == b"".join(jobs["service"].open_file(jobs["ids"]["json"], owner_id=ME).open())


def test_a_job_without_a_file_yet_or_failed_is_exit_3(jobs: dict[str, Any], capsys: Any, tmp_path: Path) -> None:
    target = tmp_path / "never.json"
    code, out, err = run(capsys, "download", jobs["ids"]["queued"], "-o", str(target), *jobs["db_args"])
    assert (code, out) == (EXIT_NOT_DONE, "")
    assert err == "spoo-export: error: the export job is queued, it has no file; try again when its status is done\n"
    code, _, err = run(capsys, "download", jobs["ids"]["failed"], "-o", str(target), *jobs["db_args"])
    assert code == EXIT_NOT_DONE
    assert err == (
        "spoo-export: error: the export job is failed, it has no file: "
        "the statistics database was unreachable for 3 attempts\n"
    )
    assert not target.exists()


def test_an_expired_file_is_exit_4_and_deleted(jobs: dict[str, Any], capsys: Any, tmp_path: Path) -> None:
    before = files_in(jobs["db"])
    target = tmp_path / "late.zip"
    code, _, err = run(capsys, "download", jobs["ids"]["expired"], "-o", str(target), *jobs["db_args"])
    assert code == EXIT_EXPIRED
    assert err == "spoo-export: error: the job's file has expired and was deleted; submit the export again\n"
    assert not target.exists()
    files, chunks = files_in(jobs["db"])
    assert files == before[0] - 1 and chunks < before[1]


def test_unreachable_database_and_missing_settings(capsys: Any) -> None:
    uri = f"mongodb://127.0.0.1:{unused_port()}/"
    code, out, err = run(capsys, "list", "--mongodb-uri", uri, "--server-selection-timeout-ms", "300")
    assert (code, out) == (1, "")
    assert err == "spoo-export: error: the statistics database is unreachable; try again shortly\n"
    code, _, err = run(capsys, "get", "0123456789abcdef01234567")
    assert (code, err) == (2, "spoo-export: error: give --mongodb-uri URI or set SPOO_EXPORT_MONGODB_URI\n")


def test_the_installed_command(jobs: dict[str, Any], tmp_path: Path) -> None:
    """The console script knows the command (ops/cli.py COMMANDS) and reads its settings from the environment."""
    script = shutil.which("spoo-export", path=str(Path(sys.executable).parent))
    assert script is not None
    uri, name = jobs["db_args"][1], jobs["db_args"][3]
    env = {"SPOO_EXPORT_MONGODB_URI": uri, "SPOO_EXPORT_DATABASE_NAME": name, "HOME": str(tmp_path), "PATH": "/usr/bin"}
    done = subprocess.run(
        [script, "jobs", "download", jobs["ids"]["csv"], "-o", "-"], capture_output=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(io.BytesIO(done.stdout)) as archive:
        assert archive.namelist() and archive.testzip() is None


def test_filename_of_a_disposition() -> None:
    assert filename_of('attachment; filename="spoo-export_all.csv"') == "spoo-export_all.csv"
    assert filename_of("attachment; filename=\"_.json\"; filename*=UTF-8''%F0%9F%9A%80.json") == "🚀.json"
    assert filename_of("attachment; filename*=UTF-8''..%2F..%2Fetc%2Fpasswd") == "passwd"
    assert filename_of("attachment; filename*=UTF-8''..") == "export"
