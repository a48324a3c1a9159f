"""The demo: its dataset, the app it serves, the key and curl commands it prints, the command itself.

Expected numbers are counted here in plain Python from the seeded documents, never through
the plugin's pipeline.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import falcon.testing
import pytest

from spoo_export_plugin.ops import demo
from spoo_export_plugin.ops.demo_data import LEGACY_CODE, build_dataset

from ..factories import unused_port

ANCHOR = datetime(2025, 11, 1, 12)
ROUTE = "/api/v1/export"
BASE = "http://127.0.0.1:8000"


@pytest.fixture(scope="module")
def dataset() -> Any:
    return build_dataset(ANCHOR)


@pytest.fixture
def client(dataset: Any) -> falcon.testing.TestClient:
    # A fresh app per test: the demo keeps the real rate limits (10/minute anonymous).
    return falcon.testing.TestClient(demo.build_demo_app(dataset, BASE))


def _clicks(dataset: Any, **meta: Any) -> list[dict[str, Any]]:
    return [c for c in dataset.collections["clicks"] if all(c["meta"].get(k) == v for k, v in meta.items())]


def _label(click: dict[str, Any], field: str) -> str:
    value = click.get(field)
    if field == "referrer":
        return value if value else "Direct"
    return value if value is not None else "Unknown"


def _uniques(clicks: list[dict[str, Any]]) -> int:
    return len({(c.get("ip_address"), c.get("user_agent")) for c in clicks})


def _get(client: falcon.testing.TestClient, params: dict[str, str], key: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return client.simulate_get(ROUTE, params=params, headers=headers)


def test_dataset_is_deterministic_and_spoo_shaped(dataset):
    again = build_dataset(ANCHOR)
    assert again.collections == dataset.collections
    assert again.api_key == dataset.api_key and again.other_keys == dataset.other_keys
    assert build_dataset(ANCHOR, seed=1).api_key != dataset.api_key

    urls = dataset.collections["urlsV2"]
    aliases = {u["alias"] for u in urls}
    assert {dataset.public_code, dataset.private_code, dataset.emoji_code} <= aliases
    assert not dataset.emoji_code.isascii()
    assert any(u["private_stats"] for u in urls) and any(not u["private_stats"] for u in urls)
    assert any("owner_id" not in u for u in urls)
    assert len({u["owner_id"] for u in urls if "owner_id" in u}) == 3
    assert dataset.collections["urls"][0]["_id"] == LEGACY_CODE

    keys = dataset.collections["api-keys"]
    main = [k for k in keys if k["token_hash"] == hashlib.sha256(dataset.api_key[5:].encode()).hexdigest()]
    assert len(main) == 1 and main[0]["user_id"] == dataset.owner_id and "stats:read" in main[0]["scopes"]
    assert all(re.fullmatch(r"[0-9a-f]{64}", k["token_hash"]) for k in keys)

    clicks = dataset.collections["clicks"]
    assert all(dataset.start <= c["clicked_at"] < ANCHOR for c in clicks)
    assert all(c["clicked_at"].microsecond % 1000 == 0 and c["clicked_at"].tzinfo is None for c in clicks)
    referrers = Counter("absent" if "referrer" not in c else repr(c["referrer"]) for c in clicks)
    assert referrers["None"] and referrers["''"] and referrers["absent"]
    assert any(c.get("bot_name") for c in clicks) and any(c.get("bot_name") is None for c in clicks)
    assert any("user_agent" not in c for c in clicks) and any("city" not in c for c in clicks)
    assert len({c["browser"] for c in clicks}) >= 6 and len({c["country"] for c in clicks}) >= 8
    assert _clicks(dataset, short_code=LEGACY_CODE) and _clicks(dataset, short_code=dataset.emoji_code)


def test_host_page_and_host_404(client, dataset):
    resp = client.simulate_get("/")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "text/html; charset=utf-8"
    assert "spoo_export_plugin demo" in resp.text and ROUTE in resp.text and dataset.api_key in resp.text
    resp = client.simulate_get("/elsewhere")
    assert resp.status_code == 404 and resp.headers["content-type"].startswith("text/plain")


def test_printed_key_exports_the_owners_clicks(client, dataset):
    text = demo.banner(dataset, BASE)
    key = re.search(r"API key of the demo owner.*?: (spoo_\S+)", text).group(1)
    assert key == dataset.api_key
    resp = _get(client, {"format": "json", "scope": "all", "group_by": "short_code,browser,referrer,city"}, key)
    assert resp.status_code == 200, resp.text
    body = resp.json
    mine = _clicks(dataset, owner_id=dataset.owner_id)
    assert body["summary"]["total_clicks"] == len(mine) > 100
    assert body["summary"]["unique_clicks"] == _uniques(mine)
    for dim, field in (("short_code", None), ("browser", "browser"), ("referrer", "referrer"), ("city", "city")):
        expected = Counter(c["meta"]["short_code"] if field is None else _label(c, field) for c in mine)
        assert {row[dim]: row["clicks"] for row in body["breakdowns"][dim]} == dict(expected)
    assert "Direct" in {row["referrer"] for row in body["breakdowns"]["referrer"]}
    assert "Unknown" in {row["city"] for row in body["breakdowns"]["city"]}


def test_dashboard_request_of_seven_dimensions(client, dataset):
    resp = _get(
        client,
        {
            "format": "json",
            "scope": "all",
            "group_by": demo.DASHBOARD_GROUP_BY,
            "start_date": dataset.start.isoformat() + "Z",
            "end_date": ANCHOR.isoformat() + "Z",
        },
        dataset.api_key,
    )
    assert resp.status_code == 200, resp.text
    body = resp.json
    dims = demo.DASHBOARD_GROUP_BY.split(",")
    assert set(body["breakdowns"]) == set(dims) | {f"time,{d}" for d in dims[1:]}
    mine = _clicks(dataset, owner_id=dataset.owner_id)
    assert body["granularity"] == "day"
    assert len(body["breakdowns"]["time"]) == 61  # every day from start to the anchor, zeros included
    for dim in dims:
        assert sum(row["clicks"] for row in body["breakdowns"][dim]) == len(mine)
        if dim != "time":
            assert sum(row["clicks"] for row in body["breakdowns"][f"time,{dim}"]) == len(mine)
    by_os = Counter(_label(c, "os") for c in mine)
    assert {row["os"]: row["clicks"] for row in body["breakdowns"]["os"]} == dict(by_os)


def test_anonymous_links_and_access_rules(client, dataset):
    for code in (dataset.public_code, dataset.emoji_code, LEGACY_CODE):
        resp = _get(client, {"format": "json", "scope": "anon", "short_code": code})
        assert resp.status_code == 200, (code, resp.text)
        expected = _clicks(dataset, short_code=code)
        assert resp.json["summary"]["total_clicks"] == len(expected)
        assert resp.json["summary"]["unique_clicks"] == _uniques(expected)
    private = {"format": "json", "scope": "anon", "short_code": dataset.private_code}
    assert _get(client, private).status_code == 401
    assert _get(client, private, dataset.other_keys["second_owner"]).status_code == 403
    resp = _get(client, private, dataset.api_key)
    assert resp.status_code == 200
    assert resp.json["summary"]["total_clicks"] == len(_clicks(dataset, short_code=dataset.private_code))
    for name, status in (("revoked", 401), ("expired", 401), ("no_scope", 403)):
        assert _get(client, {"format": "json", "scope": "all"}, dataset.other_keys[name]).status_code == status
    resp = _get(client, {"format": "json", "scope": "all", "exclude_bots": "true"}, dataset.api_key)
    humans = [c for c in _clicks(dataset, owner_id=dataset.owner_id) if not c.get("bot_name")]
    assert resp.json["summary"]["total_clicks"] == len(humans)


MEDIA_TYPES = {
    "json": "application/json",
    "xml": "application/xml",
    "csv": "application/zip",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "html": "text/html; charset=utf-8",
}


def test_printed_curl_commands_work(client, dataset):
    commands = [line for line in demo.banner(dataset, BASE).splitlines() if line.startswith("curl ")]
    formats = set()
    assert len(commands) == len(demo.curl_commands(dataset, BASE)) >= 8
    for command in commands:
        args = shlex.split(command)
        url = urlsplit(args[-1])
        assert (url.scheme, url.netloc) == ("http", "127.0.0.1:8000")
        assert url.path in (ROUTE, f"{ROUTE}/links/{dataset.public_url_id}")
        headers = dict(h.split(": ", 1) for flag, h in zip(args, args[1:], strict=False) if flag == "-H")
        resp = client.simulate_get(url.path, query_string=url.query, headers=headers)
        fmt = re.search(r"format=(\w+)", url.query).group(1)
        assert not {"-O", "-J", "-OJ", "-s"} & set(args)  # never silent, never -OJ (exit 23 on a second run)
        if f"short_code={dataset.private_code}" in url.query and "Authorization" not in headers:
            assert resp.status_code == 401 and resp.headers["www-authenticate"] == "Bearer"
            assert args[1:3] == ["-sS", "-i"]  # shows the refusal: status line, headers, JSON error
            continue
        assert args[1] == "-fsS"  # an HTTP error is exit code 22 and a message, not a saved error body
        if fmt in ("csv", "xlsx"):  # binary: written to a file named on the command line
            assert args[2:4] == ["-o", f"stats.{'zip' if fmt == 'csv' else 'xlsx'}"]
        if fmt == "html":  # a page to open from disk, not to flood the terminal with
            assert args[2:4] == ["-o", "report.html"]
        assert resp.status_code == 200, (command, resp.text)
        assert resp.headers["content-type"] == MEDIA_TYPES[fmt]
        formats.add(fmt)
    assert formats == set(MEDIA_TYPES)
    assert any("group_by=" + demo.DASHBOARD_GROUP_BY in c for c in commands)
    assert any("scope=anon" in c and dataset.public_code in c and "Authorization" not in c for c in commands)
    assert sum(f"{ROUTE}/links/" in c for c in commands) == 1


def test_printed_url_id_and_its_per_link_command(client, dataset):
    """The banner names the id of the demo owner's public link, and a ready curl of <route>/links/<url_id>
    that answers that link's statistics (counted here from the seeded clicks)."""
    text = demo.banner(dataset, BASE)
    url_id = re.search(r"url_id of its link /(\S+) \(for /api/v1/export/links/<url_id>\): ([0-9a-f]{24})\n", text)
    assert url_id is not None, text
    alias, url_id = url_id.groups()
    doc = next(u for u in dataset.collections["urlsV2"] if str(u["_id"]) == url_id)
    assert doc["alias"] == alias == dataset.public_code and doc["owner_id"] == dataset.owner_id
    command = next(line for line in text.splitlines() if line.startswith("curl ") and "/links/" in line)
    args = shlex.split(command)
    url = urlsplit(args[-1])
    assert url.path == f"{ROUTE}/links/{url_id}" and args[1] == "-fsS"
    headers = dict(h.split(": ", 1) for flag, h in zip(args, args[1:], strict=False) if flag == "-H")
    resp = client.simulate_get(url.path, query_string=url.query, headers=headers)
    assert resp.status_code == 200, resp.text
    body = resp.json
    clicks = [c for c in dataset.collections["clicks"] if str(c["meta"].get("url_id")) == url_id]
    assert (body["scope"], body["short_code"], body["url_id"]) == ("link", alias, url_id)
    assert body["summary"]["total_clicks"] == len(clicks) > 10
    assert Counter({r["browser"]: r["clicks"] for r in body["breakdowns"]["browser"]}) == Counter(
        _label(c, "browser") for c in clicks
    )


def _run_printed_curl_commands(banner: str, key: str, folder: Path) -> None:
    """The commands as printed, by the real curl, twice in one folder: the second run overwrites the
    files (no exit 23); a refused request is a non-zero exit, never an error saved as a file."""
    curl = shutil.which("curl")
    if curl is None:
        return  # the in-process test above still checks every command against the app
    folder.mkdir()
    commands = [line for line in banner.splitlines() if line.startswith("curl ")]
    assert len(commands) >= 8
    for attempt in (1, 2):
        for command in commands:
            done = subprocess.run(shlex.split(command), cwd=folder, capture_output=True, timeout=60)
            assert done.returncode == 0, (attempt, command, done.stderr)
            if " -i " in command:  # the private link: refused, and the refusal shown
                head = done.stdout.decode().split("\r\n\r\n", 1)[0]
                assert head.startswith("HTTP/1.1 401") and "\r\nwww-authenticate: bearer\r\n" in head.lower()
        assert {p.name for p in folder.iterdir()} == {"stats.zip", "stats.xlsx", "report.html", "dashboard.json"}
        assert zipfile.is_zipfile(folder / "stats.zip") and zipfile.is_zipfile(folder / "stats.xlsx")
        assert (folder / "report.html").read_bytes().startswith(b"<!DOCTYPE html>")
    bad_key = [c.replace(key, "spoo_revoked") for c in commands if "-o stats.xlsx" in c][0]
    (folder / "stats.xlsx").unlink()
    done = subprocess.run(shlex.split(bad_key), cwd=folder, capture_output=True, timeout=60)
    assert done.returncode == 22 and b"401" in done.stderr
    assert not (folder / "stats.xlsx").exists()


def test_docs_name_the_url_id_the_demo_prints(dataset):
    """docs/demo.md's `export --demo --url-id` example uses the id the banner prints (fixed by the seed)."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "demo.md").read_text(encoding="utf-8")
    assert f"--url-id {dataset.public_url_id} " in docs
    assert build_dataset(datetime(2030, 1, 1)).public_url_id == dataset.public_url_id  # whatever the hour


def _demo_command() -> list[str]:
    script = Path(sys.executable).with_name("spoo-export")
    return [str(script)] if script.exists() else [sys.executable, "-m", "spoo_export_plugin.ops.cli"]


def test_a_busy_port_is_one_line_naming_the_option_and_exit_code_2(tmp_path):
    """A second demo on a taken port: no gunicorn start (whose errors repeat for 5 s), one line, exit 2."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            _demo_command() + ["demo", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            env={**os.environ, "HOME": str(tmp_path)},
        )
    assert done.returncode == 2, done
    assert done.stdout == "" and done.stderr.count("\n") == 1, done.stderr
    assert f"127.0.0.1:{port}" in done.stderr and "in use" in done.stderr and "--port " in done.stderr
    assert "Traceback" not in done.stderr and "gunicorn" not in done.stderr.lower()


def _start_demo(tmp_path: Path, *options: str) -> tuple[subprocess.Popen, int, str]:
    """``spoo-export demo`` on a free port, once it answers: (process, port, what it printed)."""
    port = unused_port()
    env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    env["HOME"] = str(tmp_path)
    with (tmp_path / "stdout").open("w+") as out:
        proc = subprocess.Popen(
            _demo_command() + ["demo", "--port", str(port), *options],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp_path,
        )
    deadline = time.monotonic() + 60
    text = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail("the demo exited:\n" + (tmp_path / "stdout").read_text())
        text = (tmp_path / "stdout").read_text()
        if "API key" in text:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
                    assert resp.status == 200
                    return proc, port, text
            except OSError:
                pass
        time.sleep(0.2)
    _stop_demo(proc)
    pytest.fail("the demo did not answer within 60 s:\n" + text)


def _stop_demo(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _dataset_printed(text: str) -> Any:
    """The documents the demo seeded (the anchor it prints fixes them)."""
    anchor = datetime.strptime(re.search(r"to (\d{4}-\d\d-\d\d \d\d:\d\d) UTC", text).group(1), "%Y-%m-%d %H:%M")
    return build_dataset(anchor)


@pytest.mark.slow
def test_demo_command_serves_over_http(tmp_path):
    proc, port, text = _start_demo(tmp_path, "--workers", "2")
    try:
        key = re.search(r"API key of the demo owner.*?: (spoo_\S+)", text).group(1)
        expected = _dataset_printed(text)  # the same documents the workers seeded after the fork
        assert key == expected.api_key
        mine = _clicks(expected, owner_id=expected.owner_id)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{ROUTE}?format=json&scope=all&group_by=browser",
            headers={"Authorization": f"Bearer {key}"},
        )
        for _ in range(3):  # whichever worker answers has the same data
            with urllib.request.urlopen(request, timeout=30) as resp:
                assert resp.status == 200
                assert resp.headers["Content-Type"] == "application/json"
                assert resp.headers["Content-Disposition"].startswith("attachment;")
                body = json.loads(resp.read())
            assert body["summary"]["total_clicks"] == len(mine)
            assert body["summary"]["unique_clicks"] == _uniques(mine)
        # Each worker holds its own in-memory data: no jobs, and the banner says why.
        assert "# export jobs are off with --workers above 1" in text and "JOB=" not in text
        submit = urllib.request.Request(
            f"http://127.0.0.1:{port}{ROUTE}/jobs", data=b"{}", headers={"Authorization": f"Bearer {key}"}
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(submit, timeout=30)
        assert refused.value.code == 404
        _run_printed_curl_commands(text, key, tmp_path / "curl")
    finally:
        _stop_demo(proc)
    assert proc.returncode == 0, (tmp_path / "stdout").read_text()
    assert not (tmp_path / ".gunicorn").exists()  # the control socket is disabled


def _call(url: str, key: str | None = None, body: dict[str, Any] | None = None) -> tuple[int, Any, bytes]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers), timeout=30) as resp:
        return resp.status, resp.headers, resp.read()


def _clicks_in_zip(data: bytes) -> int:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        rows = list(csv.reader(io.StringIO(archive.read("clicks.csv").decode("utf-8-sig"))))
    return len(rows) - 1  # less the header


@pytest.mark.slow
def test_demo_runs_export_jobs_over_http(tmp_path):
    """One worker (the default): a job submitted over HTTP is queued in SQLite, run by the demo's own
    consumer threads, and its file downloaded through file_url; the printed job commands work in a shell."""
    proc, port, text = _start_demo(tmp_path)
    base = f"http://127.0.0.1:{port}"
    queue_folder = Path(re.search(r"# export jobs: queued in (/\S+)/jobs\.db, run by 2 threads", text).group(1))
    try:
        key = re.search(r"API key of the demo owner.*?: (spoo_\S+)", text).group(1)
        expected = _dataset_printed(text)
        mine = _clicks(expected, owner_id=expected.owner_id)
        assert (queue_folder / "jobs.db").exists()
        status, headers, body = _call(f"{base}{ROUTE}/jobs", key, {"url": f"{ROUTE}/clicks?format=csv"})
        job = json.loads(body)
        assert status == 202 and headers["Content-Type"] == "application/json"
        assert job["status"] in ("queued", "running", "done") and headers["Location"] == f"{ROUTE}/jobs/{job['id']}"
        deadline = time.monotonic() + 60
        while job["status"] != "done":
            assert job["status"] in ("queued", "running") and time.monotonic() < deadline, job
            time.sleep(0.2)
            job = json.loads(_call(f"{base}{ROUTE}/jobs/{job['id']}", key)[2])
        status, headers, data = _call(base + job["file_url"])  # no key: the signed link
        assert status == 200 and headers["Content-Type"] == "application/zip"
        assert len(data) == job["size"] and _clicks_in_zip(data) == len(mine) > 100
        _run_printed_job_commands(text, tmp_path / "shell", len(mine))
    finally:
        _stop_demo(proc)
    assert proc.returncode == 0, (tmp_path / "stdout").read_text()
    assert not queue_folder.exists()  # the demo's temporary queue goes with it


def _run_printed_job_commands(banner: str, folder: Path, clicks: int) -> None:
    """The printed submit, poll and download, as printed, in one bash script (polling until done)."""
    if not (shutil.which("curl") and shutil.which("bash") and shutil.which("python3")):
        return  # the in-process test (test_demo_jobs.py) still checks every command against the app
    part = banner[banner.index("# export jobs:") :]
    submit, poll, download = [line for line in part.splitlines() if line.startswith(("JOB=", "curl "))]
    script = "\n".join(
        [
            "set -eu",
            submit,
            "for attempt in $(seq 100); do",
            f"  {poll} > job.json",
            '  grep -q \'"status": "done"\' job.json && break',
            "  sleep 0.2",
            "done",
            download,
        ]
    )
    folder.mkdir()
    done = subprocess.run(["bash", "-c", script], cwd=folder, capture_output=True, timeout=120)
    assert done.returncode == 0, (script, done.stderr)
    assert _clicks_in_zip((folder / "clicks.zip").read_bytes()) == clicks
