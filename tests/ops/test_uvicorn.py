"""The ASGI recipes served for real: ``uvicorn host:app`` and gunicorn with uvicorn workers.

Both run ``spoo_export_plugin.contrib.example_asgi_host:app`` (a plain ASGI host wrapped with
``ExportASGIMiddleware``, settings from ``SPOO_EXPORT_*``) in processes of their own, over the
seeded SecantusDB of tests/ops/conftest.py. Then the SPEC's slow-client bar behind uvicorn
(50 stalled readers, 50 half-sent heads, 10 kept-alive half-sent: normal requests answered in
under 2 s), and a reader that stops reading is reset after ``send_timeout_seconds``, its slot
freed, the kernel left holding none of its bytes, the export logged ``aborted``.
"""

from __future__ import annotations

import http.client
import io
import json
import shutil
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..factories import ROUTE, unused_port
from ..servers import BIN, server_env, start_server, start_warm
from ..slowclients import (
    BIG,
    SMALL,
    closed_by_peer,
    export_path,
    probe,
    stalled_reader,
    wait_until_stalled,
)
from .test_slow_clients import _exports, _wait_for_exports, check_probes, run_scenario

pytestmark = [pytest.mark.slow, pytest.mark.integration]

pytest.importorskip("uvicorn", reason="uvicorn is not installed (the test extra has it)")
UVICORN = shutil.which("uvicorn", path=str(BIN)) or shutil.which("uvicorn")
GUNICORN = shutil.which("gunicorn", path=str(BIN)) or shutil.which("gunicorn")
HOST = "spoo_export_plugin.contrib.example_asgi_host:app"
SEND_TIMEOUT = 8  # the scenario's: stalled readers stay stalled while the probes run


def _env(seeded: tuple[str, str], home: Path, port: int, **extra: str) -> dict[str, str]:
    uri, name = seeded
    return server_env(
        home,
        SPOO_EXPORT_BIND=f"127.0.0.1:{port}",  # read by start_server for the port only
        SPOO_EXPORT_MONGODB_URI=uri,
        SPOO_EXPORT_DATABASE_NAME=name,
        **extra,
    )


def start_uvicorn(port: int, env: dict[str, str], home: Path, http: str = "h11") -> Iterator[dict[str, Any]]:
    """uvicorn in one process (no worker children for ``start_warm`` to find): started, then
    warmed by small exports until one is answered 200 (the app built, the database reached)."""
    for running in start_server(uvicorn_command(port, http), env, home):
        deadline = time.monotonic() + 60
        while probe(port, export_path(ROUTE, SMALL, "time"), limit=30).status != 200:
            assert time.monotonic() < deadline, running["log"].read_text()[-3000:]
            time.sleep(0.2)
        yield running


def uvicorn_command(port: int, http: str = "h11") -> list[str]:
    """``uvicorn host:app``; ``http`` is uvicorn's HTTP implementation (``uvicorn[standard]`` brings
    httptools, plain ``uvicorn`` has h11 alone)."""
    assert UVICORN, "uvicorn's script is not installed"
    return [UVICORN, HOST, "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--http", http]


def gunicorn_uvicorn_command(port: int, workers: int) -> list[str]:
    pytest.importorskip("uvicorn_worker", reason="uvicorn-worker is not installed (the test extra has it)")
    import gunicorn

    assert GUNICORN, "gunicorn's script is not installed"
    command = [GUNICORN, "-k", "uvicorn_worker.UvicornWorker", "-w", str(workers), "-b", f"127.0.0.1:{port}"]
    if tuple(int(part) for part in gunicorn.__version__.split(".")[:2]) >= (25, 1):
        command.append("--no-control-socket")  # gunicorn 25.1+ would create ~/.gunicorn/
    return [*command, HOST]


@pytest.fixture(scope="module", params=["uvicorn", "gunicorn+uvicorn-worker"])
def recipe(request, seeded, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    port = unused_port()
    home = tmp_path_factory.mktemp("asgi-home")
    env = _env(seeded, home, port, SPOO_EXPORT_SEND_TIMEOUT_SECONDS=str(SEND_TIMEOUT))
    if request.param == "uvicorn":
        servers = start_uvicorn(port, env, home)
    else:
        servers = start_warm(gunicorn_uvicorn_command(port, 2), env, home, workers=2)
    for running in servers:
        yield {**running, "name": request.param}


@pytest.fixture(params=["h11", "httptools"])
def one_slot(request, seeded, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """uvicorn with one export slot and a 2 s send timeout, on either HTTP implementation."""
    if request.param == "httptools":
        pytest.importorskip("httptools", reason="httptools is not installed (the test extra has it)")
    port = unused_port()
    env = _env(seeded, tmp_path, port, SPOO_EXPORT_SEND_TIMEOUT_SECONDS="2", SPOO_EXPORT_MAX_CONCURRENT_EXPORTS="1")
    yield from start_uvicorn(port, env, tmp_path, http=request.param)


def server_side(port: int) -> dict[int, str]:
    """The TCP state (/proc/net/tcp's hex code) of each connection the server on ``port`` still
    has, ESTABLISHED or closing, by the client's port."""
    states = {}
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            local, remote, state = line.split()[1:4]
            if int(local.split(":")[1], 16) == port and remote.split(":")[1] != "0000":
                states[int(remote.split(":")[1], 16)] = state
    return states


def fetch(port: int, path: str, method: str = "GET", body: bytes | None = None) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request(method, path, body=body)
    response = connection.getresponse()
    response.data = response.read()  # type: ignore[attr-defined]
    connection.close()
    return response


def test_a_real_export_head_errors_and_the_host_are_served(recipe):
    port = recipe["port"]
    answer = fetch(port, export_path(ROUTE, SMALL, "time,browser"))
    assert answer.status == 200
    assert answer.getheader("content-type") == "application/json"
    assert answer.getheader("content-disposition") == (
        'attachment; filename="spoo-export_small_20250301_20250302.json"'
    )
    report = json.loads(answer.data)
    assert report["summary"]["total_clicks"] == 5 and report["short_code"] == SMALL
    assert sum(row["clicks"] for row in report["breakdowns"]["time"]) == 5
    assert [row["clicks"] for row in report["breakdowns"]["browser"]] == [5]

    csv = fetch(port, export_path(ROUTE, SMALL, "browser").replace("format=json", "format=csv"))
    assert csv.status == 200 and csv.getheader("content-type") == "application/zip", csv.getheaders()
    with zipfile.ZipFile(io.BytesIO(csv.data)) as archive:
        rows = archive.read("by_browser.csv").decode("utf-8").splitlines()
    assert rows[0] == "browser,clicks,unique_clicks" and rows[1].endswith(",5,1"), rows

    head = fetch(port, export_path(ROUTE, SMALL, "time"), method="HEAD")
    assert head.status == 200 and head.getheader("content-type") == "application/json" and head.data == b""

    missing = fetch(port, export_path(ROUTE, "nope", "time"))
    assert (missing.status, missing.getheader("content-type")) == (404, "application/json")
    assert json.loads(missing.data) == {"error": "no short URL 'nope'", "param": "short_code"}
    bad = fetch(port, ROUTE + "?format=bogus")
    assert (bad.status, json.loads(bad.data)["param"]) == (400, "format")

    spec = fetch(port, ROUTE + "/openapi.json")
    assert spec.status == 200 and json.loads(spec.data)["openapi"].startswith("3.")

    page = fetch(port, "/a/host/page")
    assert (page.status, page.data) == (200, b"the host app answered /a/host/page")
    posted = fetch(port, "/links", method="POST", body=b"x" * 1000)
    assert (posted.status, posted.data) == (200, b"the host app answered /links (1000 bytes received)")


def test_behind_uvicorn_slow_clients_do_not_stop_normal_requests(recipe):
    """The SPEC's bar, on both recipes: 50 stalled readers, 50 half-sent heads and 10 half-sent second requests on
    kept-alive connections; 10 probes answered 200 or 503 + Retry-After within 2 s each."""
    port, log = recipe["port"], recipe["log"]
    since = log.stat().st_size
    seen = run_scenario(port, lambda held: wait_until_stalled(port, held))
    held = [r for r in seen["reader_socks"] if r.status == 200]
    cut_before = _exports(log, since, "aborted")
    host = [probe(port, "/a/host/page") for _ in range(5)]
    print(
        recipe["name"],
        "probe seconds:",
        [round(p.seconds, 3) for p in seen["probes"] + host],
        "statuses:",
        [p.status for p in seen["probes"]],
        "readers:",
        sorted(seen["readers"]),
        "aborted before the probes ended:",
        cut_before,
    )
    check_probes(seen["probes"])
    assert all(p.status == 200 and p.seconds < 2.0 for p in host), host
    assert held and set(seen["readers"]) <= {200, 503}, seen["readers"]
    assert cut_before < len(held), "the readers were cut off before the probes: the scenario proved nothing"

    # uvicorn has no request-head timeout: a half-sent head stays open (no thread, no task)
    # until the client leaves; docs/deploy.md says what bounds it (nginx's client_header_timeout).
    still_open = [closed_by_peer(sock, 0.2)[0] for sock in seen["waiting"]]
    print("half-sent heads after the probes:", {state: still_open.count(state) for state in set(still_open)})
    for sock in seen["waiting"]:
        sock.close()

    # The stalled readers are reset after the send timeout, logged aborted, their slots freed.
    aborted = _wait_for_exports(log, since, "aborted", len(held), within=SEND_TIMEOUT + 30)
    assert aborted == len(held), log.read_text()[-3000:]
    for reader in held:
        assert closed_by_peer(reader.sock, 10)[0] == "reset"
    for reader in seen["reader_socks"]:
        reader.sock.close()
    again = [probe(port, export_path(ROUTE, BIG, "city"), limit=60) for _ in range(4)]
    assert [p.status for p in again] == [200] * 4
    assert "Traceback" not in log.read_text()


def test_a_reader_that_stops_reading_is_reset_and_its_slot_freed(one_slot):
    port, log = one_slot["port"], one_slot["log"]
    since = log.stat().st_size
    reader = stalled_reader(port, export_path(ROUTE, BIG, "time,city"))
    assert reader.status == 200
    client_port = reader.sock.getsockname()[1]
    busy = probe(port, export_path(ROUTE, SMALL, "time"))  # the only slot is held
    assert busy.status == 503 and busy.headers["retry-after"].isdigit(), busy
    # Not reading: the server's sends stop making progress and, after 2 s, it cuts the reader off.
    started = time.monotonic()
    assert _wait_for_exports(log, since, "aborted", 1, within=20) == 1, log.read_text()[-3000:]
    assert 1.5 < time.monotonic() - started < 15
    # The server's side is gone, not left in FIN_WAIT1 with megabytes queued for a reader that never reads,
    state, seconds, received = closed_by_peer(reader.sock, 10)
    reader.sock.close()
    # and the reader gets a reset, not an end: no more of the ~8 MB file than its own buffer held.
    assert client_port not in server_side(port)
    assert state == "reset" and received < 1_000_000, (state, seconds, received)
    line = next(text for text in log.read_text().splitlines()[::-1] if '"outcome":"aborted"' in text)
    assert '"status":200' in line and '"format":"json"' in line
    after = probe(port, export_path(ROUTE, SMALL, "time"))  # the slot is free again
    assert after.status == 200, after
