"""Where the grouping runs: the dashboard request on both executors of ``aggregation``.

Seeds spoo.me-shaped clicks (``_dataset.py``) and times the dashboard's seven-dimension JSON
request (``group_by=time,browser,os,country,city,referrer,short_code``, ``scope=all``) through
the real WSGI app with ``aggregation=database``, ``worker`` and ``auto``, in one run on the same
data, so the ratio database / worker is measured side by side; the three JSON bodies must be
equal (``generated_at`` aside). Then the demo's dashboard request (``spoo-export demo``'s dataset,
default ``auto``) is timed. The engines' databases are used as they are (not wrapped in
``_engines``' counters), so ``auto`` sees the real engine class.

    .venv/bin/python benchmarks/bench_executors.py
    .venv/bin/python benchmarks/bench_executors.py --mongomock-sizes 1000,2000,10000 --secantus-sizes 1000,10000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _dataset
from _engines import ENGINES, Calls
from bench_export import export, machine

from spoo_export_plugin import ExportSettings, create_app
from spoo_export_plugin.core.engine.worker.grouping import choose_executor

EXECUTORS = ("database", "worker", "auto")


def _report(body: bytes) -> dict[str, Any]:
    report = json.loads(body)
    report.pop("generated_at", None)
    return report


def time_executors(db: Any, key: str, repeat: int, database_repeat: int) -> dict[str, Any]:
    """Median seconds per executor of the dashboard request, and whether the reports are equal."""
    seconds: dict[str, float] = {}
    reports: dict[str, dict[str, Any]] = {}
    for executor in EXECUTORS:
        # a 10-minute budget: at 100k clicks SecantusDB's database executor passes the default 30 s
        settings = ExportSettings(
            database=db,
            aggregation=executor,
            authenticated_limits="1000000/minute",
            anonymous_limits="1000000/minute",
            max_time_ms=600_000,
        )
        app = create_app(settings)
        runs = [
            export(app, settings.route, "json", key, Calls())
            for _ in range(database_repeat if choose_executor(settings) == "database" else repeat)
        ]
        seconds[executor] = statistics.median(r["seconds"] for r in runs)
        reports[executor] = _report(runs[0]["body"])
    rows = sum(len(rows) for rows in reports["database"]["breakdowns"].values())
    return {
        "seconds": seconds,
        "equal": reports["database"] == reports["worker"] == reports["auto"],
        "rows": rows,
        "auto_is": choose_executor(ExportSettings(database=db)),
    }


def run_engine(name: str, sizes: list[int], repeat: int, database_repeat: int) -> bool:
    engine = ENGINES[name](Calls())
    db = next(engine)
    db = getattr(db, "_db", db)  # mongomock comes wrapped in a counter: unwrap it for auto's sake
    agreed = True
    try:
        for size in sizes:
            _, key = _dataset.seed(db, size)
            result = time_executors(db, key, repeat, database_repeat)
            s = result["seconds"]
            print(
                f"{name:9} {size:>7,} clicks  database {s['database']:8.3f} s  worker {s['worker']:7.3f} s  "
                f"auto({result['auto_is']}) {s['auto']:7.3f} s  database/worker {s['database'] / s['worker']:6.1f}x  "
                f"database/auto {s['database'] / s['auto']:6.1f}x  rows {result['rows']:,}  "
                f"reports {'equal' if result['equal'] else 'DIFFER'}",
                flush=True,
            )
            agreed &= result["equal"]
    finally:
        engine.close()
    return agreed


def time_demo(repeat: int) -> tuple[float, int, str]:
    """Median seconds of the demo's dashboard request (its dataset, its settings: auto), its clicks, its executor."""
    import falcon.testing

    from spoo_export_plugin.ops.demo import DASHBOARD_GROUP_BY, build_demo_app, demo_settings
    from spoo_export_plugin.ops.demo_data import build_dataset

    dataset = build_dataset()
    client = falcon.testing.TestClient(build_demo_app(dataset))
    params = {"format": "json", "scope": "all", "group_by": DASHBOARD_GROUP_BY}
    headers = {"Authorization": f"Bearer {dataset.api_key}"}
    times, clicks = [], 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        resp = client.simulate_get("/api/v1/export", params=params, headers=headers)
        times.append(time.perf_counter() - t0)
        assert resp.status_code == 200, resp.text
        clicks = resp.json["summary"]["total_clicks"]
    import mongomock

    executor = choose_executor(demo_settings(mongomock.MongoClient().get_database("x")))
    return statistics.median(times), clicks, executor


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mongomock-sizes", default="1000,2000")
    parser.add_argument("--secantus-sizes", default="1000,10000")
    parser.add_argument("--repeat", type=int, default=5, help="runs per worker/auto measurement (median)")
    parser.add_argument("--database-repeat", type=int, default=3, help="runs per database measurement")
    args = parser.parse_args()
    print(machine())
    agreed = True
    for name, sizes in (("mongomock", args.mongomock_sizes), ("secantus", args.secantus_sizes)):
        if sizes:
            agreed &= run_engine(name, [int(s) for s in sizes.split(",")], args.repeat, args.database_repeat)
    seconds, clicks, executor = time_demo(args.repeat * 2)
    print(f"demo dashboard request (auto = {executor}, {clicks} clicks): median {seconds:.3f} s")
    return 0 if agreed else 1


if __name__ == "__main__":
    sys.exit(main())
