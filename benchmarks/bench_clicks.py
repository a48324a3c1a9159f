"""Benchmark of the raw-click export (``GET <route>/clicks``); a script, not a test.

    .venv/bin/python benchmarks/bench_clicks.py renderers [--sizes 100000,1000000] [--formats csv,json,xml,xlsx]
    .venv/bin/python benchmarks/bench_clicks.py secantus [--sizes 100000,300000] [--formats csv,json,xml,xlsx]

``renderers``: a fake cursor generates the documents the clicks pipeline yields (``at``, ``ip``,
``ua``, ``bot``, eleven labels; distinct IPs, realistic lengths) and streams them through the real
row builder (:func:`click_rows`: local time, labels, HMAC visitor) and each format's real
``render_clicks``; the chunks are dropped. Beside it, three references over the same documents:
``source`` (the row builder alone, nothing written), ``bare`` (the library alone writing the same
rows as a developer would: csv.writer into a zip entry; one ``json.dumps`` of the whole list;
``xmltodict.unparse`` of the whole tree; openpyxl write-only with plain values).

``secantus``: N clicks (benchmarks/_dataset.py, one owner + a tenth for another) in a SecantusDB
server run by this script; each export runs in a fresh subprocess as ``GET <route>/clicks`` through
the real WSGI app (credentials, count, cursor, rows, format), its body iterated and dropped.

Every case runs in its own subprocess; memory is that process's peak resident set size
(``VmHWM`` from /proc/self/status, which is ``ru_maxrss``), whole and as the growth over the peak
before the export started (libraries imported, the app built). Times are wall-clock seconds of one
run (the machine is shared: CPU seconds are shown too).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FORMATS = ("csv", "json", "xml", "xlsx")


def peak_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ----------------------------------------------------------------------------------- renderers


def fake_cursor(n: int) -> Iterator[dict[str, Any]]:
    """Documents as the clicks pipeline yields them, generated on the fly (nothing kept)."""
    start = datetime(2025, 3, 1)
    browsers = ("Chrome", "Safari", "Firefox", "Edge", "Samsung Internet", "Unknown")
    for i in range(n):
        yield {
            "at": start + timedelta(milliseconds=i * 2_591),
            "ip": f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}",
            "ua": f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/{90 + i % 40}.0",
            "bot": "" if i % 17 else "Googlebot",
            "l0": f"l{i % 50:02d}",
            "l1": browsers[i % 6],
            "l2": "Windows",
            "l3": "United States",
            "l4": f"City {i % 2000:04d}",
            "l5": f"https://site{i % 300}.example/path" if i % 4 else "Direct",
            "l6": "newsletter" if i % 3 else "Unknown",
            "l7": "email" if i % 3 else "Unknown",
            "l8": "spring" if i % 5 else "Unknown",
            "l9": "Unknown",
            "l10": "Unknown",
        }


def _export(n: int, rows: Any) -> Any:
    from spoo_export_plugin.core.clicks import click_columns
    from spoo_export_plugin.core.report.click_rows import ClickExport

    moment = datetime(2025, 3, 31, tzinfo=timezone.utc)
    return ClickExport(
        scope="all",
        short_code=None,
        timezone="Europe/Berlin",
        start=moment,
        end=moment,
        filters={},
        exclude={},
        exclude_bots=False,
        generated_at=moment,
        total_clicks=n,
        row_count=n,
        columns=click_columns(),
        rows=rows,
    )


def _bare(fmt: str, columns: tuple[str, ...], rows: Iterator[tuple[str, ...]]) -> int:
    """The library alone writing the rows, as a developer would; returns the bytes written."""
    import csv
    import io
    import tempfile
    import zipfile

    if fmt == "csv":
        with tempfile.TemporaryFile() as sink:
            with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as archive:
                with (
                    archive.open("clicks.csv", "w", force_zip64=True) as raw,
                    io.TextIOWrapper(raw, encoding="utf-8", newline="") as text,
                ):
                    writer = csv.writer(text)
                    writer.writerow(columns)
                    writer.writerows(rows)
            return sink.tell()
    if fmt == "json":
        return len(
            json.dumps({"clicks": [dict(zip(columns, row, strict=True)) for row in rows]}, ensure_ascii=False).encode()
        )
    if fmt == "xml":
        import xmltodict

        tree = {"report": {"clicks": {"click": [dict(zip(columns, row, strict=True)) for row in rows]}}}
        return len(xmltodict.unparse(tree).encode())
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Clicks")
    ws.append(list(columns))
    for row in rows:
        ws.append(list(row))
    with tempfile.TemporaryFile() as sink:
        wb.save(sink)
        return sink.tell()


def child_renderer(fmt: str, variant: str, n: int) -> dict[str, Any]:
    import openpyxl  # noqa: F401  every library imported before the clock starts
    import xmltodict  # noqa: F401

    from spoo_export_plugin import ExportSettings
    from spoo_export_plugin.core.clicks import VisitorIds, click_columns, click_rows
    from spoo_export_plugin.formats import FORMATS as REGISTRY

    settings = ExportSettings(database=object())
    rows = click_rows(fake_cursor(n), "Europe/Berlin", 11, VisitorIds())
    before = peak_mb()
    wall, cpu = time.perf_counter(), time.process_time()
    size = 0
    if variant == "ours":
        for chunk in REGISTRY[fmt].render_clicks(_export(n, rows), settings):
            size += len(chunk)
    elif variant == "source":
        for _ in rows:
            pass
    else:
        size = _bare(fmt, click_columns(), rows)
    return {
        "seconds": time.perf_counter() - wall,
        "cpu": time.process_time() - cpu,
        "bytes": size,
        "peak_mb": peak_mb(),
        "growth_mb": peak_mb() - before,
    }


# ----------------------------------------------------------------------------------- secantus


def child_secantus(fmt: str, n: int, uri: str, key: str) -> dict[str, Any]:
    import falcon.testing

    from spoo_export_plugin import ExportSettings, create_app

    # SecantusDB runs in the driver process: on a loaded machine its handshake can pass the 1 s default
    app = create_app(
        ExportSettings(
            mongodb_uri=uri,
            database_name="bench",
            max_time_ms=600_000,
            server_selection_timeout_ms=30_000,
            authenticated_limits="1000/minute",
        )
    )
    environ = falcon.testing.create_environ(
        path="/api/v1/export/clicks",
        query_string=f"format={fmt}&start_date=2025-03-01&end_date=2025-03-31",
        headers={"Authorization": f"Bearer {key}"},
    )
    seen: dict[str, Any] = {}
    before = peak_mb()
    wall, cpu = time.perf_counter(), time.process_time()
    body = app(environ, lambda status, headers, exc_info=None: seen.update(status=status))
    first = time.perf_counter() - wall
    size = 0
    chunks = []
    for chunk in body:
        size += len(chunk)
        if not seen["status"].startswith("200"):
            chunks.append(chunk)
    if hasattr(body, "close"):
        body.close()
    assert seen["status"].startswith("200"), (seen, b"".join(chunks))
    return {
        "seconds": time.perf_counter() - wall,
        "cpu": time.process_time() - cpu,
        "bytes": size,
        "peak_mb": peak_mb(),
        "growth_mb": peak_mb() - before,
        "first_byte_s": first,
    }


# ----------------------------------------------------------------------------------- driver


def run_child(args: list[str], timeout: float) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "child", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": ROOT},
    )
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}
    return json.loads(done.stdout.strip().splitlines()[-1])


def line(label: str, n: int, result: dict[str, Any], reference: dict[str, Any] | None = None) -> str:
    if "error" in result:
        return f"{label:<22} {n:>9,}  ERROR {result['error']}"
    rate = n / result["seconds"] if result["seconds"] else float("inf")
    versus = ""
    if reference and "seconds" in reference and reference["seconds"]:
        versus = f"  x{reference['seconds'] / result['seconds']:.2f} of bare speed"
    return (
        f"{label:<22} {n:>9,}  {result['seconds']:8.1f} s  {result['cpu']:8.1f} cpu-s  {rate:>10,.0f} rows/s  "
        f"{result['bytes'] / 1e6:8.1f} MB  peak {result['peak_mb']:6.0f} MB  (+{result['growth_mb']:.0f}){versus}"
    )


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        kind = sys.argv[2]
        if kind == "renderer":
            result = child_renderer(sys.argv[3], sys.argv[4], int(sys.argv[5]))
        else:
            result = child_secantus(sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6])
        print(json.dumps(result))
        return 0
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("renderers", "secantus"))
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--variants", default="ours,bare,source")
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    formats = args.formats.split(",")
    if args.mode == "renderers":
        for n in sizes:
            source = (
                run_child(["renderer", "csv", "source", str(n)], args.timeout) if "source" in args.variants else None
            )
            if source:
                print(line("source (rows only)", n, source), flush=True)
            for fmt in formats:
                bare = run_child(["renderer", fmt, "bare", str(n)], args.timeout) if "bare" in args.variants else None
                ours = run_child(["renderer", fmt, "ours", str(n)], args.timeout)
                print(line(f"{fmt} ours", n, ours, bare), flush=True)
                if bare:
                    print(line(f"{fmt} bare", n, bare), flush=True)
        return 0
    sys.path.insert(0, HERE)
    import pymongo
    import secantus
    from _dataset import seed

    server = secantus.SecantusDBServer(host="127.0.0.1", port=0, storage_path=":memory:", replica_set_name=None)
    server.start()
    uri = server.uri if isinstance(server.uri, str) else server.uri()
    try:
        db = pymongo.MongoClient(uri, directConnection=True).get_database("bench")
        for n in sizes:
            t0 = time.perf_counter()
            _, key = seed(db, n)
            print(
                f"loaded {n:,} clicks (+{n // 10:,} of another owner) in {time.perf_counter() - t0:.0f} s", flush=True
            )
            for fmt in formats:
                result = run_child(["secantus", fmt, str(n), uri, key], args.timeout)
                print(
                    line(f"{fmt} via SecantusDB", n, result)
                    + (f"  first byte {result['first_byte_s']:.1f} s" if "first_byte_s" in result else ""),
                    flush=True,
                )
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
