"""Static SVG charts for the html report: a line chart and a horizontal bar chart, as text.

Not a format (it registers nothing). Under 200 lines instead of a charting dependency: the
report needs two plain charts, and owning the markup is what guarantees the report's
promises: no script (pygal emits ``<script>`` elements, one pointing at a remote file, unless
configured away, and still one inline with ``js=[]``), an accessible ``<title>``/``<desc>``
on every chart (leather writes neither), and every label escaped once, here, after the
characters XML forbids are removed (pygal keeps a NUL byte). docs/formats.md has the comparison.

Every string that reaches the markup goes through :func:`text`; numbers are formatted here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

from ._text import xml_safe

#: Series colours, each with at least 4.5:1 contrast on white (WCAG AA for text, 3:1 for graphics).
COLOURS = ("#1d4ed8", "#b45309", "#047857")
#: Line styles of a line chart's series, (stroke width, dash pattern): the first solid and wider,
#: the next dashed on top of it, so two equal series (unique clicks = clicks, common on small
#: links) still show both colours instead of the second hiding the first.
LINE_STYLES = ((3.0, None), (2.0, "7 5"), (2.0, "2 3"))
#: The earlier range's series (``compare=``): grey (4.8:1 on white), long dashes, drawn under the others.
EARLIER_COLOUR, EARLIER_STYLE = "#6b7280", (2.0, "9 5")
INK, MUTED, GRID = "#111827", "#374151", "#d1d5db"
_FONT = "font-family=\"system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif\""

Number = float
Formatter = Callable[[Number], str]
Series = tuple[str, Sequence[Number]]


def text(value: object) -> str:
    """``value`` as escaped character data or attribute value (quotes included)."""
    return escape(xml_safe(str(value)), quote=True)


def count(value: Number) -> str:
    """``1,234`` (counts); a fraction keeps one decimal."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def percent(value: Number) -> str:
    """``12.3 %`` for a share of 0.123."""
    return f"{value * 100:.1f} %"


def nice_scale(peak: Number, ticks: int = 4, whole: bool = True) -> tuple[Number, Number]:
    """(top, step) of a value axis from 0: a step of 1, 2 or 5 times a power of ten giving
    at most ``ticks`` intervals (at least 1 for ``whole`` numbers: no half click), and the
    first multiple of it at or above ``peak``."""
    if peak <= 0:
        return (1, 1) if whole else (1, 0.25)
    rough = peak / ticks
    power = 10 ** math.floor(math.log10(rough))
    step = next(s * power for s in (1, 2, 5, 10) if rough <= s * power)
    if whole:
        step = max(step, 1)
    return step * math.ceil(peak / step - 1e-9), step


def _open(chart_id: str, width: int, height: int, title: str, desc: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'role="img" aria-labelledby="{chart_id}-title {chart_id}-desc" {_FONT} font-size="12">',
        f'<title id="{chart_id}-title">{text(title)}</title>',
        f'<desc id="{chart_id}-desc">{text(desc)}</desc>',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
    ]


def _stroke(index: int) -> str:
    """The stroke attributes of a line chart's ``index``-th series (colour, width, dash); -1 the earlier range's."""
    width, dash = EARLIER_STYLE if index < 0 else LINE_STYLES[index % len(LINE_STYLES)]
    colour = EARLIER_COLOUR if index < 0 else COLOURS[index % len(COLOURS)]
    dashed = f' stroke-dasharray="{dash}"' if dash else ""
    return f'stroke="{colour}" stroke-width="{width:g}"{dashed}'


def _legend(
    series: Sequence[Series], x: float, y: float, lines: bool = False, earlier: Series | None = None
) -> list[str]:
    """A swatch and the name of each series: a square for bars, a stretch of the line (its dash too) for
    lines, the earlier range's last (index -1: its own style)."""
    parts = []
    entries = list(enumerate(series)) + ([(-1, earlier)] if earlier is not None else [])
    for index, (name, _) in entries:
        gap = 27 if lines else 17
        swatch = (
            f'<line class="legend-line" x1="{x:.1f}" x2="{x + 22:.1f}" y1="{y - 3:.1f}" y2="{y - 3:.1f}" '
            f"{_stroke(index)}/>"
            if lines
            else f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="12" height="12" fill="{COLOURS[index % len(COLOURS)]}"/>'
        )
        parts.append(f'{swatch}<text x="{x + gap:.1f}" y="{y + 1:.1f}" fill="{INK}">{text(name)}</text>')
        x += gap + 13 + 7 * len(name)
    return parts


def _value_grid(
    top: Number, step: Number, fmt: Formatter, left: float, right: float, y_of: Callable[[Number], float]
) -> list[str]:
    parts = []
    for tick in range(round(top / step) + 1):
        value = tick * step
        y = y_of(value)
        parts.append(
            f'<line x1="{left:.1f}" x2="{right:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
            f'<text x="{left - 6:.1f}" y="{y + 4:.1f}" text-anchor="end" fill="{MUTED}">'
            f"{text(fmt(value))}</text>"
        )
    return parts


def line_chart(
    chart_id: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[Series],
    fmt: Formatter = count,
    width: int = 880,
    height: int = 320,
    earlier: Series | None = None,
) -> str:
    """One polyline per series over ``labels`` (x), with about six x labels and a value grid; each
    series in its own colour and dash (:data:`LINE_STYLES`), later ones drawn over earlier ones.

    ``earlier`` (``compare=``): the earlier range's series, plotted by position against the same
    x axis (it may be shorter: it stops where the earlier range ends), grey and long-dashed
    (:data:`EARLIER_STYLE`), drawn first so the current range's lines stay on top.
    """
    left, right, top_margin, bottom = 64.0, width - 16.0, 34.0, height - 40.0
    drawn = list(series) + ([earlier] if earlier is not None else [])
    top, step = nice_scale(max((v for _, values in drawn for v in values), default=0), whole=fmt is count)
    n = len(labels)

    def x_of(index: int) -> float:
        return (left + right) / 2 if n == 1 else left + (right - left) * index / (n - 1)

    def y_of(value: Number) -> float:
        return bottom - (bottom - top_margin) * (value / top)

    parts = _open(chart_id, width, height, title, desc)
    parts += _legend(series, left, 16, lines=True, earlier=earlier)
    parts += _value_grid(top, step, fmt, left, right, y_of)
    every = max(1, math.ceil(n / 6))
    for index in range(0, n, every):
        x = x_of(index)
        anchor = "end" if n > 1 and x > right - 40 else "middle"  # the last label stays inside the chart
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{bottom:.1f}" y2="{bottom + 5:.1f}" stroke="{MUTED}"/>'
            f'<text x="{x:.1f}" y="{bottom + 19:.1f}" text-anchor="{anchor}" fill="{MUTED}">'
            f"{text(labels[index])}</text>"
        )
    parts.append(f'<line x1="{left:.1f}" x2="{right:.1f}" y1="{bottom:.1f}" y2="{bottom:.1f}" stroke="{MUTED}"/>')
    for index, (name, values) in ([(-1, earlier)] if earlier is not None else []) + list(enumerate(series)):
        colour = EARLIER_COLOUR if index < 0 else COLOURS[index % len(COLOURS)]
        points = " ".join(f"{x_of(i):.1f},{y_of(v):.1f}" for i, v in decimate(values, int(right - left)))
        kind = "series earlier" if index < 0 else "series"
        parts.append(
            f'<polyline class="{kind}" data-series="{text(name)}" fill="none" {_stroke(index)} '
            f'stroke-linejoin="round" points="{points}"/>'
        )
        if len(values) == 1:  # one bucket: a dot, since a line needs two points (the later, smaller dot inside)
            parts.append(
                f'<circle cx="{x_of(0):.1f}" cy="{y_of(values[0]):.1f}" r="{5 - 2 * min(max(index, 0), 1)}" '
                f'fill="{colour}"/>'
            )
    parts.append("</svg>")
    return "".join(parts)


def decimate(values: Sequence[Number], columns: int) -> list[tuple[int, Number]]:
    """(index, value) points to draw: all of them when they fit in ``columns`` pixel columns at
    two points each, else each column's lowest and highest point in order, so every peak and
    dip stays visible while a 10,000-bucket series draws as at most 2 x ``columns`` points."""
    n = len(values)
    if n <= 2 * columns:
        return list(enumerate(values))
    points: list[tuple[int, Number]] = []
    for column in range(columns):
        lo, hi = column * n // columns, (column + 1) * n // columns
        low = min(range(lo, hi), key=values.__getitem__)
        high = max(range(lo, hi), key=values.__getitem__)
        points += sorted({(low, values[low]), (high, values[high])})
    return points


def shorten(label: str, limit: int = 26) -> str:
    """``label`` cut to ``limit`` characters with an ellipsis (the full text stays in the bar's title)."""
    return label if len(label) <= limit else label[: limit - 1] + "\u2026"


def bar_chart(
    chart_id: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[Series],
    fmt: Formatter = count,
    width: int = 880,
) -> str:
    """Horizontal bars, one group per label (top to bottom as given), one bar per series."""
    label_width, row_gap, bar_height = 200.0, 10.0, 14.0
    group = bar_height * len(series) + row_gap
    left, right, top_margin = label_width + 12, width - 70.0, 34.0
    bottom = top_margin + group * len(labels)
    height = int(bottom + 30)
    top, step = nice_scale(max((v for _, values in series for v in values), default=0), whole=fmt is count)

    def x_of(value: Number) -> float:
        return left + (right - left) * (value / top)

    parts = _open(chart_id, width, height, title, desc)
    parts += _legend(series, left, 16)
    for tick in range(round(top / step) + 1):
        value = tick * step
        x = x_of(value)
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top_margin:.1f}" y2="{bottom:.1f}" stroke="{GRID}"/>'
            f'<text x="{x:.1f}" y="{bottom + 18:.1f}" text-anchor="middle" fill="{MUTED}">'
            f"{text(fmt(value))}</text>"
        )
    for row, label in enumerate(labels):
        y = top_margin + row * group + row_gap / 2
        parts.append(
            f'<g class="bar-group"><title>{text(label)}</title>'
            f'<text x="{label_width:.1f}" y="{y + group / 2:.1f}" text-anchor="end" fill="{INK}">'
            f"{text(shorten(label))}</text>"
        )
        for index, (_, values) in enumerate(series):
            value = values[row]
            colour = COLOURS[index % len(COLOURS)]
            bar_y = y + index * bar_height
            parts.append(
                f'<rect class="bar" x="{left:.1f}" y="{bar_y:.1f}" width="{x_of(value) - left:.1f}" '
                f'height="{bar_height - 2:.1f}" fill="{colour}"/>'
                f'<text x="{x_of(value) + 4:.1f}" y="{bar_y + bar_height - 4:.1f}" fill="{INK}" '
                f'font-size="11">{text(fmt(value))}</text>'
            )
        parts.append("</g>")
    parts.append(f'<line x1="{left:.1f}" x2="{left:.1f}" y1="{top_margin:.1f}" y2="{bottom:.1f}" stroke="{MUTED}"/>')
    parts.append("</svg>")
    return "".join(parts)
