"""Benchmark of export jobs: a raw-click job in a real ``spoo-export worker`` against the same GET.

    .venv/bin/python benchmarks/bench_jobs.py [--sizes 100000,1000000] [--format csv]

N clicks (benchmarks/_dataset.py: one owner, plus a tenth for another) in a SecantusDB server run
by this script. For each size, one run of each, same data, same query
(``<route>/clicks?format=...&start_date=2025-03-01&end_date=2025-03-31``):

- **GET**: a fresh subprocess sends it through the real WSGI app with the owner's API key and
  iterates the body (as ``bench_clicks.py secantus`` does); wall seconds from the call to the last
  byte, peak RSS of that process.
- **job**: the script submits the job (``JobService`` on a SQLite queue), then starts
  ``spoo-export worker --workers 1``; the job's time is its own ``started_at`` -> ``finished_at``
  (claim to the file's last chunk in GridFS and the job marked done); the worker's peak RSS is
  ``VmHWM`` from ``/proc/<pid>/status``, read once the job is done, before the worker is stopped;
  its CPU seconds are counted from the first poll (1 s apart) that sees the job running.

The ratio is the job's throughput over the GET's (GET seconds / job seconds; 1.0 = as fast).
SecantusDB runs in this script's process, so the measured processes hold only the worker's (or
the web worker's) own memory; it also shares the machine's CPU with them, so times are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
QUERY = "start_date=2025-03-01&end_date=2025-03-31"
#: A server that shares a loaded machine answers its handshake slowly; a long count must not time out.
PATIENT = {"max_time_ms": 600_000, "server_selection_timeout_ms": 30_000}


def proc_status(pid: int, field: str) -> float:
    """``VmHWM`` / ``VmRSS`` of a process, MB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_get(fmt: str, uri: str, key: str) -> dict[str, Any]:
    import falcon.testing

    from spoo_export_plugin import ExportSettings, create_app

    app = create_app(
        ExportSettings(mongodb_uri=uri, database_name="bench", authenticated_limits="1000/minute", **PATIENT)
    )
    environ = falcon.testing.create_environ(
        path="/api/v1/export/clicks", query_string=f"format={fmt}&{QUERY}", headers={"Authorization": f"Bearer {key}"}
    )
    seen: dict[str, Any] = {}
    wall, cpu = time.perf_counter(), time.process_time()
    body = app(environ, lambda status, headers, exc_info=None: seen.update(status=status))
    size = sum(len(chunk) for chunk in body)
    if hasattr(body, "close"):
        body.close()
    assert seen["status"].startswith("200"), seen
    return {
        "seconds": time.perf_counter() - wall,
        "cpu": time.process_time() - cpu,
        "bytes": size,
        "peak_mb": proc_status(os.getpid(), "VmHWM"),
    }


def run_get(fmt: str, uri: str, key: str, timeout: float) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "child", fmt, uri, key],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": ROOT},
    )
    if done.returncode:
        raise RuntimeError(done.stderr.strip()[-2000:])
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def run_job(fmt: str, uri: str, owner: Any, timeout: float, workdir: str) -> dict[str, Any]:
    from spoo_export_plugin import ExportSettings
    from spoo_export_plugin.jobs.records import parse_job_id
    from spoo_export_plugin.jobs.service import JobService
    from spoo_export_plugin.jobs.stored_files import utc

    queue = f"sqlite:///{workdir}/queue.db"
    service = JobService(ExportSettings(mongodb_uri=uri, database_name="bench", job_queue=queue, **PATIENT))
    job = service.submit(owner, f"/api/v1/export/clicks?format={fmt}&{QUERY}", None)
    script = shutil.which("spoo-export", path=os.path.dirname(sys.executable)) or "spoo-export"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPOO_EXPORT_")}
    env.update(
        SPOO_EXPORT_MONGODB_URI=uri,
        SPOO_EXPORT_DATABASE_NAME="bench",
        SPOO_EXPORT_JOB_QUEUE=queue,
        SPOO_EXPORT_MAX_TIME_MS=str(PATIENT["max_time_ms"]),
        SPOO_EXPORT_SERVER_SELECTION_TIMEOUT_MS=str(PATIENT["server_selection_timeout_ms"]),
    )
    with open(os.path.join(workdir, "worker.log"), "wb") as log:
        worker = subprocess.Popen([script, "worker", "--workers", "1"], env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + timeout
        jobs, job_id = service.records.jobs, parse_job_id(job["id"])
        # one small read a second: SecantusDB shares this process (and its GIL) with the polling
        cpu_at_claim = None  # the worker's start-up (imports, indexes) is not the job's
        while (status := jobs.find_one({"_id": job_id}, {"status": 1})["status"]) not in ("done", "failed"):
            if time.monotonic() > deadline or worker.poll() is not None:
                raise RuntimeError(f"job {status}; worker exit {worker.poll()}")
            if cpu_at_claim is None and status == "running":
                cpu_at_claim = proc_cpu(worker.pid)
            time.sleep(1)
        peak, cpu = proc_status(worker.pid, "VmHWM"), proc_cpu(worker.pid) - (cpu_at_claim or 0.0)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
    stored = service.records.find(job_id, owner)
    assert stored is not None
    if status != "done":
        raise RuntimeError(f"job failed: {stored['error']}")
    started, finished = utc(stored["started_at"]), utc(stored["finished_at"])
    assert started is not None and finished is not None
    return {
        "seconds": (finished - started).total_seconds(),
        "cpu": cpu,
        "bytes": stored["size"],
        "peak_mb": peak,
        "attempts": stored["attempts"],
    }


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        print(json.dumps(child_get(*sys.argv[2:5])))
        return 0
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--format", default="csv")
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args()
    sys.path.insert(0, HERE)
    import pymongo
    import secantus
    from _dataset import seed

    server = secantus.SecantusDBServer(host="127.0.0.1", port=0, storage_path=":memory:", replica_set_name=None)
    server.start()
    uri = server.uri if isinstance(server.uri, str) else server.uri()
    try:
        client = pymongo.MongoClient(uri, directConnection=True)
        for n in (int(s) for s in args.sizes.split(",")):
            client.drop_database("bench")
            db = client.get_database("bench")
            t0 = time.perf_counter()
            owner, key = seed(db, n)
            print(
                f"loaded {n:,} clicks (+{n // 10:,} of another owner) in {time.perf_counter() - t0:.0f} s", flush=True
            )
            get = run_get(args.format, uri, key, args.timeout)
            print(
                f"GET {args.format} {n:>9,}: {get['seconds']:7.1f} s  {get['cpu']:6.1f} cpu-s  "
                f"{get['bytes'] / 1e6:7.1f} MB  peak RSS {get['peak_mb']:5.0f} MB",
                flush=True,
            )
            with tempfile.TemporaryDirectory() as workdir:
                job = run_job(args.format, uri, owner, args.timeout, workdir)
            print(
                f"job {args.format} {n:>9,}: {job['seconds']:7.1f} s  {job['cpu']:6.1f} cpu-s (worker, from claim)  "
                f"{job['bytes'] / 1e6:7.1f} MB  worker peak RSS {job['peak_mb']:5.0f} MB  attempts {job['attempts']}",
                flush=True,
            )
            print(f"throughput job/GET {n:>9,}: {get['seconds'] / job['seconds']:.2f}", flush=True)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
