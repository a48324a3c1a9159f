"""Servers in processes of their own for the slow-client tests: start, wait, stop, look inside.

Used by tests/ops/test_slow_clients.py and tests/ops/test_hostile_clients.py (the database
fixtures they share are in tests/ops/conftest.py).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .factories import ROUTE
from .slowclients import SMALL, export_path, probe

BIN = Path(sys.executable).parent
SCRIPT = shutil.which("spoo-export", path=str(BIN)) or shutil.which("spoo-export")
GUNICORN = shutil.which("gunicorn", path=str(BIN)) or shutil.which("gunicorn")


def wait_for_port(port: int, proc: subprocess.Popen, log: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port}: {log.read_text()}")


def stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM the process group, then make sure no process of it is left."""
    pgid = os.getpgid(proc.pid)
    os.killpg(pgid, signal.SIGTERM)
    try:
        proc.wait(timeout=40)
    except subprocess.TimeoutExpired:
        os.killpg(pgid, signal.SIGKILL)
        proc.wait(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.killpg(pgid, signal.SIGKILL)
    raise AssertionError("processes of the server were still running after it stopped")


def server_env(home: Path, **extra: str) -> dict[str, str]:
    """This environment without any SPOO_EXPORT_* variable, plus ``extra``; every request comes
    from 127.0.0.1, so the anonymous rate limit is lifted."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPOO_EXPORT_")}
    env.update(HOME=str(home), SPOO_EXPORT_ANONYMOUS_LIMITS="100000/minute")
    env.update(extra)
    return env


def start_server(
    command: list[str], env: dict[str, str], home: Path, *, preexec_fn: Callable[[], None] | None = None
) -> Iterator[dict[str, Any]]:
    """Run ``command`` (it binds ``SPOO_EXPORT_BIND``) until the caller is done; yields the port, the
    log file, the home directory and the master's pid."""
    port = int(env["SPOO_EXPORT_BIND"].rsplit(":", 1)[1])
    log = home / "server.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            command,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=home,
            start_new_session=True,
            preexec_fn=preexec_fn,
        )
    try:
        wait_for_port(port, proc, log)
        yield {"port": port, "log": log, "home": home, "pid": proc.pid}
    finally:
        stop_group(proc)


def warm_up(server: dict[str, Any], path: str, workers: int, within: float = 60.0) -> None:
    """Send ``path`` until each of the ``workers`` has answered it with a 200, so each has built its
    app and connected to the database before the test measures anything. Which worker accepts a
    connection is the kernel's choice: bursts of concurrent requests reach every one, and the
    plugin's log line (``[pid] ... spoo_export_plugin.export``) tells which answered; one worker
    needs no log (gunicorn run without the plugin's config logs no export lines)."""
    deadline = time.monotonic() + within
    answered = False
    while True:
        pids = worker_pids(server["pid"])
        log = server["log"].read_text()
        warm = {pid for pid in pids if f"[{pid}] [INFO] spoo_export_plugin.export " in log}
        if len(pids) == workers and (warm == pids or (workers == 1 and answered)):
            return
        assert time.monotonic() < deadline, (
            f"{len(warm)} of {workers} workers answered within {within} s",
            log[-3000:],
        )
        with ThreadPoolExecutor(2 * workers) as pool:
            burst = list(pool.map(lambda _: probe(server["port"], path, limit=within), range(2 * workers)))
        answered = any(p.status == 200 for p in burst)


def start_warm(
    command: list[str],
    env: dict[str, str],
    home: Path,
    *,
    workers: int = 2,
    preexec_fn: Callable[[], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """:func:`start_server`, then :func:`warm_up` with a small export (the plugin's route)."""
    for running in start_server(command, env, home, preexec_fn=preexec_fn):
        warm_up(running, export_path(ROUTE, SMALL, "time"), workers)
        yield running


def worker_pids(master: int) -> set[int]:
    """The pids of ``master``'s children (gunicorn's workers), from /proc."""
    children = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                children.add(int(entry.name))
    return children


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))
