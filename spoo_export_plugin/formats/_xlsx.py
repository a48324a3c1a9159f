"""xlsx: sheet ``Summary``, then one sheet per breakdown, written in openpyxl's write-only mode.

Write-only mode streams every sheet to a temporary file as rows are appended, so memory
stays flat however many rows; the finished workbook is then read back in chunks.

- Sheet titles are the breakdown names (``time``, ``time,browser``) made valid for Excel by
  :func:`sheet_title`; a breakdown longer than one sheet (1,048,575 data rows) continues
  on ``<title> (2)``.
- Row 1 is the bold header and is frozen; counts are numbers; time buckets are real Excel
  dates (day, week = its Monday, month) or datetimes (hour, 10min, minute: local wall time,
  with the UTC offset of the bucket shown by the number format, e.g.
  ``2025-11-02 01:10 (UTC-04:00)``, so the repeated hour of a DST fall-back stays
  distinguishable).
- No text becomes a formula or an error value: text that openpyxl would store as one
  (``=HYPERLINK(...)``, ``#N/A``) is written as a string cell. Characters XML 1.0 forbids
  are removed, since a workbook is XML inside.
- Shares and, with ``compare=``, ``previous_share`` and ``clicks_change`` are numbers shown as
  percentages; ``previous_time`` is a date like ``time``; an empty cell stands for null.
- The ``time`` sheet and each single-dimension sheet carry a native chart of their own
  cells (:mod:`._xlsx_charts`).
"""

from __future__ import annotations

import functools
import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from itertools import chain, islice
from typing import TYPE_CHECKING, Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from ..core.report.click_rows import ClickExport
from ..core.report.report import Report, TimeBucket
from ..core.report.timebudget import TimeBudget, render_budget
from ._text import xml_safe
from ._xlsx_charts import add_chart, print_setup

if TYPE_CHECKING:  # formats read settings values; at run time they import only the report
    from ..core.settings import ExportSettings

EXCEL_MAX_ROWS = 1_048_576
TITLE_MAX = 31
_TITLE_ILLEGAL = re.compile(r"[\[\]:*?/\\]")
_RESERVED_TITLES = {"history"}  # Excel keeps this name for itself
_DATE_FORMATS = {"day": "yyyy-mm-dd", "week": "yyyy-mm-dd", "month": "yyyy-mm"}
_WIDTH_SAMPLE = 1_000
_READ_CHUNK = 256 * 1024
#: Rows appended between two looks at the time budget (~40 ms of openpyxl at 25,000 rows/s).
_BUDGET_ROWS = 1_000
_BOLD = Font(bold=True)
#: Columns of fractions shown as percentages: shares and (``compare=``) the change in clicks.
PERCENT_COLUMNS = ("share", "previous_share", "clicks_change")


def sheet_title(name: str, taken: set[str]) -> str:
    """A title Excel accepts for ``name``, not in ``taken`` (casefolded titles; updated).

    At most 31 characters, none of ``[]:*?/\\``, no apostrophe at either end, not the
    reserved ``History``, unique regardless of case (`` (2)``, `` (3)``... when needed).
    """
    base = _TITLE_ILLEGAL.sub("_", xml_safe(name)).strip("'").strip() or "Sheet"
    title = base[:TITLE_MAX].rstrip("'")
    number = 1
    while title.casefold() in taken or title.casefold() in _RESERVED_TITLES:
        number += 1
        suffix = f" ({number})"
        title = base[: TITLE_MAX - len(suffix)].rstrip("'") + suffix
    taken.add(title.casefold())
    return title


def _text_cell(ws: Any, value: str) -> Any:
    """``value`` as plain text: a string cell when openpyxl would guess formula or error."""
    value = xml_safe(value)
    if value[:1] == "=" or value in ERROR_CODES:
        cell = WriteOnlyCell(ws, value=value)
        cell.data_type = "s"
        return cell
    return value


def _cell_converter(ws: Any) -> Callable[[Any], Any]:
    """value -> what to append: time buckets as formatted dates.

    A styled write-only cell is written at once and never reused by openpyxl, so the cell of
    the latest bucket is appended again while the bucket repeats (rows come sorted by time):
    one cell in memory, not one per bucket.
    """
    latest: list[Any] = [None, None]  # [bucket label, cell]

    def convert(value: Any) -> Any:
        if isinstance(value, str):
            return _text_cell(ws, value)
        if isinstance(value, TimeBucket):
            if latest[0] != value.label:
                latest[:] = [value.label, _time_cell(ws, value)]
            return latest[1]
        return value

    return convert


def _time_cell(ws: Any, bucket: TimeBucket) -> WriteOnlyCell:
    if bucket.wall_clock:  # minute precision, which 10-minute and minute buckets need too
        offset = bucket.label[19:] or "+00:00"
        cell = WriteOnlyCell(ws, value=bucket.start)
        cell.number_format = f'yyyy-mm-dd hh:mm" (UTC{offset})"'
    else:
        cell = WriteOnlyCell(ws, value=bucket.start.date())
        cell.number_format = _DATE_FORMATS.get(bucket.granularity, "yyyy-mm-dd")
    return cell


def _display_width(value: Any) -> int:
    if isinstance(value, TimeBucket):
        return 25 if value.wall_clock else len(value.label)
    return len(str(value)) if value is not None else 0


def _new_sheet(wb: Workbook, title: str, columns: Sequence[str], sample: Sequence[Sequence[Any]]) -> Any:
    """A sheet with column widths from a sample of rows, then its bold, frozen header."""
    ws = wb.create_sheet(title)
    for index, column in enumerate(columns):
        widest = max([len(column)] + [_display_width(row[index]) for row in sample[:_WIDTH_SAMPLE]])
        ws.column_dimensions[get_column_letter(index + 1)].width = min(max(widest + 2, 10), 60)
    ws.freeze_panes = "A2"  # must precede the first row in write-only mode
    print_setup(ws)
    header = []
    for column in columns:
        cell = WriteOnlyCell(ws, value=xml_safe(column))
        cell.data_type = "s"
        cell.font = _BOLD
        header.append(cell)
    ws.append(header)
    return ws


def build_workbook(report: Report, path: Any, budget: TimeBudget | None = None) -> None:
    """Write the workbook to ``path`` (a file name or a writable binary file).

    With ``budget``, raises :class:`~spoo_export_plugin.core.report.timebudget.RenderTimeout` once writing
    passes it (looked at every :data:`_BUDGET_ROWS` rows, each sheet and before the file is zipped).
    """
    check = budget.check if budget is not None else _no_check
    wb = Workbook(write_only=True)
    try:
        _fill_workbook(wb, report, check)
        check()
        wb.save(path)
    except BaseException:
        _discard(wb)
        raise


def _fill_workbook(wb: Workbook, report: Report, check: Callable[[], None]) -> None:
    wb.properties.creator = "spoo_export_plugin"
    taken: set[str] = set()
    summary = report.summary_items()
    ws = _new_sheet(wb, sheet_title("Summary", taken), ("field", "value"), summary)
    for key, value in summary:
        ws.append([key, (_text_cell(ws, value) if value else None) if isinstance(value, str) else value])
    per_sheet = EXCEL_MAX_ROWS - 1
    for name, breakdown in report.breakdowns.items():
        rows = breakdown.rows
        for start in range(0, max(len(rows), 1), per_sheet):
            part = rows[start : start + per_sheet]
            ws = _new_sheet(wb, sheet_title(name, taken), breakdown.columns, part)
            if start == 0:  # the chart stays on the first sheet of a continued breakdown
                add_chart(ws, report, breakdown, len(part))
            convert = _cell_converter(ws)
            append = ws.append
            # a column of its own converter each: previous_time's buckets (compare=) alternate with time's
            special = {
                i: _cell_converter(ws) for i, column in enumerate(breakdown.columns) if column == "previous_time"
            }
            special.update(
                (i, functools.partial(_percent_cell, ws))
                for i, column in enumerate(breakdown.columns)
                if column in PERCENT_COLUMNS
            )
            for first in range(0, len(part), _BUDGET_ROWS):
                check()
                batch = part[first : first + _BUDGET_ROWS]
                if not special:
                    for row in batch:
                        append([convert(value) for value in row])
                    continue
                for row in batch:
                    cells = [convert(value) for value in row]
                    for at, special_cell in special.items():
                        cells[at] = special_cell(row[at])
                    append(cells)


def _no_check() -> None:
    """No budget: nothing to look at."""


def _discard(wb: Workbook) -> None:
    """Close and delete the sheets' temporary files of a workbook that will not be saved: openpyxl
    deletes them only when saving, else at interpreter exit (a disk leak per failed export)."""
    for ws in wb.worksheets:
        writer = getattr(ws, "_writer", None)
        if writer is None:
            continue
        try:
            if not ws.closed:
                ws.close()
        except Exception:
            pass
        try:
            writer.cleanup()
        except (OSError, ValueError):  # already removed by a save that failed later
            pass


def _percent_cell(ws: Any, value: Any) -> Any:
    """A share or change (0.1234) shown as a percentage (12.34 %), still the number underneath."""
    if value is None:
        return None
    cell = WriteOnlyCell(ws, value=value)
    cell.number_format = "0.00%"
    return cell


def render_xlsx(report: Report, settings: ExportSettings) -> Iterator[bytes]:
    """The workbook is written whole to a temporary file before its first chunk, within
    ``render_time_ms`` (so a timeout is still a 503: no byte was sent)."""
    with tempfile.TemporaryFile() as spool:
        build_workbook(report, spool, render_budget(settings))
        spool.seek(0)
        while chunk := spool.read(_READ_CHUNK):
            yield chunk


#: Raw-click rows per sheet: Excel's rows but the header; more continue on ``Clicks (2)``...
CLICKS_PER_SHEET = EXCEL_MAX_ROWS - 1


def build_clicks_workbook(export: ClickExport, path: Any) -> None:
    """Raw clicks: sheet ``Summary`` (the header), then ``Clicks`` (``Clicks (2)``... past one sheet).

    Every cell is text (the time keeps its offset and milliseconds, which an Excel date cannot),
    written through :func:`_text_cell`, so none becomes a formula.
    """
    wb = Workbook(write_only=True)
    try:
        _fill_clicks(wb, export)
        wb.save(path)
    except BaseException:
        _discard(wb)
        raise


def _fill_clicks(wb: Workbook, export: ClickExport) -> None:
    wb.properties.creator = "spoo_export_plugin"
    taken: set[str] = set()
    summary = export.summary_items()
    ws = _new_sheet(wb, sheet_title("Summary", taken), ("field", "value"), summary)
    for key, value in summary:
        ws.append([key, (_text_cell(ws, value) if value else None) if isinstance(value, str) else value])
    rows: Iterator[Sequence[str]] = iter(export.rows)
    sample = list(islice(rows, _WIDTH_SAMPLE))  # column widths from the first rows
    rows = chain(sample, rows)
    while True:
        ws = _new_sheet(wb, sheet_title("Clicks", taken), export.columns, sample)
        append = ws.append
        written = 0
        for row in islice(rows, CLICKS_PER_SHEET):
            append([_text_cell(ws, value) for value in row])
            written += 1
        following = next(rows, None) if written == CLICKS_PER_SHEET else None
        if following is None:
            break
        rows = chain((following,), rows)


def render_clicks_xlsx(export: ClickExport, settings: ExportSettings) -> Iterator[bytes]:
    with tempfile.TemporaryFile() as spool:
        build_clicks_workbook(export, spool)
        spool.seek(0)
        while chunk := spool.read(_READ_CHUNK):
            yield chunk
