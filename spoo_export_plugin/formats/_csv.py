"""csv: a ZIP holding ``summary.csv`` and one CSV per breakdown, streamed.

Entries are named ``by_<dimension>[_and_<dimension>].csv`` (``by_time.csv``,
``by_time_and_browser.csv``). Each CSV is UTF-8 (with a byte-order mark when the
``csv_bom`` setting is on, for old Excel), RFC 4180 quoting and ``\\r\\n`` line ends, and a
header row. Text cells starting with ``= + - @``, tab or carriage return get a leading
single quote (OWASP's CSV-injection advice); numbers are never touched.

The ZIP is written by :mod:`zipfile` into an unseekable sink (entries carry data
descriptors), and the sink is drained after every few thousand rows, so memory holds one
chunk of compressed output, never the file.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from ..core.report.click_rows import ClickExport
from ..core.report.report import Report
from ._text import FORMULA_TRIGGERS, neutralise

if TYPE_CHECKING:  # formats read settings values; at run time they import only the report
    from ..core.settings import ExportSettings

_ROWS_PER_CHUNK = 10_000
# zip64 records only for entries that could pass 4 GB (some old unzippers dislike them)
_ZIP64_ROWS = 10_000_000


class _Sink(io.RawIOBase):
    """A write-only, unseekable file collecting what zipfile writes until it is drained."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def drain(self) -> Iterator[bytes]:
        if self._chunks:
            data = b"".join(self._chunks)
            self._chunks.clear()
            yield data


def entry_name(breakdown: str) -> str:
    """``time,browser`` -> ``by_time_and_browser.csv``."""
    parts = [re.sub(r"[^A-Za-z0-9_]+", "_", dim) for dim in breakdown.split(",")]
    return "by_" + "_and_".join(parts) + ".csv"


def _summary_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return neutralise(value) if isinstance(value, str) else value


def _safe_rows(rows: Sequence[tuple[Any, ...]], text_columns: Sequence[int]) -> Iterable[tuple[Any, ...]]:
    """``rows`` with formula triggers neutralised, untouched (C speed) when none needs it.

    Distinct values per text column are collected with C-level ``map``/``set``; only when one
    of them starts with a trigger is the table rewritten row by row.
    """
    fixes: dict[int, dict[str, str]] = {}
    for col in text_columns:
        risky = {
            v: neutralise(v)
            for v in set(map(itemgetter(col), rows))
            if isinstance(v, str) and v[:1] in FORMULA_TRIGGERS
        }
        if risky:
            fixes[col] = risky
    if not fixes:
        return rows
    return (tuple(fixes[i].get(c, c) if i in fixes else c for i, c in enumerate(row)) for row in rows)


def _entry(name: str, report: Report | ClickExport) -> zipfile.ZipInfo:
    """A compressed entry dated when the export was made (the report's ``generated_at``, wall time in
    its timezone), not 1980-01-01 as zipfile dates entries written from a stream."""
    info = zipfile.ZipInfo(name, date_time=report.generated_at.timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _write_summary(archive: zipfile.ZipFile, source: Report | ClickExport, bom: str) -> None:
    """``summary.csv``: (field, value) rows of a report's or a raw-click export's header."""
    with (
        archive.open(_entry("summary.csv", source), "w") as raw,
        io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="") as text,
    ):
        text.write(bom)
        writer = csv.writer(text)
        writer.writerow(("field", "value"))
        writer.writerows((key, _summary_cell(value)) for key, value in source.summary_items())


def render_csv(report: Report, settings: ExportSettings) -> Iterator[bytes]:
    sink = _Sink()
    bom = "\ufeff" if settings.csv_bom else ""
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        _write_summary(archive, report, bom)
        yield from sink.drain()
        for name, breakdown in report.breakdowns.items():
            rows = breakdown.rows
            with (
                archive.open(_entry(entry_name(name), report), "w", force_zip64=len(rows) > _ZIP64_ROWS) as raw,
                io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="", write_through=False) as text,
            ):
                text.write(bom)
                writer = csv.writer(text)
                writer.writerow(breakdown.columns)
                # time labels start with a digit and metrics are numbers: only text dimensions
                text_columns = [i for i, dim in enumerate(breakdown.dimensions) if dim != "time"]
                for start in range(0, len(rows), _ROWS_PER_CHUNK):
                    chunk = rows[start : start + _ROWS_PER_CHUNK]
                    writer.writerows(_safe_rows(chunk, text_columns))
                    yield from sink.drain()
            yield from sink.drain()
    yield from sink.drain()


#: A raw-click row is wider than a breakdown's: zip64 for clicks.csv from this many rows (4 GB / 16 KB).
_RAW_ZIP64_ROWS = 250_000


def render_clicks_csv(export: ClickExport, settings: ExportSettings) -> Iterator[bytes]:
    """Raw clicks: a ZIP of ``summary.csv`` and ``clicks.csv``, rows written as the cursor yields them."""
    sink = _Sink()
    bom = "\ufeff" if settings.csv_bom else ""
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        _write_summary(archive, export, bom)
        yield from sink.drain()
        zip64 = export.row_count >= _RAW_ZIP64_ROWS
        with (
            archive.open(_entry("clicks.csv", export), "w", force_zip64=zip64) as raw,
            io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="", write_through=False) as text,
        ):
            text.write(bom)
            writer = csv.writer(text)
            writer.writerow(export.columns)
            # time starts with a digit and visitor is hex: every other column is text a person typed
            text_columns = range(1, len(export.columns) - 1)
            rows = iter(export.rows)
            while chunk := list(islice(rows, _ROWS_PER_CHUNK)):
                writer.writerows(_safe_rows(chunk, text_columns))
                yield from sink.drain()
        yield from sink.drain()
    yield from sink.drain()
