"""Peak memory and speed of the worker executor's own work at 100k and 1M clicks.

What ``aggregation=worker`` holds in the web worker is the grouping: a set of visitors per
report row, the rows themselves. This measures exactly that part, in a fresh process per size:
spoo.me-shaped clicks (``_dataset.py``) are generated one at a time, trimmed to the fields the
row stages read (what the database's find with its inclusion projection sends), then evaluated by the
compiled row stages and grouped by ``group_rows`` for the dashboard request (seven dimensions,
day buckets). No engine is involved: mongomock's cursor is quadratic past ~30k documents and
an in-process server would add its own memory, so a generator stands in for the cursor (a
driver's cursor holds one batch at a time). Peak RSS is the process's high-water mark
(``VmHWM``); "grouping" is that minus the RSS before the first click.

    .venv/bin/python benchmarks/bench_worker_memory.py                  # 100k and 1M
    .venv/bin/python benchmarks/bench_worker_memory.py --sizes 100000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime
from typing import Any, Iterator

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

DASHBOARD = ("time", "browser", "os", "country", "city", "referrer", "short_code")


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _trim(doc: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    """An inclusion projection of ``paths`` (what the database sends the worker)."""
    out: dict[str, Any] = {}
    for path in paths:
        head, _, rest = path.partition(".")
        if head not in doc:
            continue
        if rest:
            inner = doc[head]
            if isinstance(inner, dict) and rest in inner:
                out.setdefault(head, {})[rest] = inner[rest]
        else:
            out[head] = doc[head]
    return out


def measure(size: int) -> dict[str, Any]:
    """Run in a fresh process: group ``size`` generated clicks as the worker executor does."""
    from bson import ObjectId

    import _dataset
    from spoo_export_plugin.core.engine.pipeline import QuerySpec, breakdown_names, build_row_stages, sort_granularity
    from spoo_export_plugin.core.engine.worker.grouping import group_rows, split_row_stages

    spec = QuerySpec(start=datetime(2025, 3, 1), end=datetime(2025, 3, 31), timezone="UTC", granularity="day",
                     breakdowns=breakdown_names(DASHBOARD), owner_id=ObjectId())
    _, projection, to_row = split_row_stages(build_row_stages(spec))
    paths = list(projection.keys() - {"_id"})

    def cursor() -> Iterator[dict[str, Any]]:
        for doc in _dataset.clicks(size, spec.owner_id, 42):
            yield _trim(doc, paths)

    before = _rss_kib("VmRSS")
    t0 = time.perf_counter()
    documents = group_rows(map(to_row, cursor()), timezone=spec.timezone, granularity=sort_granularity(spec),
                           max_clicks=10 ** 9, max_time_ms=10 ** 9, retry_after=1)
    seconds = time.perf_counter() - t0
    # the generator's own cost, to separate it from the worker's
    t1 = time.perf_counter()
    for _ in cursor():
        pass
    generating = time.perf_counter() - t1
    return {"size": size, "rows": len(documents), "seconds": seconds, "generating": generating,
            "before_mib": before / 1024, "peak_mib": _rss_kib("VmHWM") / 1024}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child)))
        return 0
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus")
    for size in (int(s) for s in args.sizes.split(",")):
        out = subprocess.run([sys.executable, __file__, "--child", str(size)], check=True, capture_output=True,
                             text=True).stdout
        r = json.loads(out)
        worker = r["seconds"] - r["generating"]
        print(f"{size:>9,} clicks  {r['rows']:>7,} report rows  peak RSS {r['peak_mib']:7.1f} MiB "
              f"(grouping {r['peak_mib'] - r['before_mib']:6.1f} MiB over {r['before_mib']:.1f} at start)  "
              f"worker {worker:6.2f} s ({size / worker:,.0f} clicks/s; generating the clicks {r['generating']:.2f} s "
              f"more)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
