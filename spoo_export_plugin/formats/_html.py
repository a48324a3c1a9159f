"""html: one self-contained HTML5 report a person opens, reads and prints.

The summary, an SVG line chart of the time series, an SVG bar chart of each dimension's top
10, and a table per breakdown (its first 1,000 rows; the note under a longer one says how
many more the other formats hold). A crossed ``time,<dim>`` table, which runs to a row per
bucket and value (hundreds on a few months), shows its 20 busiest rows, so the page stays one
to send; its note says the full table is in the other formats. Nothing is loaded: no script, no remote ``src``/``href``,
no web font; the charts are inline SVG drawn by :mod:`._svg`, the style one inline
``<style>`` with a print stylesheet, and a Content-Security-Policy forbids anything else: the
response's header, and the same policy in a ``<meta>`` element for the saved file opened from
disk (less ``frame-ancestors``, which only a header can carry). Every value is escaped by
:func:`._svg.text` (a city named ``<script>`` is text).
The page is written in chunks (head and charts, then each table) so it streams like the others.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..core.report.report import Breakdown, Report, TimeBucket
from . import FORMATS, HTML_PAGE_POLICY
from ._captions import (
    TOP_ROWS,
    charted_metrics,
    dimension_words,
    earlier_metric,
    earlier_words,
    metric_words,
    range_words,
    time_what,
    top_what,
)
from ._html_summary import cell as _cell
from ._html_summary import moment
from ._html_summary import summary as _summary
from ._svg import bar_chart, count, line_chart, percent, text

if TYPE_CHECKING:  # formats read settings values; at run time they import only the report
    from ..core.settings import ExportSettings

#: Rows of each breakdown shown in the page; the other formats hold all of them.
TABLE_ROWS = 1_000
#: Rows of a crossed breakdown (``time,browser``) shown in the page: its busiest, by clicks.
CROSSED_TABLE_ROWS = 20
_CHUNK_ROWS = 250

_STYLE = """
:root { color-scheme: light; }
body { margin: 0; background: #ffffff; color: #111827; font: 15px/1.5 system-ui, -apple-system, "Segoe UI",
  Roboto, sans-serif; }
main { max-width: 64rem; margin: 0 auto; padding: 1.5rem 1rem 3rem; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; } h2 { font-size: 1.25rem; margin: 2rem 0 .5rem; }
h3 { font-size: 1.05rem; margin: 1.5rem 0 .4rem; }
.lede, .note, footer { color: #374151; } .note { font-size: .9rem; margin: .3rem 0 0; }
figure { margin: 1.25rem 0; } figcaption { font-weight: 600; margin-bottom: .25rem; }
svg.chart { display: block; width: 100%; height: auto; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
caption { text-align: left; } caption h3 { margin-top: 1.75rem; }
th, td { border-bottom: 1px solid #d1d5db; padding: .2rem .75rem .2rem 0; text-align: left;
  vertical-align: top; overflow-wrap: anywhere; }
thead th { border-bottom: 2px solid #111827; }
tbody th { font-weight: normal; }
td.num { text-align: right; white-space: nowrap; }
.summary-tables { display: flex; flex-wrap: wrap; gap: .5rem 2.5rem; align-items: flex-start; }
table.summary caption { font-weight: 600; color: #374151; padding-bottom: .2rem; }
table.summary th { font-weight: 600; padding-right: 1.5rem; white-space: nowrap; }
@page { size: A4; margin: 14mm 12mm; }
@media print {
  body { font-size: 10pt; }
  main { max-width: none; padding: 0; }
  h2, h3, caption, figcaption { break-after: avoid; page-break-after: avoid; }
  figure, table.summary, tr { break-inside: avoid; page-break-inside: avoid; }
  thead { display: table-header-group; }
  .table-wrap { overflow: visible; }
  svg.chart { max-height: 10cm; }
}
"""


def _head(report: Report) -> str:
    who = report.short_code or report.scope
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{HTML_PAGE_POLICY}">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Click statistics: {text(who)}, {text(range_words(report))}</title>"
        f"<style>{_STYLE}</style></head><body><main>"
        f'<header><h1>Click statistics</h1><p class="lede">{text(who)}: '
        f"{text(range_words(report))}</p></header>"
    )


def _series(breakdown: Breakdown, rows: list[tuple[Any, ...]]) -> list[tuple[str, list[float]]]:
    return [
        (metric_words(m), [row[breakdown.columns.index(m)] or 0 for row in rows]) for m in charted_metrics(breakdown)
    ]


def _short_time(bucket: Any) -> str:
    """An x-axis label: ``2025-03-09``, or ``03-09 01:00`` for wall-clock buckets (offset in the table)."""
    return bucket.label[5:16].replace("T", " ") if isinstance(bucket, TimeBucket) and bucket.wall_clock else str(bucket)


def _time_figure(report: Report, breakdown: Breakdown) -> str:
    series = _series(breakdown, breakdown.rows)
    if not series or not breakdown.rows:
        return ""
    fmt = percent if charted_metrics(breakdown) == ("share",) else count
    labels = [str(row[0]) for row in breakdown.rows]
    facts = []
    for name, values in series:
        high = max(range(len(values)), key=values.__getitem__)
        low = min(range(len(values)), key=values.__getitem__)
        facts.append(f"{name}: highest {fmt(values[high])} ({labels[high]}), lowest {fmt(values[low])} ({labels[low]})")
    what = time_what(report, breakdown)
    desc = (
        f"Line chart of {what.lower()} over {len(labels):,} buckets from {labels[0]} to {labels[-1]}. "
        + "; ".join(facts)
        + ". The table of the time breakdown below lists every value."
    )
    earlier = _earlier_series(report, breakdown)
    if earlier is not None:
        desc += (
            f" A grey dashed line draws {earlier[0]} by position: the bucket of the earlier range at the same place."
        )
    svg = line_chart(
        "chart-time",
        f"{what}, {range_words(report)}",
        desc,
        [_short_time(row[0]) for row in breakdown.rows],
        series,
        fmt,
        earlier=earlier,
    )
    return (
        f'<section aria-labelledby="over-time"><h2 id="over-time">Over time</h2><figure>'
        f"<figcaption>{text(what)}, {text(range_words(report))}</figcaption>{svg}</figure></section>"
    )


def _earlier_series(report: Report, breakdown: Breakdown) -> tuple[str, list[float]] | None:
    """``compare=``: the earlier range's values of the charted metric, as far as its buckets go."""
    metric = earlier_metric(report, breakdown)
    if metric is None:
        return None
    at, when = breakdown.columns.index(f"previous_{metric}"), breakdown.columns.index("previous_time")
    values = [row[at] or 0 for row in breakdown.rows if row[when] is not None]
    return (earlier_words(report, metric), values) if values else None


def _top_figure(report: Report, breakdown: Breakdown, number: int) -> str:
    rows = breakdown.rows[:TOP_ROWS]
    series = _series(breakdown, rows)
    if not series or not rows:
        return ""
    fmt = percent if charted_metrics(breakdown) == ("share",) else count
    labels = [str(row[0]) for row in rows]
    listing = "; ".join(
        f"{label}: " + ", ".join(f"{fmt(values[i])} {name}" for name, values in series)
        for i, label in enumerate(labels)
    )
    what = top_what(breakdown)
    svg = bar_chart(
        f"chart-top-{number}",
        f"{what}, {range_words(report)}",
        f"Bar chart of the {what.lower()}, largest first. {listing}.",
        labels,
        series,
        fmt,
    )
    return f"<figure><figcaption>{text(what)}, {text(range_words(report))}</figcaption>{svg}</figure>"


def _shown_rows(breakdown: Breakdown) -> list[tuple[Any, ...]]:
    """The rows the page shows: a crossed breakdown's :data:`CROSSED_TABLE_ROWS` busiest when it has more
    (most clicks first, ties in the table's order; its first rows without a clicks column), else the
    first :data:`TABLE_ROWS`."""
    rows = breakdown.rows
    if len(breakdown.dimensions) == 1 or len(rows) <= CROSSED_TABLE_ROWS:
        return rows[:TABLE_ROWS]
    if "clicks" not in breakdown.columns:
        return rows[:CROSSED_TABLE_ROWS]
    at = breakdown.columns.index("clicks")
    return heapq.nsmallest(CROSSED_TABLE_ROWS, rows, key=lambda row: -(row[at] or 0))  # = a stable sort, cut


def _table_note(breakdown: Breakdown, shown: int, others: str) -> str:
    notes = []
    total = len(breakdown.rows)
    if total > shown and len(breakdown.dimensions) > 1:
        which = (
            f"The {shown:,} rows with the most clicks of {total:,}, busiest first"
            if "clicks" in breakdown.columns
            else f"The first {shown:,} of {total:,} rows"
        )
        notes.append(f"{which}: the full table is in the {others} exports.")
    elif total > shown:
        notes.append(
            f"Showing the first {shown:,} of {total:,} rows: {total - shown:,} more are in the {others} exports."
        )
    if breakdown.truncated:
        notes.append(
            f"The server's row limits cut this breakdown at {total:,} of {breakdown.total_rows:,} rows in every format."
        )
    if not breakdown.rows:
        notes.append("No clicks in this range.")
    return "".join(f'<p class="note">{text(note)}</p>' for note in notes)


def _table(breakdown: Breakdown, number: int, others: str) -> Iterator[str]:
    """The breakdown's rows the page shows (:func:`_shown_rows`), in chunks of rows."""
    heading = f"table-{number}"
    columns = breakdown.columns
    yield (
        f'<section aria-labelledby="{heading}"><div class="table-wrap"><table><caption>'
        f'<h3 id="{heading}">Clicks by {text(" and ".join(map(dimension_words, breakdown.dimensions)))}</h3>'
        f"</caption><thead><tr>"
        + "".join(f'<th scope="col">{text(column)}</th>' for column in columns)
        + "</tr></thead><tbody>"
    )
    width = len(breakdown.dimensions)
    rows = _shown_rows(breakdown)
    for start in range(0, len(rows), _CHUNK_ROWS):
        parts = []
        for row in rows[start : start + _CHUNK_ROWS]:
            cells = [text(_cell(column, value)) for column, value in zip(columns, row, strict=True)]
            parts.append(
                f'<tr><th scope="row">{cells[0]}</th>'
                + "".join(f"<td>{cell}</td>" for cell in cells[1:width])
                + "".join(f'<td class="num">{cell}</td>' for cell in cells[width:])
                + "</tr>"
            )
        yield "".join(parts)
    yield f"</tbody></table></div>{_table_note(breakdown, len(rows), others)}</section>"


def _other_formats() -> str:
    names = sorted(name for name in FORMATS if name != "html")
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else "".join(names)


def html_chunks(report: Report) -> Iterator[str]:
    """The report as HTML text, in pieces."""
    yield _head(report) + _summary(report)
    time_breakdown: Breakdown | None = report.breakdowns.get("time")
    if time_breakdown is not None:
        yield _time_figure(report, time_breakdown)
    singles = [b for name, b in report.breakdowns.items() if name != "time" and len(b.dimensions) == 1]
    figures = [_top_figure(report, b, number) for number, b in enumerate(singles, 1)]
    if any(figures):
        yield (
            '<section aria-labelledby="top"><h2 id="top">Top values of each dimension</h2>'
            + "".join(figures)
            + "</section>"
        )
    others = _other_formats()
    yield '<section aria-labelledby="tables"><h2 id="tables">Tables</h2>'
    for number, breakdown in enumerate(report.breakdowns.values(), 1):
        yield from _table(breakdown, number, others)
    yield (
        f'</section><footer><p class="note">Generated {text(moment(report.generated_at))} by '
        f"spoo_export_plugin. Counts cover {text(range_words(report))}.</p></footer></main></body></html>\n"
    )


def render_html(report: Report, settings: ExportSettings) -> Iterator[bytes]:
    for chunk in html_chunks(report):
        yield chunk.encode("utf-8")
