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

``--report`` measures the other thing an export holds, its report (``core/report/report.py``), at the row
cap: one export of ``time`` and eleven dimensions (the built-in six and the five UTM ones), 23
breakdowns, each other one 100,000 rows with distinct 100-character labels, as the database
executor's cursor yields them (a generator of group documents in the pipeline's order), then
rendered (``--format``, json by default). Each case runs in a fresh process: peak RSS of the
process and its growth, rows kept, CPU seconds. ``--baseline COMMIT`` runs the same case on the
package as of that commit (``git archive`` into a temporary directory, put first on the path),
so before and after come from one run:

    .venv/bin/python benchmarks/bench_worker_memory.py --report --baseline db8ad76
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

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
    import _dataset
    from bson import ObjectId

    from spoo_export_plugin.core.engine.pipeline import QuerySpec, breakdown_names, build_row_stages, sort_granularity
    from spoo_export_plugin.core.engine.worker.grouping import group_rows, split_row_stages

    spec = QuerySpec(
        start=datetime(2025, 3, 1),
        end=datetime(2025, 3, 31),
        timezone="UTC",
        granularity="day",
        breakdowns=breakdown_names(DASHBOARD),
        owner_id=ObjectId(),
    )
    _, projection, to_row = split_row_stages(build_row_stages(spec))
    paths = list(projection.keys() - {"_id"})

    def cursor() -> Iterator[dict[str, Any]]:
        for doc in _dataset.clicks(size, spec.owner_id, 42):
            yield _trim(doc, paths)

    before = _rss_kib("VmRSS")
    t0 = time.perf_counter()
    documents = group_rows(
        map(to_row, cursor()),
        timezone=spec.timezone,
        granularity=sort_granularity(spec),
        max_clicks=10**9,
        max_time_ms=10**9,
        retry_after=1,
    )
    seconds = time.perf_counter() - t0
    # the generator's own cost, to separate it from the worker's
    t1 = time.perf_counter()
    for _ in cursor():
        pass
    generating = time.perf_counter() - t1
    return {
        "size": size,
        "rows": len(documents),
        "seconds": seconds,
        "generating": generating,
        "before_mib": before / 1024,
        "peak_mib": _rss_kib("VmHWM") / 1024,
    }


REPORT_DIMENSIONS = (
    "time",
    "browser",
    "os",
    "country",
    "city",
    "referrer",
    "short_code",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
)


def group_documents(names: tuple[str, ...], rows: int, label_chars: int) -> Iterator[dict[str, Any]]:
    """The grouped rows of the export pipeline, in its ``$sort`` order (breakdown name, time, clicks
    descending): the summary, 30 day buckets, and ``rows`` distinct labels per other breakdown."""
    from datetime import timedelta

    first = datetime(2025, 3, 1)
    for name in sorted(names + ("summary",)):
        if name == "summary":
            yield {
                "_id": {"b": name},
                "clicks": 10**7,
                "uniques": 10**6,
                "first": first,
                "last": first + timedelta(days=29),
            }
        elif name == "time":
            for day in range(30):
                yield {"_id": {"b": name, "t": first + timedelta(days=day)}, "clicks": 1000, "uniques": 500}
        else:
            for i in range(rows):
                group_id: dict[str, Any] = {
                    "b": name,
                    "d": (f"{name} {i:09d} " * (label_chars // 10 + 2))[:label_chars],
                }
                if name.startswith("time,"):
                    group_id["t"] = first + timedelta(days=i * 30 // rows)
                yield {"_id": group_id, "clicks": rows - i + 300, "uniques": rows - i + 200}


def measure_report(rows: int, label_chars: int, fmt: str, max_bytes: int | None) -> dict[str, Any]:
    """Run in a fresh process: assemble one report at the row cap and render it."""
    import dataclasses
    import inspect
    from datetime import timezone
    from zoneinfo import ZoneInfo

    import spoo_export_plugin
    from spoo_export_plugin import ExportSettings
    from spoo_export_plugin.core.engine.pipeline import breakdown_names
    from spoo_export_plugin.core.report.report import assemble_report
    from spoo_export_plugin.formats import FORMATS

    names = breakdown_names(REPORT_DIMENSIONS)
    start, end = datetime(2025, 3, 1, tzinfo=timezone.utc), datetime(2025, 3, 30, 23, 59, tzinfo=timezone.utc)
    budgeted = "max_bytes" in inspect.signature(assemble_report).parameters
    extra = {"max_bytes": max_bytes} if budgeted else {}
    before = _rss_kib("VmRSS")
    cpu = time.process_time()
    report = assemble_report(
        rows=group_documents(names, rows, label_chars),
        breakdowns=names,
        zone=ZoneInfo("UTC"),
        granularity="day",
        start=start,
        end=end,
        metrics=("clicks", "unique_clicks"),
        row_cap=100_000,
        **extra,
        header={
            "scope": "all",
            "short_code": None,
            "url_id": None,
            "timezone": "UTC",
            "group_by": REPORT_DIMENSIONS,
            "filters": {},
            "exclude": {},
            "exclude_bots": False,
            "generated_at": start,
        },
    )
    assembled = time.process_time() - cpu
    assembled_peak = _rss_kib("VmHWM")
    known = {f.name for f in dataclasses.fields(ExportSettings)}
    settings = ExportSettings(
        mongodb_uri="mongodb://unused.invalid", **{k: v for k, v in {"render_time_ms": 10**9}.items() if k in known}
    )
    cpu = time.process_time()
    size = sum(len(chunk) for chunk in FORMATS[fmt].render(report, settings))
    return {
        "package": os.path.dirname(spoo_export_plugin.__file__),
        "budgeted": budgeted,
        "max_bytes": max_bytes,
        "rows_kept": sum(len(b.rows) for b in report.breakdowns.values()),
        "truncated": len(report.summary.truncated_breakdowns),
        "assemble_cpu": assembled,
        "render_cpu": time.process_time() - cpu,
        "bytes": size,
        "before_mib": before / 1024,
        "assembled_peak_mib": assembled_peak / 1024,
        "peak_mib": _rss_kib("VmHWM") / 1024,
    }


def _report_case(package_root: str, args: argparse.Namespace, max_bytes: int | None) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])))
    command = [
        sys.executable,
        __file__,
        "--report-child",
        str(args.rows),
        str(args.label_chars),
        args.format,
        str(max_bytes if max_bytes is not None else -1),
    ]
    done = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_report(args: argparse.Namespace) -> int:
    import tempfile

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cases: list[tuple[str, str, int | None]] = []
    with tempfile.TemporaryDirectory() as baseline_root:
        if args.baseline:
            archive = subprocess.run(
                ["git", "-C", repo, "archive", args.baseline, "spoo_export_plugin"], check=True, capture_output=True
            ).stdout
            subprocess.run(["tar", "-x", "-C", baseline_root], input=archive, check=True)
            cases.append((f"before ({args.baseline})", baseline_root, None))
        cases.append(("after, report_max_bytes off", repo, None))
        for budget in (int(b) for b in args.budgets.split(",")):
            cases.append((f"after, report_max_bytes={budget:,}", repo, budget))
        print(
            f"python {sys.version.split()[0]}, {os.cpu_count()} cpus; 23 breakdowns, {args.rows:,} rows each "
            f"(time: 30), labels of {args.label_chars} characters, rendered as {args.format}"
        )
        print(
            "| case | rows kept | cut | peak RSS MiB (growth) | after assembling | assemble CPU s | "
            f"{args.format} CPU s | file MB |"
        )
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for title, root, budget in cases:
            r = _report_case(root, args, budget)
            assert r["package"].startswith(root), (r["package"], root)  # the intended code ran
            print(
                f"| {title} | {r['rows_kept']:,} | {r['truncated']} | {r['peak_mib']:.0f} "
                f"(+{r['peak_mib'] - r['before_mib']:.0f}) | {r['assembled_peak_mib']:.0f} | "
                f"{r['assemble_cpu']:.1f} | {r['render_cpu']:.1f} | {r['bytes'] / 1e6:.1f} |",
                flush=True,
            )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--report", action="store_true", help="measure one report at the row cap (see above)")
    parser.add_argument("--rows", type=int, default=100_000, help="--report: rows per breakdown")
    parser.add_argument("--label-chars", type=int, default=100, help="--report: label length")
    parser.add_argument("--format", default="json", help="--report: the format rendered")
    parser.add_argument("--budgets", default="128000000", help="--report: report_max_bytes values (comma list)")
    parser.add_argument("--baseline", help="--report: a commit to measure too, before the change")
    parser.add_argument("--report-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child)))
        return 0
    if args.report_child:
        rows, label_chars, fmt, max_bytes = args.report_child
        print(
            json.dumps(measure_report(int(rows), int(label_chars), fmt, None if int(max_bytes) < 0 else int(max_bytes)))
        )
        return 0
    if args.report:
        return run_report(args)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus")
    for size in (int(s) for s in args.sizes.split(",")):
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(size)], check=True, capture_output=True, text=True
        ).stdout
        r = json.loads(out)
        worker = r["seconds"] - r["generating"]
        print(
            f"{size:>9,} clicks  {r['rows']:>7,} report rows  peak RSS {r['peak_mib']:7.1f} MiB "
            f"(grouping {r['peak_mib'] - r['before_mib']:6.1f} MiB over {r['before_mib']:.1f} at start)  "
            f"worker {worker:6.2f} s ({size / worker:,.0f} clicks/s; generating the clicks {r['generating']:.2f} s "
            f"more)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
