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
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

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


def start_server(command: list[str], env: dict[str, str], home: Path, *,
                 preexec_fn: Optional[Callable[[], None]] = None) -> Iterator[dict[str, Any]]:
    """Run ``command`` (it binds ``SPOO_EXPORT_BIND``) until the caller is done; yields the port, the
    log file, the home directory and the master's pid."""
    port = int(env["SPOO_EXPORT_BIND"].rsplit(":", 1)[1])
    log = home / "server.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env, cwd=home,
                                start_new_session=True, preexec_fn=preexec_fn)
    try:
        wait_for_port(port, proc, log)
        yield {"port": port, "log": log, "home": home, "pid": proc.pid}
    finally:
        stop_group(proc)


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
