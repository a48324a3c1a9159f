"""JSON: the report tree, streamed breakdown by breakdown."""

from __future__ import annotations

import json
from typing import Iterator

from ..report import Report
from ..settings import ExportSettings
from . import Format, register

_ROWS_PER_CHUNK = 2_000


def render_json(report: Report, settings: ExportSettings) -> Iterator[bytes]:
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    head = encode(report.header())
    yield (head[:-1] + ',"breakdowns":{').encode()
    for index, (name, breakdown) in enumerate(report.breakdowns.items()):
        parts = [("," if index else "") + encode(name) + ":["]
        for number, row in enumerate(breakdown.dicts()):
            parts.append(("," if number else "") + encode(row))
            if len(parts) >= _ROWS_PER_CHUNK:
                yield "".join(parts).encode()
                parts = []
        parts.append("]")
        yield "".join(parts).encode()
    yield b"}}"


JSON = register(Format("json", "application/json", "json", render_json))
