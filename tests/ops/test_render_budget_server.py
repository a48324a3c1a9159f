"""``render_time_ms`` under a real server (gunicorn with the plugin's worker): what a client sees.

The app (tests/apps/render_budget_app.py) drives the budgets with a clock that ticks one second
per reading, so the outcome depends on the budget, not on this machine's speed.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..factories import ROUTE, unused_port

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SECRET = "render-budget-app-key-0123456789"
KEY = "spoo_" + SECRET
QUERY = "scope=all&start_date=2025-03-01&end_date=2025-03-03&group_by=time,city,referrer"


@contextlib.contextmanager
def gunicorn(tmp_path: Path, **settings: str) -> Iterator[tuple[int, Path]]:
    port = unused_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPOO_EXPORT_")}
    env.update({f"SPOO_EXPORT_{k.upper()}": v for k, v in settings.items()})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["RENDER_BUDGET_APP_SECRET"] = SECRET
    log_path = tmp_path / "gunicorn.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--workers",
                "1",
                "--threads",
                "4",
                "--bind",
                f"127.0.0.1:{port}",
                "--worker-class",
                "spoo_export_plugin.ops.worker.ExportWorker",
                "--no-control-socket",
                "--graceful-timeout",
                "2",
                "tests.apps.render_budget_app:app",
            ],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    pytest.fail("gunicorn exited:\n" + log_path.read_text(errors="replace"))
                with contextlib.suppress(OSError):
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                    conn.request("GET", ROUTE + "/openapi.json")
                    if conn.getresponse().status == 200:
                        break
                if time.monotonic() > deadline:
                    pytest.fail("gunicorn did not answer:\n" + log_path.read_text(errors="replace"))
                time.sleep(0.2)
            yield port, log_path
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def get(port: int, fmt: str) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", f"{ROUTE}?format={fmt}&{QUERY}", headers={"Authorization": f"Bearer {KEY}"})
    return conn.getresponse()


def test_a_client_sees_a_503_or_a_cut_connection_never_a_short_file(tmp_path):
    with gunicorn(tmp_path, render_time_ms="4500", retry_after_seconds="9") as (port, log_path):
        resp = get(port, "xlsx")  # written whole before its first byte: a 503
        assert resp.status == 503 and resp.getheader("Retry-After") == "9"
        assert json.loads(resp.read())["error"].startswith("the file took longer to write than its time budget")

        resp = get(port, "json")  # streamed: its first chunks went out, then the connection is cut
        assert resp.status == 200 and resp.getheader("Transfer-Encoding") == "chunked"
        with pytest.raises(http.client.IncompleteRead) as cut:
            resp.read()
        assert cut.value.partial.startswith(b'{"scope":"all"')

        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)  # and the worker goes on serving
        conn.request("GET", ROUTE + "/openapi.json")
        assert conn.getresponse().status == 200
    lines = [
        json.loads(line.split(" ", 1)[1])
        for line in log_path.read_text().splitlines()
        if line.startswith("spoo_export_plugin.export ")
    ]
    assert [(line["format"], line["status"], line["outcome"], line.get("reason")) for line in lines] == [
        ("xlsx", 503, "error", None),
        ("json", 200, "aborted", "render_time_ms"),
    ]
