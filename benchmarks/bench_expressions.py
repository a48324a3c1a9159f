"""Per-document cost of the worker's compiled row stages (``core/engine/worker/expressions.py``).

The same fixed documents (spoo.me-shaped clicks of ``_dataset.py``, seed 42, trimmed to the
fields the row stages read, as the database's find sends them) go through the row stages of
three request shapes: the dashboard's seven dimensions in UTC by day, the same in
America/New_York by 10 minutes (the deepest time key: every date part, ``$mod``, the offset),
and one label (``browser``, no time). Printed: microseconds per document (median of
``--repeat`` passes over all documents) and the time to compile the stages.

``--baseline REV`` loads ``expressions.py`` as it was at git revision ``REV`` beside the current
one and times both in the same run, passes interleaved, after checking that they give the same
rows; the ratio current / baseline is what to compare across machines.

    .venv/bin/python benchmarks/bench_expressions.py
    .venv/bin/python benchmarks/bench_expressions.py --baseline d22e477 --documents 20000 --repeat 7
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from types import ModuleType
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _dataset
from bench_worker_memory import _trim
from bson import ObjectId

from spoo_export_plugin.core.engine.pipeline import QuerySpec, breakdown_names, build_row_stages
from spoo_export_plugin.core.engine.worker import expressions
from spoo_export_plugin.core.engine.worker.expressions import fields_read

DASHBOARD = ("time", "browser", "os", "country", "city", "referrer", "short_code")
SHAPES = {  # name: (zone, granularity, group_by)
    "dashboard UTC day": ("UTC", "day", DASHBOARD),
    "dashboard New York 10min": ("America/New_York", "10min", DASHBOARD),
    "browser only": ("UTC", None, ("browser",)),
}
OWNER = ObjectId("650000000000000000000001")
Row = dict[str, Any]


def load_baseline(revision: str) -> ModuleType:
    """``expressions.py`` at ``revision``, imported beside the current one (same package, same helpers)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for where in ("core/engine/worker", "core"):  # the module's home since the core's rooms, then before
        shown = subprocess.run(
            ["git", "-C", root, "show", f"{revision}:spoo_export_plugin/{where}/expressions.py"],
            capture_output=True,
            text=True,
        )
        if shown.returncode == 0:
            break
    shown.check_returncode()
    source = shown.stdout
    path = os.path.join(tempfile.mkdtemp(), "expressions_baseline.py")
    with open(path, "w") as file:
        file.write(source)
    spec = importlib.util.spec_from_file_location("spoo_export_plugin.core.engine.worker._expressions_baseline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def row_function(module: ModuleType, stages: list[Row]) -> Callable[[Any], Row]:
    steps = [module.compile_projection(stage["$project"]) for stage in stages[1:]]

    def to_row(document: Any) -> Row:
        for step in steps:
            document = step(document)
        return document

    return to_row


def documents(count: int, stages: list[Row]) -> list[Row]:
    paths = fields_read(stages[1]["$project"])
    return [_trim(doc, paths) for doc in _dataset.clicks(count, OWNER, 42)]


def pass_seconds(to_row: Callable[[Any], Row], docs: list[Row]) -> float:
    t0 = time.perf_counter()
    for doc in docs:
        to_row(doc)
    return time.perf_counter() - t0


def compile_microseconds(module: ModuleType, stages: list[Row], repeat: int = 50) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        row_function(module, stages)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--documents", type=int, default=20_000, help="clicks generated and evaluated")
    parser.add_argument("--repeat", type=int, default=7, help="passes per implementation (median)")
    parser.add_argument("--baseline", help="a git revision whose expressions.py is timed beside the current one")
    args = parser.parse_args()
    modules = {"current": expressions}
    if args.baseline:
        modules = {"baseline": load_baseline(args.baseline), "current": expressions}
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, load {os.getloadavg()[0]:.2f}")
    for shape, (zone, granularity, group_by) in SHAPES.items():
        spec = QuerySpec(
            start=datetime(2025, 3, 1),
            end=datetime(2025, 3, 31),
            timezone=zone,
            granularity=granularity,
            breakdowns=breakdown_names(group_by),
            owner_id=OWNER,
        )
        stages = build_row_stages(spec)
        docs = documents(args.documents, stages)
        functions = {name: row_function(module, stages) for name, module in modules.items()}
        rows = {name: [to_row(doc) for doc in docs] for name, to_row in functions.items()}
        if args.baseline and rows["baseline"] != rows["current"]:
            print(f"{shape}: the rows DIFFER")
            return 1
        seconds: dict[str, list[float]] = {name: [] for name in functions}
        for _ in range(args.repeat):  # interleaved, so a change in the machine's load hits both
            for name, to_row in functions.items():
                seconds[name].append(pass_seconds(to_row, docs))
        per_doc = {name: statistics.median(times) / len(docs) * 1e6 for name, times in seconds.items()}
        line = "  ".join(
            f"{name} {per_doc[name]:6.2f} µs/doc (compile {compile_microseconds(modules[name], stages):6.0f} µs)"
            for name in functions
        )
        ratio = f"  current/baseline {per_doc['current'] / per_doc['baseline']:.2f}x" if args.baseline else ""
        print(f"{shape:26} {len(docs):,} docs  {line}{ratio}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
