"""End-to-end export benchmark: the plugin against the naive reference design.

Seeds spoo.me-shaped clicks (see ``_dataset.py``), then times the dashboard's
seven-dimension request (``group_by=time,browser,os,country,city,referrer,short_code``,
``scope=all`` with an API key, a range covering all the data) from request to last byte
through the real WSGI apps (called with a ``falcon.testing.create_environ`` environ, every
body chunk consumed, the iterable closed), for every format in
``spoo_export_plugin.formats.FORMATS``, next to the baseline of ``_baseline.py`` on the
same data and engine. Prints times, ratios (baseline / plugin), database round trips
and scans of the matched clicks per export, and checks that both JSON files hold the same
numbers.

    .venv/bin/python benchmarks/bench_export.py                       # the full run
    .venv/bin/python benchmarks/bench_export.py --engines secantus --sizes 10000 --formats json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

import falcon.testing

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _baseline
import _dataset
from _engines import ENGINES, Calls

from spoo_export_plugin import ExportSettings, create_app
from spoo_export_plugin.formats import FORMATS

GROUP_BY = "time,browser,os,country,city,referrer,short_code"
#: mongomock's cursor is quadratic past ~30k documents: bigger sizes would measure that bug.
MONGOMOCK_MAX = 30_000


# --- one export ----------------------------------------------------------------------


def export(app: Any, route: str, fmt: str, key: str, calls: Calls) -> dict[str, Any]:
    """One request through the WSGI callable, timed from the call to the last body chunk."""
    calls.reset()
    query = urlencode(
        {
            "format": fmt,
            "scope": "all",
            "group_by": GROUP_BY,
            "start_date": _dataset.START.isoformat() + "Z",
            "end_date": _dataset.END.isoformat() + "Z",
        }
    )
    environ = falcon.testing.create_environ(path=route, query_string=query, headers={"Authorization": f"Bearer {key}"})
    status: list[str] = []
    t0 = time.perf_counter()
    iterable = app(environ, lambda s, headers, exc_info=None: status.append(s))
    try:
        chunks = list(iterable)
    finally:
        getattr(iterable, "close", lambda: None)()
    seconds = time.perf_counter() - t0
    body = b"".join(chunks)
    if not status or not status[0].startswith("200"):
        raise SystemExit(f"{route} {fmt}: {status}: {body[:300]!r}")
    return {
        "seconds": seconds,
        "db_seconds": calls.db_seconds,
        "bytes": len(body),
        "body": body,
        "largest_chunk": max(map(len, chunks), default=0),
        "round_trips": calls.round_trips,
        "scans": calls.scans,
        "commands": dict(calls.commands),
    }


def timed(client: Any, route: str, fmt: str, key: str, calls: Calls, repeat: int) -> dict[str, Any]:
    runs = [export(client, route, fmt, key, calls) for _ in range(repeat)]
    best = dict(runs[0])
    best["seconds"] = statistics.median(r["seconds"] for r in runs)
    best["db_seconds"] = statistics.median(r["db_seconds"] for r in runs)
    return best


def compare_json(plugin: bytes, baseline: bytes) -> list[str]:
    """Differences between the two files' numbers (summary, then every breakdown's rows)."""
    p, b = json.loads(plugin), json.loads(baseline)
    problems = [
        f"summary.{k}: plugin {p['summary'][k]} baseline {b['summary'][k]}"
        for k in ("total_clicks", "unique_clicks")
        if p["summary"][k] != b["summary"][k]
    ]
    if p["summary"]["truncated"]:
        problems.append(f"the plugin cut breakdowns at the row cap: {p['summary']['truncated_breakdowns']}")
    if set(p["breakdowns"]) != set(b["breakdowns"]):
        problems.append(f"breakdown names differ: {sorted(p['breakdowns'])} vs {sorted(b['breakdowns'])}")
    for name in sorted(set(p["breakdowns"]) & set(b["breakdowns"])):
        dims = name.split(",")

        def table(rows: list[dict[str, Any]], dims: list[str] = dims) -> dict[tuple, tuple]:
            return {tuple(r[d] for d in dims): (r["clicks"], r["unique_clicks"]) for r in rows}

        pt, bt = table(p["breakdowns"][name]), table(b["breakdowns"][name])
        diff = [k for k in pt.keys() | bt.keys() if pt.get(k) != bt.get(k)]
        if diff:
            k = sorted(diff, key=str)[0]
            problems.append(f"{name}: {len(diff)} rows differ, e.g. {k}: plugin {pt.get(k)} baseline {bt.get(k)}")
        if len(p["breakdowns"][name]) != len(b["breakdowns"][name]):
            problems.append(f"{name}: {len(p['breakdowns'][name])} rows vs {len(b['breakdowns'][name])}")
    return problems


# --- the run -------------------------------------------------------------------------


def machine() -> str:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        cwd=os.path.dirname(os.path.abspath(__file__)),
    ).stdout.strip()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores (shared, load {load}), "
        f"Python {platform.python_version()}, {platform.machine()}, commit {commit}"
    )


def run_engine(name: str, args: argparse.Namespace, formats: list[str], deadline: float, rows: list[list[str]]) -> bool:
    """Every size on one engine; False when the two designs' numbers disagreed."""
    agreed = True
    calls = Calls()
    engine = ENGINES[name](calls)
    db = next(engine)
    try:
        #: The last size measured: (clicks, seconds to seed, plugin exports, baseline exports).
        last: tuple[int, float, float, float] | None = None
        for size in sorted(args.sizes):
            if name == "mongomock" and size > MONGOMOCK_MAX:
                print(
                    f"[{name} {size:,}] skipped: mongomock's cursor is quadratic past ~30k documents "
                    f"(and it runs pipelines in Python), so this would time mongomock, not the designs"
                )
                continue
            with_baseline = not args.no_baseline
            if last is not None:
                scale = size / last[0]
                est_plugin, est_baseline = (last[1] + last[2]) * scale, last[3] * scale
                left = deadline - time.monotonic()
                note = f"linear estimate from {last[0]:,} clicks, a lower bound where the engine is superlinear"
                if est_plugin > left:
                    print(
                        f"[{name} {size:,}] skipped: seeding + plugin exports need ~{_duration(est_plugin)} "
                        f"({note}); {_duration(left)} left of the run budget"
                    )
                    continue
                if with_baseline and est_plugin + est_baseline > left:
                    with_baseline = False
                    print(
                        f"[{name} {size:,}] baseline skipped: its exports need ~{_duration(est_baseline)} "
                        f"({note}); {_duration(left)} left of the run budget; the plugin runs alone"
                    )
            t0 = time.perf_counter()
            owner, key = _dataset.seed(db, size, args.seed)
            seeded = time.perf_counter() - t0
            print(f"[{name} {size:,}] seeded {size:,} clicks (+{size // 10:,} of another owner) in {seeded:.1f} s")
            settings = ExportSettings(database=db, authenticated_limits="1000000/minute", max_time_ms=3_600_000)
            plugin = create_app(settings)
            baseline = _baseline.create_baseline_app(db)
            json_bodies: dict[str, bytes] = {}
            spent = [0.0, 0.0]
            previous: tuple[float, float] | None = None  # the last format's (plugin, baseline) s
            for fmt in formats:
                if previous is not None and time.monotonic() + previous[0] * args.repeat > deadline:
                    print(f"[{name} {size:,}] {fmt} skipped: ~{previous[0]:.0f} s per export, past the run budget")
                    continue
                p = timed(plugin, settings.route, fmt, key, calls, args.repeat)
                spent[0] += p["seconds"] * args.repeat
                b = None
                if fmt in _baseline.RENDERERS and with_baseline:
                    if previous is not None and time.monotonic() + previous[1] * args.repeat > deadline:
                        print(
                            f"[{name} {size:,}] {fmt} baseline skipped: ~{previous[1]:.0f} s per export, "
                            f"past the run budget"
                        )
                    else:
                        b = timed(baseline, _baseline.ROUTE, fmt, key, calls, args.repeat)
                        spent[1] += b["seconds"] * args.repeat
                previous = (p["seconds"], b["seconds"] if b else (previous or (0.0, 0.0))[1])
                if fmt == "json":
                    json_bodies = {"plugin": p["body"], "baseline": b["body"] if b else b""}
                rows.append(_row(name, size, fmt, p, b))
                print("  " + " | ".join(rows[-1]), flush=True)
            if not json_bodies.get("baseline"):
                print(f"[{name} {size:,}] JSON numbers not compared (no json export of both designs in this run)")
            else:
                problems = compare_json(json_bodies["plugin"], json_bodies["baseline"])
                agreed = agreed and not problems
                verdict = "AGREE" if not problems else "DISAGREE:\n    " + "\n    ".join(problems)
                tables = json.loads(json_bodies["plugin"])["breakdowns"]
                print(
                    f"[{name} {size:,}] JSON numbers (summary totals, clicks and uniques of all "
                    f"{sum(map(len, tables.values())):,} rows in {len(tables)} breakdowns): {verdict}"
                )
            last = (size, seeded, spent[0], spent[1] if with_baseline else float("inf"))
    finally:
        engine.close()
    return agreed


def _duration(seconds: float) -> str:
    seconds = max(seconds, 0.0)
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _row(engine: str, size: int, fmt: str, p: dict[str, Any], b: dict[str, Any] | None) -> list[str]:
    def calls(r: dict[str, Any]) -> str:
        return f"{r['round_trips']} / {r['scans']}"

    def size_of(r: dict[str, Any]) -> str:
        return f"{r['bytes']:,} ({r['largest_chunk']:,})"

    def split(r: dict[str, Any]) -> str:
        return f"{r['seconds']:.2f} ({r['db_seconds']:.2f} + {r['seconds'] - r['db_seconds']:.2f})"

    return [
        engine,
        f"{size:,}",
        fmt,
        split(p),
        split(b) if b else "skipped",
        f"**{b['seconds'] / p['seconds']:.2f}x**" if b else "n/a",
        f"{(b['seconds'] - b['db_seconds']) / (p['seconds'] - p['db_seconds']):.2f}x" if b else "n/a",
        calls(p),
        calls(b) if b else "n/a",
        size_of(p),
        size_of(b) if b else "n/a",
    ]


HEADER = [
    "engine",
    "clicks",
    "format",
    "plugin s (db + app)",
    "baseline s (db + app)",
    "ratio baseline/plugin",
    "app-side ratio",
    "plugin round trips / scans",
    "baseline round trips / scans",
    "plugin bytes (largest chunk)",
    "baseline bytes (largest chunk)",
]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", default="mongomock,secantus", type=lambda s: s.split(","))
    parser.add_argument("--sizes", default="10000,100000,1000000", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument(
        "--formats",
        default=None,
        type=lambda s: s.split(","),
        help="default: every format registered in spoo_export_plugin.formats.FORMATS",
    )
    parser.add_argument("--repeat", default=1, type=int, help="exports per design and format (median kept)")
    parser.add_argument("--seed", default=42, type=int)
    parser.add_argument(
        "--max-minutes",
        default=10.0,
        type=float,
        help="run budget: a size whose linear estimate would end past it is skipped",
    )
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args(argv)
    formats = args.formats or list(FORMATS)
    formats.sort(key=lambda f: f != "json")  # json first: it is the file both designs are checked on
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or any(e not in ENGINES for e in args.engines):
        parser.error(f"unknown format or engine: {unknown or args.engines}; formats: {list(FORMATS)}")
    print(machine())
    print(
        f"request: GET ?scope=all&group_by={GROUP_BY}&start_date={_dataset.START:%Y-%m-%d}"
        f"&end_date={_dataset.END:%Y-%m-%dT%H:%M:%S} (API key), formats {formats}, repeat {args.repeat}"
    )
    deadline = time.monotonic() + args.max_minutes * 60
    rows: list[list[str]] = []
    agreed = all([run_engine(engine, args, formats, deadline, rows) for engine in args.engines])
    print()
    print("| " + " | ".join(HEADER) + " |")
    print("|" + "---|" * len(HEADER))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    if not agreed:
        raise SystemExit("the plugin's and the baseline's numbers disagree (see above)")


if __name__ == "__main__":
    main()
