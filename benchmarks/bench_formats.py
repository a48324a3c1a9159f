"""Benchmark of the file formats (a script, not a test).

    .venv/bin/python benchmarks/bench_formats.py [--sizes 10000,100000,1000000] [--timeout 900]
    .venv/bin/python benchmarks/bench_formats.py --shape cap --sizes 100000 --variants ours

For every size (total breakdown rows) and format it renders one report three ways:

- ``ours``: the registered format (``FORMATS[fmt].render``), its chunks consumed and dropped;
- ``bare``: the library alone doing the same job, as a developer would write it: csv.writer
  into a zipfile entry; openpyxl write-only with plain values (time buckets as dates);
  ``json.dumps`` of ``report.to_dict()``; ``xmltodict.unparse`` of the same tree as
  ours;
- ``naive``: whole-file buffers: openpyxl normal mode; each CSV built in one string then
  ``writestr`` into the zip (json and xml: the bare call already is the naive one).

html has ``ours`` only: no library renders the same page, so it has no "vs bare" ratio.

Each case runs in a fresh subprocess, with every library imported before the clock
starts. Time is that of the rendering only (the report is built first, not timed): CPU
seconds of the process (the comparison that survives a machine shared with other jobs)
and wall-clock seconds, best of 3 runs up to 100k rows, of 2 above (xlsx at 1M: one run).
Memory is the peak resident set size of that process
(``getrusage(RUSAGE_SELF).ru_maxrss``), shown whole and as the growth during rendering
(peak after rendering minus peak after building the report); tracemalloc is not used.
The report is built directly from the ``Report``/``Breakdown`` dataclasses: hour buckets
``time`` (10 % of the rows), ``city`` (30 %), ``time,city`` (60 %), clean ASCII labels.

``--shape cap`` builds the worst report the row cap allows instead: the size is rows *per
breakdown*, for ``time`` and eleven dimensions (the built-in six and the five UTM ones), so 23
breakdowns (``time``: 10,000 hour buckets, the most ``max_buckets`` allows; each other one the
size, ``time,<dim>`` spread over those buckets), every label distinct and ``--label-chars``
long (100 by default).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import resource
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

FORMAT_NAMES = ("json", "xml", "csv", "xlsx", "html")  # html: ours only (no library does the same job)
VARIANTS = ("ours", "bare", "naive")


def build_report(total_rows: int) -> Any:
    from spoo_export_plugin.core.report.report import Breakdown, Report, Summary
    from spoo_export_plugin.core.report.timebuckets import TimeBucket

    n_time, n_city = total_rows // 10, total_rows * 3 // 10
    n_time_city = total_rows - n_time - n_city
    first = datetime(2020, 1, 1)
    buckets = []
    for i in range(n_time):
        wall = first + timedelta(hours=i)
        buckets.append(TimeBucket(f"{wall:%Y-%m-%dT%H:00:00}+00:00", wall, "hour"))
    cities = [f"City {i:07d}" for i in range(max(n_city, 1))]
    metric = lambda i: (i % 200 + 1, i % 100 + 1)  # noqa: E731  small ints, as most counts are
    time_rows = [(b,) + metric(i) for i, b in enumerate(buckets)]
    city_rows = [(cities[i],) + metric(i) for i in range(n_city)]
    per_bucket = max(1, n_time_city // max(n_time, 1))
    pool = min(5_000, len(cities))  # the crossed table repeats a few thousand cities
    time_city_rows = [
        (buckets[min(i // per_bucket, n_time - 1)], cities[i % pool]) + metric(i) for i in range(n_time_city)
    ]
    tables = {
        "time": Breakdown("time", ("time", "clicks", "unique_clicks"), time_rows, n_time),
        "city": Breakdown("city", ("city", "clicks", "unique_clicks"), city_rows, n_city),
        "time,city": Breakdown("time,city", ("time", "city", "clicks", "unique_clicks"), time_city_rows, n_time_city),
    }
    utc = timezone.utc
    return Report(
        scope="all",
        short_code=None,
        timezone="UTC",
        start=first.replace(tzinfo=utc),
        end=(first + timedelta(hours=n_time)).replace(tzinfo=utc),
        granularity="hour",
        group_by=("time", "city"),
        metrics=("clicks", "unique_clicks"),
        filters={},
        generated_at=datetime(2026, 11, 26, tzinfo=utc),
        summary=Summary(total_clicks=10 * total_rows, unique_clicks=total_rows),
        breakdowns=tables,
    )


CAP_DIMENSIONS = (
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


def build_cap_report(rows_per_breakdown: int, label_chars: int = 100) -> Any:
    """23 breakdowns of ``rows_per_breakdown`` rows (``time``: 10,000 buckets), distinct long labels."""
    from spoo_export_plugin.core.report.report import Breakdown, Report, Summary
    from spoo_export_plugin.core.report.timebuckets import TimeBucket

    first = datetime(2025, 1, 1)
    buckets = [
        TimeBucket(f"{first + timedelta(hours=i):%Y-%m-%dT%H:00:00}+00:00", first + timedelta(hours=i), "hour")
        for i in range(10_000)
    ]
    columns = ("clicks", "unique_clicks")
    tables = {"time": Breakdown("time", ("time",) + columns, [(b, 10, 5) for b in buckets], len(buckets))}
    for dim in CAP_DIMENSIONS:
        labels = [(f"{dim} {i:09d} " * (label_chars // 10 + 2))[:label_chars] for i in range(rows_per_breakdown)]
        counts = [(rows_per_breakdown - i + 300, rows_per_breakdown - i + 200) for i in range(rows_per_breakdown)]
        tables[dim] = Breakdown(
            dim, (dim,) + columns, [(label,) + c for label, c in zip(labels, counts, strict=True)], rows_per_breakdown
        )
        per_bucket = max(1, rows_per_breakdown // len(buckets))
        tables[f"time,{dim}"] = Breakdown(
            f"time,{dim}",
            ("time", dim) + columns,
            [
                (buckets[min(i // per_bucket, len(buckets) - 1)], label) + c
                for i, (label, c) in enumerate(zip(labels, counts, strict=True))
            ],
            rows_per_breakdown,
        )
    order = ["time"] + list(CAP_DIMENSIONS) + [f"time,{dim}" for dim in CAP_DIMENSIONS]
    utc = timezone.utc
    return Report(
        scope="all",
        short_code=None,
        timezone="UTC",
        start=first.replace(tzinfo=utc),
        end=(first + timedelta(hours=len(buckets))).replace(tzinfo=utc),
        granularity="hour",
        group_by=("time",) + CAP_DIMENSIONS,
        metrics=columns,
        filters={},
        generated_at=datetime(2026, 11, 26, tzinfo=utc),
        summary=Summary(total_clicks=10**8, unique_clicks=10**7),
        breakdowns={name: tables[name] for name in order},
    )


# ------------------------------------------------------------------------------ the variants
def ours(fmt: str) -> Callable[[Any], int]:
    def run(report: Any) -> int:
        from spoo_export_plugin import ExportSettings
        from spoo_export_plugin.formats import FORMATS

        settings = ExportSettings(mongodb_uri="mongodb://unused.invalid")  # no connection is made
        return sum(len(chunk) for chunk in FORMATS[fmt].render(report, settings))

    return run


def _import_everything() -> None:
    """Imports happen before the clock starts, for every variant alike."""
    import openpyxl  # noqa: F401
    import xmltodict  # noqa: F401

    import spoo_export_plugin.formats  # noqa: F401


def _plain_time(row: tuple) -> tuple:
    first = row[0]
    return (first.start,) + row[1:] if hasattr(first, "granularity") else row


def bare_csv(report: Any) -> int:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("summary.csv", "w") as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as text:
            csv.writer(text).writerows([("field", "value")] + report.summary_items())
        for name, breakdown in report.breakdowns.items():
            with (
                archive.open(f"by_{name.replace(',', '_and_')}.csv", "w") as raw,
                io.TextIOWrapper(raw, encoding="utf-8", newline="") as text,
            ):
                writer = csv.writer(text)
                writer.writerow(breakdown.columns)
                writer.writerows(breakdown.rows)  # csv calls str() on time buckets: their labels
    return len(out.getvalue())


def naive_csv(report: Any) -> int:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        text = io.StringIO()
        csv.writer(text).writerows([("field", "value")] + report.summary_items())
        archive.writestr("summary.csv", text.getvalue().encode("utf-8"))
        for name, breakdown in report.breakdowns.items():
            text = io.StringIO()
            writer = csv.writer(text)
            writer.writerow(breakdown.columns)
            writer.writerows(breakdown.rows)
            archive.writestr(f"by_{name.replace(',', '_and_')}.csv", text.getvalue().encode("utf-8"))
    return len(out.getvalue())


def _openpyxl(report: Any, write_only: bool) -> int:
    from openpyxl import Workbook

    wb = Workbook(write_only=write_only)
    if not write_only:
        wb.remove(wb.active)
    ws = wb.create_sheet("Summary")
    ws.append(("field", "value"))
    for row in report.summary_items():
        ws.append(row)
    for name, breakdown in report.breakdowns.items():
        ws = wb.create_sheet(name)
        ws.append(breakdown.columns)
        for row in breakdown.rows:
            ws.append(_plain_time(row))
    out = io.BytesIO()
    wb.save(out)
    return len(out.getvalue())


def bare_json(report: Any) -> int:
    return len(json.dumps(report.to_dict(), ensure_ascii=False, separators=(",", ":")).encode())


def bare_xml(report: Any) -> int:
    import xmltodict

    tree = report.header()
    items = lambda value: {"item": value} if isinstance(value, list) else value  # noqa: E731
    tree = {k: ({kk: items(vv) for kk, vv in v.items()} if isinstance(v, dict) else items(v)) for k, v in tree.items()}
    tree["breakdowns"] = {
        "breakdown": [{"@name": name, "row": list(b.dicts())} for name, b in report.breakdowns.items()]
    }
    return len(xmltodict.unparse({"report": tree}).encode())


CASES: dict[tuple[str, str], Callable[[Any], int]] = {
    **{(fmt, "ours"): ours(fmt) for fmt in FORMAT_NAMES},
    ("csv", "bare"): bare_csv,
    ("csv", "naive"): naive_csv,
    ("xlsx", "bare"): lambda r: _openpyxl(r, True),
    ("xlsx", "naive"): lambda r: _openpyxl(r, False),
    ("json", "bare"): bare_json,
    ("xml", "bare"): bare_xml,
}


# ------------------------------------------------------------------------------ measuring
def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def run_case(
    fmt: str, variant: str, rows: int, repeat: int, shape: str = "mixed", label_chars: int = 100
) -> dict[str, Any]:
    """In this process: build the report, render it ``repeat`` times, keep the fastest."""
    _import_everything()
    render = CASES[(fmt, variant)]
    report = build_cap_report(rows, label_chars) if shape == "cap" else build_report(rows)
    rows = sum(len(b.rows) for b in report.breakdowns.values())
    before = _peak_mb()
    best_cpu = best_wall = float("inf")
    for _ in range(repeat):
        cpu, wall = time.process_time(), time.perf_counter()
        size = render(report)
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
    peak = _peak_mb()
    return {
        "format": fmt,
        "variant": variant,
        "rows": rows,
        "seconds": best_cpu,
        "wall": best_wall,
        "bytes": size,
        "peak_mb": peak,
        "report_mb": before,
        "render_mb": peak - before,
    }


def spawn(
    fmt: str, variant: str, rows: int, timeout: float, shape: str = "mixed", label_chars: int = 100
) -> dict[str, Any]:
    repeat = 3 if rows <= 100_000 and shape == "mixed" else 1 if fmt == "xlsx" else 2
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--case",
        fmt,
        variant,
        str(rows),
        str(repeat),
        "--shape",
        shape,
        "--label-chars",
        str(label_chars),
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"format": fmt, "variant": variant, "rows": rows, "timeout": timeout}
    if done.returncode:
        raise SystemExit(f"{fmt} {variant} {rows} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(results: list[dict[str, Any]]) -> str:
    bare = {(r["format"], r["rows"]): r for r in results if r["variant"] == "bare" and "seconds" in r}
    lines = [
        "| rows | format | variant | CPU s | wall s | rows/s (CPU) | speed vs bare | peak RSS MB | render MB "
        "| file MB |",
        "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        if "timeout" in r:
            lines.append(
                f"| {r['rows']:,} | {r['format']} | {r['variant']} | | > {r['timeout']:.0f} (stopped) | | | | | |"
            )
            continue
        ref = bare.get((r["format"], r["rows"]))
        ratio = f"{ref['seconds'] / r['seconds']:.2f}x" if ref else ""
        lines.append(
            f"| {r['rows']:,} | {r['format']} | {r['variant']} | {r['seconds']:.2f} | {r['wall']:.2f} | "
            f"{r['rows'] / r['seconds']:,.0f} | {ratio} | {r['peak_mb']:.0f} | {r['render_mb']:.0f} | "
            f"{r['bytes'] / 1e6:.1f} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma list of total breakdown rows")
    parser.add_argument("--formats", default=",".join(FORMAT_NAMES))
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--timeout", type=float, default=900, help="seconds per case before it is stopped")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument(
        "--shape",
        choices=("mixed", "cap"),
        default="mixed",
        help="mixed: time/city/time,city sharing the size; cap: 23 breakdowns of the size each",
    )
    parser.add_argument("--label-chars", type=int, default=100, help="label length of --shape cap")
    parser.add_argument("--case", nargs=4, metavar=("FORMAT", "VARIANT", "ROWS", "REPEAT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(
            json.dumps(
                run_case(args.case[0], args.case[1], int(args.case[2]), int(args.case[3]), args.shape, args.label_chars)
            )
        )
        return 0
    results = []
    for rows in (int(s) for s in args.sizes.split(",")):
        for fmt in args.formats.split(","):
            for variant in args.variants.split(","):
                if (fmt, variant) in CASES:
                    results.append(spawn(fmt, variant, rows, args.timeout, args.shape, args.label_chars))
                    print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    print(table(results))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
