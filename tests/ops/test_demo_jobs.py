"""The demo's export jobs in process: the job commands it prints, run against the demo app (jobs on,
``immediate://`` so a job is done when its POST answers), and the banner's jobs part.

The demo served for real, with its SQLite queue and consumer threads, and the printed commands
run by a shell: tests/ops/test_demo.py."""

from __future__ import annotations

import csv
import io
import json
import re
import shlex
import zipfile
from datetime import datetime
from typing import Any

import falcon.testing
import pytest

from spoo_export_plugin.ops import demo, demo_jobs
from spoo_export_plugin.ops.demo_data import build_dataset

ANCHOR = datetime(2025, 11, 1, 12)
ROUTE = "/api/v1/export"
BASE = "http://127.0.0.1:8000"


@pytest.fixture(scope="module")
def dataset() -> Any:
    return build_dataset(ANCHOR)


def printed_job_commands(banner: str) -> list[str]:
    """The three job commands of a banner, in order (submit, poll, download)."""
    part = banner[banner.index("# export jobs:") :]
    return [line for line in part.splitlines() if line.startswith(("JOB=", "curl "))]


def split_submit(command: str) -> tuple[dict[str, str], str, str]:
    """Headers, body and URL of the printed submit command (``JOB=$(curl ... | python3 ...)``)."""
    match = re.fullmatch(r"JOB=\$\((curl .*) \| (python3 -c .*)\)", command)
    assert match is not None, command
    assert match.group(2) == """python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'"""
    args = shlex.split(match.group(1))
    headers = dict(h.split(": ", 1) for flag, h in zip(args, args[1:], strict=False) if flag == "-H")
    return headers, args[args.index("-d") + 1], args[-1]


def rows_of_clicks_zip(data: bytes) -> list[dict[str, str]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        text = archive.read("clicks.csv").decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def test_the_printed_job_commands_submit_poll_and_download(dataset: Any) -> None:
    text = demo.banner(
        dataset,
        BASE,
        ROUTE,
        demo_jobs.banner_lines(dataset, BASE, ROUTE, queue="sqlite:///q/jobs.db", webhook_secret="w"),
    )
    submit, poll, download = printed_job_commands(text)
    client = falcon.testing.TestClient(demo.build_demo_app(dataset, BASE, job_queue="immediate://"))

    headers, body, url = split_submit(submit)
    assert headers == {"Authorization": f"Bearer {dataset.api_key}", "Content-Type": "application/json"}
    assert url == f"{BASE}{ROUTE}/jobs" and json.loads(body) == {"url": f"{ROUTE}/clicks?format=csv"}
    answer = client.simulate_post(url[len(BASE) :], body=body, headers=headers)
    assert answer.status_code == 202, answer.text
    assert answer.headers["content-type"] == "application/json"
    job_id = answer.json["id"]
    assert answer.headers["location"] == f"{ROUTE}/jobs/{job_id}"

    args = shlex.split(poll)
    assert args[:2] == ["curl", "-fsS"] and args[-1] == f"{BASE}{ROUTE}/jobs/$JOB"  # the shell fills in JOB
    polled = client.simulate_get(f"{ROUTE}/jobs/{job_id}", headers={"Authorization": args[3].split(": ", 1)[1]})
    assert polled.status_code == 200 and polled.json["status"] == "done"
    file_url = polled.json["file_url"]
    assert file_url.startswith(f"{ROUTE}/jobs/{job_id}/file?token=")

    field = """python3 -c 'import json,sys; print(json.load(sys.stdin)["file_url"])'"""
    assert download == f'curl -fsS -o clicks.zip "{BASE}$({poll} | {field})"'
    path, _, query = file_url.partition("?")
    got = client.simulate_get(path, query_string=query)  # no key: the token is enough
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "application/zip"
    rows = rows_of_clicks_zip(got.content)
    mine = [c for c in dataset.collections["clicks"] if c["meta"].get("owner_id") == dataset.owner_id]
    assert len(rows) == len(mine) > 100


def test_the_banner_says_where_jobs_queue_or_why_they_are_off(dataset: Any) -> None:
    on = demo_jobs.banner_lines(dataset, BASE, ROUTE, queue="sqlite:///tmp/x/jobs.db", webhook_secret="whsec_abc")
    assert on[0] == "# export jobs: queued in /tmp/x/jobs.db, run by 2 threads of this process"
    assert "whsec_abc" in on[1] and sum(line.startswith(("JOB=", "curl ")) for line in on) == 3
    off = demo_jobs.banner_lines(dataset, BASE, ROUTE, queue=None, webhook_secret=None)
    assert "jobs are off with --workers above 1" in off[0] and "--workers 1" in off[1]
    assert not any(line.startswith(("JOB=", "curl ")) for line in off)


def test_the_queue_file_and_webhook_key(tmp_path: Any) -> None:
    assert demo_jobs.queue_uri(str(tmp_path)) == f"sqlite://{tmp_path}/jobs.db"  # sqlite:// + an absolute path
    from spoo_export_plugin.core.setting_checks import check_webhook_secret

    key = demo_jobs.new_webhook_secret()
    check_webhook_secret(key)  # the settings' own rule: whsec_ and 24 bytes or more
    assert key != demo_jobs.new_webhook_secret()
