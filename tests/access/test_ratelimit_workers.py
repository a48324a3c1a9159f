"""Rate limits across real worker processes: gunicorn with 3 workers sharing one store.

N requests spread over the workers must yield exactly the tier's allowance, not the
allowance once per worker. Shared stores: the Redis server on 127.0.0.1:6379, and
MongoDB storage on the SecantusDB test server (the shortener's own database in production).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import http.client
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..factories import redis_url_or_skip, unused_port

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
WORKERS = 3
ALLOWANCE = 12


def _get(port: int, path: str) -> tuple[int, dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        resp = conn.getresponse()
        resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()


@contextlib.contextmanager
def gunicorn(tmp_path: Path, **settings: str) -> Iterator[int]:
    """gunicorn serving tests/apps/ratelimit_app.py with ``SPOO_EXPORT_*`` settings; yields the port."""
    port = unused_port()
    env = dict(os.environ)
    env.update({f"SPOO_EXPORT_{k.upper()}": v for k, v in settings.items()})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    log = (tmp_path / "gunicorn.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(WORKERS),
            "--bind",
            f"127.0.0.1:{port}",
            "--no-control-socket",
            "--graceful-timeout",
            "2",
            "--log-level",
            "warning",
            "tests.apps.ratelimit_app:app",
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for_workers(proc, port, tmp_path)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


def _wait_for_workers(proc: subprocess.Popen, port: int, tmp_path: Path) -> None:
    """Until every worker has answered a request outside the export route (which is not counted)."""
    deadline = time.monotonic() + 30
    seen: set[str] = set()
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        while time.monotonic() < deadline and len(seen) < WORKERS:
            if proc.poll() is not None:
                pytest.fail("gunicorn exited:\n" + (tmp_path / "gunicorn.log").read_text(errors="replace"))
            try:
                for status, headers in pool.map(lambda _: _get(port, "/health"), range(6)):
                    assert status == 404
                    seen.add(headers["x-worker-pid"])
            except OSError:
                time.sleep(0.1)
    if not seen:
        pytest.fail("gunicorn did not answer:\n" + (tmp_path / "gunicorn.log").read_text(errors="replace"))


def _burst(port: int, route: str, n: int) -> list[tuple[int, dict[str, str]]]:
    path = f"{route}?format=json&scope=anon&short_code=no-such-code"
    with concurrent.futures.ThreadPoolExecutor(9) as pool:
        return list(pool.map(lambda _: _get(port, path), range(n)))


def _assert_exact_allowance(results: list[tuple[int, dict[str, str]]]) -> None:
    statuses = [status for status, _ in results]
    assert statuses.count(404) == ALLOWANCE, statuses
    assert statuses.count(429) == len(results) - ALLOWANCE, statuses
    for status, headers in results:
        assert headers["x-ratelimit-limit"] == str(ALLOWANCE)
        if status == 429:
            assert headers["x-ratelimit-remaining"] == "0" and int(headers["retry-after"]) >= 1
    served_by = {headers["x-worker-pid"] for status, headers in results if status == 404}
    assert len(served_by) >= 2, f"requests were not spread over the workers: {served_by}"


@pytest.mark.parametrize("strategy", ["moving-window", "fixed-window"])
def test_three_workers_share_a_redis_budget(tmp_path, strategy):
    uri = redis_url_or_skip()
    route = f"/rl-{uuid.uuid4().hex[:16]}/export"  # a fresh key space on every run
    with gunicorn(
        tmp_path,
        route=route,
        ratelimit_storage_uri=uri,
        ratelimit_strategy=strategy,
        anonymous_limits=f"{ALLOWANCE}/hour",
    ) as port:
        _assert_exact_allowance(_burst(port, route, WORKERS * ALLOWANCE))


@pytest.mark.integration
def test_three_workers_share_a_mongodb_budget(tmp_path, secantus_uri):
    route = f"/rl-{uuid.uuid4().hex[:16]}/export"
    with gunicorn(
        tmp_path, route=route, ratelimit_storage_uri=secantus_uri, anonymous_limits=f"{ALLOWANCE}/hour"
    ) as port:
        _assert_exact_allowance(_burst(port, route, WORKERS * ALLOWANCE))
