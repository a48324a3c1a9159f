"""The installed ``spoo-export`` console script, run in a subprocess against SecantusDB:
``export`` (files parsed back, exit codes, one-line errors, progress on a TTY),
``ensure-indexes``, ``serve`` under gunicorn, and the gunicorn config for hosts."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from bson import ObjectId

from ..factories import add_url, make_click, unused_port

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
SCRIPT = shutil.which("spoo-export", path=str(BIN)) or shutil.which("spoo-export")
GUNICORN = shutil.which("gunicorn", path=str(BIN)) or shutil.which("gunicorn")
README = Path(__file__).resolve().parents[2] / "README.md"
CONFIGURATION_DOC = README.parent / "docs" / "configuration.md"
RANGE = ["--start-date", "2025-03-08", "--end-date", "2025-03-10T23:59:59", "--granularity", "day"]


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPOO_EXPORT_") and k != "XDG_RUNTIME_DIR"}
    env["HOME"] = str(home)
    env.update(extra)
    return env


def cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess:
    assert SCRIPT, "the spoo-export console script is not installed"
    return subprocess.run([SCRIPT, *args], capture_output=True, env=env, cwd=cwd, timeout=timeout)


@pytest.fixture
def data(mongo_db: Any, secantus_uri: str) -> dict[str, Any]:
    """Two owners; the first has a public and a private URL. Clicks on 2025-03-09 (UTC)."""
    owner, other = ObjectId(), ObjectId()
    add_url(mongo_db, "pub", owner, created_at=datetime(2025, 3, 1))
    add_url(mongo_db, "priv", owner, created_at=datetime(2025, 3, 1), private_stats=True)
    add_url(mongo_db, "theirs", other, created_at=datetime(2025, 3, 1))
    mongo_db.clicks.insert_many(
        [
            make_click("pub", owner, datetime(2025, 3, 9, 6, 0), ip_address="10.0.0.1"),
            make_click("pub", owner, datetime(2025, 3, 9, 7, 0), ip_address="10.0.0.1", browser="Firefox"),
            make_click("pub", owner, datetime(2025, 3, 9, 8, 0), ip_address="10.0.0.2", bot_name="Googlebot"),
            make_click("priv", owner, datetime(2025, 3, 10, 9, 0), ip_address="10.0.0.3", browser="Safari"),
            make_click("theirs", other, datetime(2025, 3, 9, 9, 0), ip_address="10.0.0.4"),
        ]
    )
    db_args = ["--mongodb-uri", secantus_uri, "--database-name", mongo_db.name]
    return {"owner": owner, "db": mongo_db, "db_args": db_args}


# --- export -------------------------------------------------------------------------------------


def test_export_json_for_an_owner(data, tmp_path):
    out = tmp_path / "all.json"
    done = cli(
        "export",
        *data["db_args"],
        "--owner",
        str(data["owner"]),
        "--format",
        "json",
        "-o",
        str(out),
        *RANGE,
        "--group-by",
        "time,browser",
        env=clean_env(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == b"" and done.stdout == b""  # quiet when not on a terminal (cron)
    report = json.loads(out.read_text())
    assert report["scope"] == "all" and report["summary"]["total_clicks"] == 4
    assert report["summary"]["unique_clicks"] == 3
    assert report["breakdowns"]["time"] == [
        {"time": "2025-03-08", "clicks": 0, "unique_clicks": 0},
        {"time": "2025-03-09", "clicks": 3, "unique_clicks": 2},
        {"time": "2025-03-10", "clicks": 1, "unique_clicks": 1},
    ]
    assert report["breakdowns"]["browser"] == [
        {"browser": "Chrome", "clicks": 2, "unique_clicks": 2},
        {"browser": "Firefox", "clicks": 1, "unique_clicks": 1},
        {"browser": "Safari", "clicks": 1, "unique_clicks": 1},
    ]
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_export_private_short_code_and_filters_as_operator(data, tmp_path):
    out = tmp_path / "priv.json"
    done = cli(
        "export",
        *data["db_args"],
        "--short-code",
        "priv",
        "--format",
        "json",
        "-o",
        str(out),
        *RANGE,
        env=clean_env(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["scope"] == "anon" and report["short_code"] == "priv"
    assert report["summary"]["total_clicks"] == 1

    done = cli(
        "export",
        *data["db_args"],
        "--owner",
        str(data["owner"]),
        "--short-code",
        "pub",
        "--exclude-bots",
        "--filters",
        '{"browser": ["Chrome", "Firefox"]}',
        "--format",
        "json",
        "-o",
        "-",
        *RANGE,
        env=clean_env(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["filters"] == {"browser": ["Chrome", "Firefox"], "short_code": ["pub"]}
    assert report["summary"]["total_clicks"] == 2  # the bot click is left out


def test_export_every_registered_format_parses_back(data, tmp_path):
    from spoo_export_plugin.formats import FORMATS

    owner = str(data["owner"])
    for name in sorted(FORMATS):
        done = cli(
            "export",
            *data["db_args"],
            "--owner",
            owner,
            "--format",
            name,
            *RANGE,
            "--group-by",
            "time,browser",
            env=clean_env(tmp_path),
            cwd=tmp_path,
        )
        assert done.returncode == 0, (name, done.stderr)
    files = {p.suffix: p for p in tmp_path.iterdir() if p.name.startswith("spoo-export_")}
    expected_name = "spoo-export_all_20250308_20250310"
    assert {p.stem for p in files.values()} == {expected_name}

    if ".json" in files:
        assert json.loads(files[".json"].read_text())["summary"]["total_clicks"] == 4
    if ".xml" in files:
        root = ET.parse(files[".xml"]).getroot()
        assert root.findtext("summary/total_clicks") == "4"
        rows = root.findall("breakdowns/breakdown[@name='browser']/row")
        assert [(r.findtext("browser"), r.findtext("clicks")) for r in rows] == [
            ("Chrome", "2"),
            ("Firefox", "1"),
            ("Safari", "1"),
        ]
    if ".xlsx" in files:
        book = openpyxl.load_workbook(files[".xlsx"])
        summary = {row[0]: row[1] for row in book["Summary"].iter_rows(values_only=True)}
        assert summary["total_clicks"] == 4
        browsers = list(book["browser"].iter_rows(values_only=True))
        assert browsers[0] == ("browser", "clicks", "unique_clicks")
        assert browsers[1:] == [("Chrome", 2, 2), ("Firefox", 1, 1), ("Safari", 1, 1)]
    if ".html" in files:
        page = files[".html"].read_text(encoding="utf-8")
        assert page.startswith("<!DOCTYPE html>") and "<script" not in page
        assert '<th scope="row">Total clicks</th><td>4</td>' in page and page.count("<table") == 2 + 3
    if ".zip" in files:
        with zipfile.ZipFile(files[".zip"]) as archive:
            assert {"summary.csv", "by_time.csv", "by_browser.csv", "by_time_and_browser.csv"} <= set(
                archive.namelist()
            )
            summary = dict(csv.reader(io.TextIOWrapper(archive.open("summary.csv"), encoding="utf-8-sig")))
            assert summary["total_clicks"] == "4"
            by_time = list(csv.reader(io.TextIOWrapper(archive.open("by_time.csv"), encoding="utf-8-sig")))
            assert by_time == [
                ["time", "clicks", "unique_clicks"],
                ["2025-03-08", "0", "0"],
                ["2025-03-09", "3", "2"],
                ["2025-03-10", "1", "1"],
            ]


def test_export_demo_writes_the_demos_embedded_dataset(tmp_path):
    """--demo: no database to give; the demo owner's links by default, a link by the id the demo prints,
    a private link, raw clicks. Expected counts come from the dataset's documents, counted here."""
    from collections import Counter

    from spoo_export_plugin.ops.demo_data import build_dataset, default_anchor

    env = clean_env(tmp_path)
    done = cli("export", "--demo", "--format", "json", "-o", "-", "--group-by", "browser,short_code", env=env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    dataset = build_dataset(default_anchor(datetime.fromisoformat(report["generated_at"])))  # the hour it ran in
    mine = [c for c in dataset.collections["clicks"] if c["meta"].get("owner_id") == dataset.owner_id]
    assert report["scope"] == "all" and report["summary"]["total_clicks"] == len(mine) > 100
    assert {r["browser"]: r["clicks"] for r in report["breakdowns"]["browser"]} == dict(
        Counter(c.get("browser") or "Unknown" for c in mine)
    )
    assert {r["short_code"] for r in report["breakdowns"]["short_code"]} == {c["meta"]["short_code"] for c in mine}

    done = cli("export", "--demo", "--url-id", dataset.public_url_id, "--format", "csv", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (archive_path,) = tmp_path.glob(f"spoo-export_{dataset.public_code}_*.zip")
    with zipfile.ZipFile(archive_path) as archive:
        summary = dict(csv.reader(io.TextIOWrapper(archive.open("summary.csv"), encoding="utf-8-sig")))
    link = [c for c in mine if str(c["meta"].get("url_id")) == dataset.public_url_id]
    assert (summary["scope"], summary["url_id"], summary["total_clicks"]) == (
        "link",
        dataset.public_url_id,
        str(len(link)),
    )

    done = cli("export", "--demo", "--short-code", dataset.private_code, "--format", "json", "-o", "-", env=env)
    assert done.returncode == 0, done.stderr  # the operator reads private statistics
    private = [c for c in dataset.collections["clicks"] if c["meta"]["short_code"] == dataset.private_code]
    assert json.loads(done.stdout)["summary"]["total_clicks"] == len(private)

    done = cli("export", "--demo", "--clicks", "--format", "json", "-o", "-", env=env)
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["clicks"]) == len(mine)

    done = cli("export", "--demo", "--mongodb-uri", "mongodb://db.example", "--format", "json", env=env)
    assert done.returncode == 2 and done.stderr.decode().splitlines() == [
        "spoo-export: error: --demo reads the demo's embedded dataset: leave out --mongodb-uri"
    ]
    assert b"--demo" in cli("export", "--help", env=env).stdout


def test_csv_bom_switch_on_the_installed_script(data, tmp_path):
    """--csv-bom needs no value; --no-csv-bom wins over the variable."""

    def entries(*flags: str, **env: str) -> list[bytes]:
        out = tmp_path / "out.zip"
        done = cli(
            "export",
            *data["db_args"],
            "--owner",
            str(data["owner"]),
            "--format",
            "csv",
            "-o",
            str(out),
            *RANGE,
            *flags,
            env=clean_env(tmp_path, **env),
        )
        assert done.returncode == 0, done.stderr
        with zipfile.ZipFile(out) as archive:
            return [archive.read(name)[:3] for name in archive.namelist()]

    assert set(entries("--csv-bom")) == {b"\xef\xbb\xbf"}
    assert b"\xef\xbb\xbf" not in entries("--no-csv-bom", SPOO_EXPORT_CSV_BOM="1")
    assert set(entries(SPOO_EXPORT_CSV_BOM="1")) == {b"\xef\xbb\xbf"}


def test_version_of_the_installed_script(tmp_path):
    import spoo_export_plugin

    done = cli("--version", env=clean_env(tmp_path))
    assert done.returncode == 0 and done.stdout.decode() == f"spoo-export {spoo_export_plugin.__version__}\n"


@pytest.mark.parametrize(
    "args, code, mentions",
    [
        (["--owner", "X", "--format", "json", "--timezone", "Mars/Base"], 2, "--timezone"),
        (
            ["--owner", "X", "--format", "json", "--start-date", "2025-03-10", "--end-date", "2025-03-01"],
            2,
            "--start-date",
        ),
        (["--owner", "X", "--format", "json", "--filters", "{not json"], 2, "--filters"),
        (["--owner", "X", "--format", "json", "--group-by", "time,planet"], 2, "--group-by"),
        (["--owner", "X", "--format", "pdf"], 2, "--format"),
        (["--format", "json"], 2, "--owner"),
        (["--short-code", "nope", "--format", "json"], 1, "no short URL"),
    ],
)
def test_export_bad_input_is_one_line_and_an_exit_code(data, tmp_path, args, code, mentions):
    out = tmp_path / "never.json"
    done = cli("export", *data["db_args"], *args, "-o", str(out), env=clean_env(tmp_path))
    assert done.returncode == code
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("spoo-export: error: ") and mentions in lines[0]
    assert not out.exists() and list(tmp_path.glob("*.part")) == []


def test_export_without_database_and_with_unreachable_database(tmp_path):
    done = cli("export", "--owner", "X", "--format", "json", env=clean_env(tmp_path))
    assert done.returncode == 2
    assert done.stderr.decode().strip() == (
        "spoo-export: error: give --mongodb-uri URI or set SPOO_EXPORT_MONGODB_URI "
        "(or --demo: the demo's embedded dataset)"
    )

    port = unused_port()
    started = time.monotonic()
    done = cli(
        "export",
        "--owner",
        "X",
        "--format",
        "json",
        "-o",
        str(tmp_path / "x.json"),
        env=clean_env(tmp_path, SPOO_EXPORT_MONGODB_URI=f"mongodb://127.0.0.1:{port}/"),
    )
    assert done.returncode == 1
    assert done.stderr.decode().splitlines() == [
        "spoo-export: error: the statistics database is unreachable; try again shortly"
    ]
    assert time.monotonic() - started < 15


def test_progress_is_shown_on_a_terminal_only(data, tmp_path):
    out = tmp_path / "tty.json"
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.Popen(
            [
                SCRIPT,
                "export",
                *data["db_args"],
                "--owner",
                str(data["owner"]),
                "--format",
                "json",
                "-o",
                str(out),
                *RANGE,
            ],
            stdout=subprocess.PIPE,
            stderr=terminal,
            env=clean_env(tmp_path),
        )
        os.close(terminal)
        terminal = -1
        seen = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal closed: the program ended
                break
            if not chunk:
                break
            seen += chunk
        assert proc.wait(timeout=60) == 0
    finally:
        os.close(controller)
        if terminal != -1:
            os.close(terminal)
    text = seen.decode()
    assert f"spoo-export: wrote {out} (" in text and "rows, 4 clicks) in " in text
    assert json.loads(out.read_text())["summary"]["total_clicks"] == 4


# --- ensure-indexes -------------------------------------------------------------------------------


def test_ensure_indexes_creates_then_reports_existing(data, tmp_path):
    db = data["db"]
    db["api-keys"].insert_one({"token_hash": "0" * 64})
    env = clean_env(tmp_path)
    check = cli("ensure-indexes", *data["db_args"], "--check", env=env)
    assert check.returncode == 1
    assert check.stdout.decode().count("MISSING") == 6

    db.urlsV2.create_index([("alias", 1)], unique=True, name="alias_unique")  # the host's own
    first = cli("ensure-indexes", *data["db_args"], env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.decode().count(": created (") == 5
    assert "urlsV2 {alias: 1} for short code lookups: already exists (alias_unique)" in first.stdout.decode()
    keys = {
        tuple(info["key"])
        for coll in ("clicks", "urlsV2", "api-keys")
        for info in db[coll].index_information().values()
    }
    assert {
        (("meta.owner_id", 1), ("clicked_at", 1)),
        (("meta.short_code", 1), ("clicked_at", 1)),
        (("meta.url_id", 1), ("clicked_at", 1)),
        (("alias", 1),),
        (("owner_id", 1), ("created_at", 1)),
        (("token_hash", 1),),
    } <= keys

    again = cli("ensure-indexes", *data["db_args"], env=env)
    assert again.returncode == 0
    lines = again.stdout.decode().splitlines()
    assert len(lines) == 6 and all(": already exists (" in line for line in lines)
    assert cli("ensure-indexes", *data["db_args"], "--check", env=env).returncode == 0


def test_ensure_indexes_leaves_missing_collections_alone(mongo_db, secantus_uri, tmp_path):
    done = cli(
        "ensure-indexes", "--mongodb-uri", secantus_uri, "--database-name", mongo_db.name, env=clean_env(tmp_path)
    )
    assert done.returncode == 0
    assert done.stdout.decode().count("skipped: collection") == 6
    assert mongo_db.list_collection_names() == []


# --- serve and the gunicorn config for hosts --------------------------------------------------------


def wait_until_up(port: int, proc: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "exited"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the server did not start")


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=20) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err.decode()


@pytest.mark.slow
def test_serve_runs_gunicorn_with_flags_over_env_and_no_control_socket(data, tmp_path):
    port = unused_port()
    env = clean_env(
        tmp_path,
        SPOO_EXPORT_ROUTE="/from-env",
        SPOO_EXPORT_WORKERS="1",
        SPOO_EXPORT_BIND=f"127.0.0.1:{unused_port()}",
        SPOO_EXPORT_ANONYMOUS_LIMITS="100/minute",
    )
    proc = subprocess.Popen(
        [SCRIPT, "serve", *data["db_args"], "--bind", f"127.0.0.1:{port}", "--route", "/from-flag", "--threads", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        wait_until_up(port, proc)
        status, headers, body = get(f"http://127.0.0.1:{port}/from-flag/openapi.json")
        assert status == 200 and "/from-flag" in json.loads(body)["paths"]
        status, headers, body = get(
            f"http://127.0.0.1:{port}/from-flag?format=json&scope=anon&short_code=pub"
            "&start_date=2025-03-08&end_date=2025-03-10T23:59:59&granularity=day"
        )
        assert status == 200, body
        assert headers["content-type"] == "application/json"
        assert json.loads(body)["summary"]["total_clicks"] == 3
        assert get(f"http://127.0.0.1:{port}/from-env?format=json")[0] == 404
    finally:
        err = stop(proc)
    assert proc.returncode == 0, err
    assert not (tmp_path / ".gunicorn").exists()
    logged = [line for line in err.splitlines() if " spoo_export_plugin.export " in line]
    records = [json.loads(line.split(" spoo_export_plugin.export ", 1)[1]) for line in logged]
    assert [(r["scope"], r["format"], r["status"], r["outcome"]) for r in records] == [("anon", "json", 200, "ok")]
    assert records[0]["bytes"] > 0
    assert not any("127.0.0.1" in line or "10.0.0" in line for line in logged)  # no client IPs


def test_serve_bad_setting_is_one_line(tmp_path):
    done = cli("serve", "--mongodb-uri", "mongodb://127.0.0.1:1/", "--row-cap", "many", env=clean_env(tmp_path))
    assert done.returncode == 2
    assert done.stderr.decode().splitlines() == ["spoo-export: error: SPOO_EXPORT_ROW_CAP='many' is not an integer"]


def test_serve_bad_cors_origin_is_one_line(tmp_path):
    done = cli(
        "serve",
        "--mongodb-uri",
        "mongodb://127.0.0.1:1/",
        "--cors-origins",
        "https://app.example.com/",
        env=clean_env(tmp_path),
    )
    assert done.returncode == 2
    assert done.stderr.decode().splitlines() == [
        "spoo-export: error: cors_origins: 'https://app.example.com/' is not an origin; write scheme://host[:port] "
        "with no path and no trailing slash, e.g. https://app.example.com"
    ]


@pytest.mark.slow
def test_gunicorn_config_for_a_host_app(data, tmp_path):
    assert GUNICORN, "gunicorn is not installed"
    port = unused_port()
    env = clean_env(
        tmp_path,
        SPOO_EXPORT_BIND=f"127.0.0.1:{port}",
        SPOO_EXPORT_WORKERS="1",
        SPOO_EXPORT_MONGODB_URI=data["db_args"][1],
        SPOO_EXPORT_DATABASE_NAME=data["db_args"][3],
    )
    proc = subprocess.Popen(
        [
            GUNICORN,
            "-c",
            "python:spoo_export_plugin.contrib.gunicorn_conf",
            "spoo_export_plugin.contrib.example_host:app",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=tmp_path,
    )
    try:
        wait_until_up(port, proc)
        status, _, body = get(f"http://127.0.0.1:{port}/some/host/page")
        assert (status, body) == (200, b"the host app answered /some/host/page")
        status, headers, body = get(
            f"http://127.0.0.1:{port}/api/v1/export?format=json&scope=anon"
            "&short_code=pub&start_date=2025-03-08&end_date=2025-03-10T23:59:59"
        )
        assert status == 200 and json.loads(body)["summary"]["total_clicks"] == 3
        assert get(f"http://127.0.0.1:{port}/api/v1/export/openapi.json")[0] == 200
    finally:
        err = stop(proc)
    assert proc.returncode == 0, err
    assert not (tmp_path / ".gunicorn").exists()
    assert '"outcome":"ok"' in err


# --- the documented settings table ---------------------------------------------------------------


def test_docs_document_every_setting_and_server_option():
    from spoo_export_plugin.ops import cli_settings, serve

    text = CONFIGURATION_DOC.read_text(encoding="utf-8")
    server_options = text[text.index("## `spoo-export serve` options") :]
    for row in serve.markdown_rows():
        assert row in server_options, f"docs/configuration.md lacks the serve row: {row}"
    for name in cli_settings.setting_names():  # each is a --flag; the Configuration table explains it
        assert f"| `{name}` | `{cli_settings.env_var(name)}` |" in text, (
            f"docs/configuration.md lacks the setting {name}"
        )
    assert "docs/configuration.md" in README.read_text(encoding="utf-8")  # the front door points there


@pytest.mark.parametrize("command", ["export", "serve"])
@pytest.mark.parametrize("uri", ["mongodb://x:99999", "mongodb://[::1", "mongo://x", "http://user:hunter2@x"])
def test_malformed_mongodb_uri_is_a_one_line_error(tmp_path, uri, command):
    args = ["--owner", "X", "--format", "json", "-o", str(tmp_path / "x.json")] if command == "export" else []
    done = cli(command, *args, env=clean_env(tmp_path, SPOO_EXPORT_MONGODB_URI=uri))
    assert done.returncode == 2
    message = done.stderr.decode().strip()
    assert message.startswith("spoo-export: error: mongodb_uri is not valid") and "\n" not in message
    assert "hunter2" not in message


@pytest.mark.parametrize("command", ["export", "serve"])
@pytest.mark.parametrize("where", ["flag", "variable"])
def test_a_short_visitor_id_secret_is_a_one_line_error(tmp_path, command, where):
    secret = "hunter2-is-short"
    args = ["--owner", "X", "--format", "json", "-o", str(tmp_path / "x.json")] if command == "export" else []
    extra = {"SPOO_EXPORT_VISITOR_ID_SECRET": secret} if where == "variable" else {}
    if where == "flag":
        args.append(f"--visitor-id-secret={secret}")
    done = cli(command, *args, env=clean_env(tmp_path, SPOO_EXPORT_MONGODB_URI="mongodb://127.0.0.1:9", **extra))
    assert done.returncode == 2
    message = done.stderr.decode().strip()
    assert message.startswith("spoo-export: error: visitor_id_secret is too short") and "\n" not in message
    assert "at least 32 bytes" in message and "secrets.token_urlsafe(32)" in message
    assert secret not in message and not (tmp_path / "x.json").exists()


def test_unknown_log_level_fails_for_serve_and_the_host_config_alike():
    from spoo_export_plugin.core.exceptions import ConfigurationError
    from spoo_export_plugin.ops.serve import gunicorn_options

    with pytest.raises(ConfigurationError, match="unknown log level 'bogus'"):
        gunicorn_options({"SPOO_EXPORT_LOG_LEVEL": "bogus"})


@pytest.mark.slow
def test_export_a_declared_dimension_with_its_own_flag(mongo_db, secantus_uri, tmp_path):
    """SPOO_EXPORT_EXTRA_DIMENSIONS=platform=ua.device gives `spoo-export export` a --platform flag."""
    owner = ObjectId("650000000000000000000042")
    mongo_db.clicks.insert_many(
        [
            make_click("d", owner, datetime(2025, 3, 9, 12 + i), ua={"device": platform}, utm_campaign="spring")
            for i, platform in enumerate(("mobile", "mobile", "desktop"))
        ]
    )
    out = tmp_path / "devices.json"
    env = clean_env(tmp_path, SPOO_EXPORT_EXTRA_DIMENSIONS="platform=ua.device")
    done = cli(
        "export",
        "--owner",
        str(owner),
        "--format",
        "json",
        "-o",
        str(out),
        "--platform",
        "mobile",
        "--group-by",
        "platform,utm_campaign",
        "--utm-campaign",
        "spring",
        "--start-date",
        "2025-03-09",
        "--end-date",
        "2025-03-09",
        "--mongodb-uri",
        secantus_uri,
        "--database-name",
        mongo_db.name,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    body = json.loads(out.read_text())
    assert body["filters"] == {"utm_campaign": ["spring"], "platform": ["mobile"]}
    assert body["breakdowns"]["platform"] == [{"platform": "mobile", "clicks": 2, "unique_clicks": 1}]
    assert "--platform" in cli("export", "--help", env=env).stdout.decode()
    assert "--platform" not in cli("export", "--help", env=clean_env(tmp_path)).stdout.decode()
