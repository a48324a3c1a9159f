"""JSON: the report tree, streamed breakdown by breakdown.

Rows are encoded a chunk at a time (one C-level ``encode`` of a list of rows, brackets cut
off), so the speed is that of one ``json.dumps`` while memory stays at one chunk.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import islice
from typing import TYPE_CHECKING

from ..core.report.click_rows import ClickExport
from ..core.report.report import Report

if TYPE_CHECKING:  # formats read settings values; at run time they import only the report
    from ..core.settings import ExportSettings

_ROWS_PER_CHUNK = 5_000


def render_json(report: Report, settings: ExportSettings) -> Iterator[bytes]:
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    head = encode(report.header())
    # "replace": a lone surrogate (possible only from a lax driver) must not abort the stream
    yield (head[:-1] + ',"breakdowns":{').encode("utf-8", "replace")
    for index, (name, breakdown) in enumerate(report.breakdowns.items()):
        opening = ("," if index else "") + encode(name) + ":["
        rows = breakdown.dicts()
        separator = ""
        while True:
            chunk = list(islice(rows, _ROWS_PER_CHUNK))
            if not chunk:
                break
            yield (opening + separator + encode(chunk)[1:-1]).encode("utf-8", "replace")
            opening, separator = "", ","
        yield (opening + "]").encode()
    yield b"}}"


def render_clicks_json(export: ClickExport, settings: ExportSettings) -> Iterator[bytes]:
    """Raw clicks: the header keys, then ``"clicks": [{column: value, ...}, ...]`` a chunk at a time."""
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    head = encode(export.header())
    yield (head[:-1] + ',"clicks":[').encode("utf-8", "replace")
    columns = export.columns
    rows = iter(export.rows)
    separator = ""
    while chunk := list(islice(rows, _ROWS_PER_CHUNK)):
        yield (separator + encode([dict(zip(columns, row, strict=True)) for row in chunk])[1:-1]).encode(
            "utf-8", "replace"
        )
        separator = ","
    yield b"]}"
