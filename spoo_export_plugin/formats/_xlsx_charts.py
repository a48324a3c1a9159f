"""Native charts of the xlsx format (openpyxl.chart), drawn from the sheet's own cells.

Not a format (it registers nothing). A chart holds only cell references, no copy of the
numbers and no picture, so a user who edits a count sees the chart follow, and a chart
costs the same few kilobytes for 10 rows or 10,000: write-only mode and its flat memory stay.

- ``time``: a line chart of clicks (and unique clicks when requested) over the buckets, the
  first series a wide solid line and the second a dashed one over it (the html report's colours
  and dashes), so both show when they are equal, as on most days of a small link. Day,
  week and month buckets sit on a date axis; hour, 10-minute and minute buckets on a
  category axis, because a spreadsheet's date axis counts in whole days at the finest and
  would stack the 24 hours of a day on one point (and the repeated hour of a DST fall-back
  would collide).
- each single dimension (``browser``, ``city``...): a bar chart of its first 10 rows, which are
  its top 10 by clicks. A breakdown continued on ``<name> (2)`` keeps its chart on the first sheet.
"""

from __future__ import annotations

from typing import Any

from openpyxl.chart import BarChart, LineChart, Reference, Series
from openpyxl.chart.axis import DateAxis
from openpyxl.chart.shapes import GraphicalProperties
from openpyxl.chart.text import RichText, Text
from openpyxl.chart.title import Title
from openpyxl.drawing.line import LineProperties
from openpyxl.drawing.text import CharacterProperties, Paragraph, ParagraphProperties, RegularTextRun
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.properties import PageSetupProperties

from ..core.report.report import Breakdown, Report
from ._captions import TOP_ROWS, charted_metrics, earlier_metric, earlier_words, range_words, time_what, top_what
from ._svg import COLOURS, EARLIER_COLOUR

#: (width in EMU, preset dash) of the line chart's series: 2.25 pt solid, then 1.5 pt dashed over it.
_LINE_STYLES = ((28575, "solid"), (19050, "dash"), (19050, "sysDot"))
#: The earlier range's series (``compare=``): grey, 1.5 pt, long dashes (the html chart's).
_EARLIER_STYLE = (19050, "lgDash")

_WIDTH_CM, _HEIGHT_CM = 20.0, 11.0
_DATE_AXIS = {
    "day": ("days", None, "yyyy-mm-dd"),
    "week": ("days", 7.0, "yyyy-mm-dd"),
    "month": ("months", None, "yyyy-mm"),
}


def add_chart(ws: Any, report: Report, breakdown: Breakdown, rows_on_sheet: int) -> None:
    """Put the chart ``breakdown`` calls for on ``ws`` (its first sheet), right of the table.

    ``rows_on_sheet`` is how many data rows this sheet holds (below the header in row 1).
    Crossed breakdowns (``time,browser``) and empty ones get no chart.
    """
    if rows_on_sheet < 1 or not charted_metrics(breakdown):
        return
    if breakdown.name == "time":
        chart: Any | None = _line_chart(ws, report, breakdown, rows_on_sheet)
    elif len(breakdown.dimensions) == 1:
        chart = _bar_chart(ws, report, breakdown, min(rows_on_sheet, TOP_ROWS))
    else:
        chart = None
    if chart is not None:
        chart.width, chart.height = _WIDTH_CM, _HEIGHT_CM
        ws.add_chart(chart, f"{get_column_letter(len(breakdown.columns) + 2)}2")


def _add_series(chart: Any, ws: Any, breakdown: Breakdown, last_row: int) -> None:
    """One series per charted metric, named by its header cell, over rows 2..last_row."""
    for metric in charted_metrics(breakdown):
        column = breakdown.columns.index(metric) + 1
        chart.add_data(Reference(ws, min_col=column, min_row=1, max_row=last_row), titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=2, max_row=last_row))
    if charted_metrics(breakdown) == ("share",):
        chart.y_axis.number_format = "0%"
        chart.y_axis.numFmt.sourceLinked = False


def print_setup(ws: Any) -> None:
    """Landscape, one page wide, the header row on every page: a sheet with its chart prints tidily.

    Must run before the first row is appended (write-only mode writes the sheet's head then).
    """
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0  # as many pages tall as the rows need
    ws.print_title_rows = "1:1"


def _title(what: str, when: str) -> Title:
    """A two-line title: what the chart shows (bold), then the range and timezone (smaller)."""
    lines = [
        Paragraph(
            pPr=ParagraphProperties(defRPr=CharacterProperties(sz=size, b=bold)),
            r=[RegularTextRun(rPr=CharacterProperties(sz=size, b=bold), t=text)],
        )
        for text, size, bold in ((what, 1200, True), (when, 900, False))
    ]
    return Title(tx=Text(rich=RichText(p=lines)), overlay=False)


def _show_axes(chart: Any) -> None:
    """openpyxl 3.1 leaves ``<c:delete>`` unset, which Excel reads as hidden axes."""
    chart.x_axis.delete = False
    chart.y_axis.delete = False


def _line_chart(ws: Any, report: Report, breakdown: Breakdown, rows: int) -> Any:
    chart = LineChart()
    chart.title = _title(time_what(report, breakdown), range_words(report))
    date_axis = _DATE_AXIS.get(report.granularity)
    if date_axis is not None:
        unit, step, number_format = date_axis
        chart.x_axis = DateAxis(crossAx=100, axPos="b")  # 100: the value axis's id
        chart.y_axis.crossAx = chart.x_axis.axId
        chart.x_axis.baseTimeUnit = unit
        chart.x_axis.majorTimeUnit = unit
        chart.x_axis.majorUnit = step
        chart.x_axis.number_format = number_format
    _add_series(chart, ws, breakdown, rows + 1)
    for index, series in enumerate(chart.series):
        series.smooth = False  # a count per bucket: straight segments, no invented curve
        series.marker.symbol = "none"
        width, dash = _LINE_STYLES[index % len(_LINE_STYLES)]
        series.graphicalProperties = GraphicalProperties(
            ln=LineProperties(solidFill=COLOURS[index % len(COLOURS)].lstrip("#").upper(), w=width, prstDash=dash)
        )
    _add_earlier_series(chart, ws, report, breakdown, rows)
    chart.x_axis.title = "time"
    chart.y_axis.title = "clicks" if charted_metrics(breakdown) != ("share",) else "share"
    chart.legend.position = "b"
    _show_axes(chart)
    return chart


def _add_earlier_series(chart: Any, ws: Any, report: Report, breakdown: Breakdown, rows: int) -> None:
    """``compare=``: the earlier range's ``previous_<metric>`` cells as one more, dashed series, plotted
    by position on the same axis, over the rows whose ``previous_time`` is set (a prefix: the
    earlier range may have fewer buckets), named ``clicks (previous period)``."""
    metric = earlier_metric(report, breakdown)
    if metric is None:
        return
    when = breakdown.columns.index("previous_time")
    dated = sum(1 for row in breakdown.rows[:rows] if row[when] is not None)
    if not dated:
        return
    column = breakdown.columns.index(f"previous_{metric}") + 1
    series = Series(Reference(ws, min_col=column, min_row=2, max_row=dated + 1), title=earlier_words(report, metric))
    series.smooth = False
    series.marker.symbol = "none"
    width, dash = _EARLIER_STYLE
    series.graphicalProperties = GraphicalProperties(
        ln=LineProperties(solidFill=EARLIER_COLOUR.lstrip("#").upper(), w=width, prstDash=dash)
    )
    chart.series.append(series)


def _bar_chart(ws: Any, report: Report, breakdown: Breakdown, rows: int) -> Any:
    chart = BarChart()
    chart.type = "bar"  # horizontal: long labels (cities, referrers) stay readable
    chart.grouping = "clustered"
    chart.title = _title(top_what(breakdown), range_words(report))
    _add_series(chart, ws, breakdown, rows + 1)
    chart.x_axis.scaling.orientation = "maxMin"  # the top row on top, as in the table
    chart.x_axis.title = breakdown.name
    chart.y_axis.title = "clicks" if charted_metrics(breakdown) != ("share",) else "share"
    chart.y_axis.crosses = "max"  # with maxMin categories, keep the value labels at the bottom
    if len(chart.series) == 1:
        chart.legend = None
    else:
        chart.legend.position = "b"
    _show_axes(chart)
    return chart
