"""xml: the JSON report's tree as one well-formed XML 1.0 document, streamed.

Mapping from the JSON tree (choices a reader needs to know):

- the root element is ``<report>``; object keys become child elements of the same name;
- a list becomes its key's element holding one ``<item>`` per entry
  (``<group_by><item>time</item><item>browser</item></group_by>``; an empty list leaves
  the element empty);
- ``breakdowns`` holds one ``<breakdown name="time,browser">`` per breakdown, since a key
  such as ``time,browser`` is not a valid element name; the ``name`` attribute is the
  JSON key verbatim. Its rows are ``<row>`` elements with one child per column
  (``<row><time>2025-03-09</time><browser>Chrome</browser><clicks>3</clicks>...</row>``);
- ``null`` becomes an empty element, booleans ``true``/``false``;
- characters XML 1.0 forbids (NUL and other C0 controls, U+FFFE/U+FFFF, lone surrogates)
  are removed, and a carriage return is written as ``&#13;`` so parsers keep it.

Rows go through :func:`xmltodict.unparse` a chunk at a time, so memory holds one chunk.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape, quoteattr

import xmltodict

from ..core.report.click_rows import ClickExport
from ..core.report.report import Report
from ._text import xml_safe

if TYPE_CHECKING:  # formats read settings values; at run time they import only the report
    from ..core.settings import ExportSettings

_ROWS_PER_CHUNK = 2_000
ROOT, LIST_ITEM, BREAKDOWN, ROW = "report", "item", "breakdown", "row"


def _tree(value: Any) -> Any:
    """A JSON-ready value in xmltodict's shape (lists wrapped in ``<item>`` elements)."""
    if isinstance(value, dict):
        return {key: _tree(item) for key, item in value.items()}
    if isinstance(value, list):
        return {LIST_ITEM: [_tree(item) for item in value]}
    return value


def _clean(text: str) -> bytes:
    text = xml_safe(text)
    if "\r" in text:  # only data can hold one (no pretty-printing): keep it through parsing
        text = text.replace("\r", "&#13;")
    return text.encode("utf-8")


def render_xml(report: Report, settings: ExportSettings) -> Iterator[bytes]:
    head = xmltodict.unparse(_tree(report.header()), full_document=False)
    yield _clean(f'<?xml version="1.0" encoding="utf-8"?>\n<{ROOT}>{head}<breakdowns>')
    for name, breakdown in report.breakdowns.items():
        opening = f"<{BREAKDOWN} name={quoteattr(xml_safe(name))}>"
        rows = breakdown.dicts()
        while True:
            chunk = list(islice(rows, _ROWS_PER_CHUNK))
            if not chunk:
                break
            yield _clean(opening + xmltodict.unparse({ROW: chunk}, full_document=False))
            opening = ""
        yield _clean(opening + f"</{BREAKDOWN}>")
    yield f"</breakdowns></{ROOT}>".encode()


CLICKS, CLICK = "clicks", "click"


def render_clicks_xml(export: ClickExport, settings: ExportSettings) -> Iterator[bytes]:
    """Raw clicks: ``<report>`` with the header elements, then ``<clicks>`` holding one ``<click>``
    per row and one child per column (``<click><time>...</time><short_code>...</short_code>...``).

    Rows are written as text (escaped, then cleaned like every chunk), not through xmltodict: column
    names are fixed or declared dimension names (``[a-z][a-z0-9_]*``), all valid element names.
    """
    head = xmltodict.unparse(_tree(export.header()), full_document=False)
    yield _clean(f'<?xml version="1.0" encoding="utf-8"?>\n<{ROOT}>{head}<{CLICKS}>')
    tags = [(f"<{column}>", f"</{column}>") for column in export.columns]
    rows = iter(export.rows)
    while chunk := list(islice(rows, _ROWS_PER_CHUNK)):
        parts: list[str] = []
        for row in chunk:
            parts.append(f"<{CLICK}>")
            for (opening, closing), value in zip(tags, row, strict=True):
                parts += (opening, escape(value), closing)
            parts.append(f"</{CLICK}>")
        yield _clean("".join(parts))
    yield f"</{CLICKS}></{ROOT}>".encode()
