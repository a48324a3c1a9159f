"""The html report's summary: its totals, the earlier range's (``compare=``) and what was counted,
and how one value reads in a cell. Part of :mod:`._html` (not a format: it registers nothing)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..core.report.comparison import clicks_change
from ..core.report.report import Report, TimeBucket
from ._svg import count, percent, text


def cell(column: str, value: Any) -> str:
    """One cell's text: counts with thousands separators, shares as percentages, blanks as ``-``."""
    if value is None:
        return "-"
    if isinstance(value, TimeBucket):
        return value.label
    if column in ("share", "previous_share") and isinstance(value, (int, float)):
        return percent(value)
    if column == "clicks_change" and isinstance(value, (int, float)):
        return ("+" if value > 0 else "") + percent(value)  # -12.5 %, +40.0 %, 0.0 %
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return count(value)


def moment(value: datetime | None) -> str:
    """``2025-03-09 14:03:22 +01:00``: a time as a person reads it, to the second, with its UTC offset
    (the json and xml keep ISO 8601 with fractions)."""
    if value is None:
        return "none"
    offset = value.strftime("%z")
    return value.strftime("%Y-%m-%d %H:%M:%S") + (f" {offset[:3]}:{offset[3:5]}" if offset else "")


def _completeness(report: Report) -> str:
    cut = report.summary.truncated_breakdowns
    if not cut:
        return "yes: no breakdown was cut"
    return f"no: the server's row limits cut {', '.join(cut)} (the notes under their tables say where)"


def _summary_tables(report: Report) -> list[tuple[str, list[tuple[str, str]]]]:
    """(caption, rows) of the two summary tables: the totals, and what was counted."""
    s = report.summary
    lists = lambda mapping: "; ".join(f"{k} = {', '.join(v)}" for k, v in mapping.items()) or "none"  # noqa: E731
    selection = [("Scope", report.scope), ("Short code", report.short_code or "all of the owner's links")]
    if report.url_id is not None:
        selection.append(("URL id", report.url_id))
    selection += [
        ("Start", moment(report.start)),
        ("End", moment(report.end)),
        ("Timezone", report.timezone),
        ("Granularity", report.granularity),
        ("Group by", ", ".join(report.group_by)),
        ("Metrics", ", ".join(report.metrics)),
        ("Filters", lists(report.filters)),
        ("Excluded values", lists(report.exclude)),
        ("Bots excluded", "yes" if report.exclude_bots else "no"),
    ]
    totals = [
        ("Total clicks", count(s.total_clicks)),
        ("Unique clicks", count(s.unique_clicks)),
        ("Unique rate", percent(s.unique_rate) if s.unique_rate is not None else "none"),
        ("Average redirect", f"{s.avg_redirect_ms} ms" if s.avg_redirect_ms is not None else "none"),
        ("First click", moment(s.first_click)),
        ("Last click", moment(s.last_click)),
        ("Complete", _completeness(report)),
        ("Generated at", moment(report.generated_at)),
    ]
    tables = [("Totals", totals), ("What was counted", selection)]
    earlier = report.comparison
    if earlier is not None:
        tables.insert(
            1,
            (
                f"Compared with the {earlier.compare.replace('_', ' ')}",
                [
                    ("Start", moment(earlier.start)),
                    ("End", moment(earlier.end)),
                    ("Total clicks", count(earlier.total_clicks)),
                    ("Unique clicks", count(earlier.unique_clicks)),
                    ("Unique rate", percent(earlier.unique_rate) if earlier.unique_rate is not None else "none"),
                    (
                        "Average redirect",
                        f"{earlier.avg_redirect_ms} ms" if earlier.avg_redirect_ms is not None else "none",
                    ),
                    ("Change in clicks", cell("clicks_change", clicks_change(s.total_clicks, earlier.total_clicks))),
                ],
            ),
        )
    return tables


def summary(report: Report) -> str:
    tables = "".join(
        f'<table class="summary"><caption>{text(caption)}</caption><tbody>'
        + "".join(f'<tr><th scope="row">{text(name)}</th><td>{text(value)}</td></tr>' for name, value in rows)
        + "</tbody></table>"
        for caption, rows in _summary_tables(report)
    )
    return (
        f'<section aria-labelledby="summary"><h2 id="summary">Summary</h2>'
        f'<div class="summary-tables">{tables}</div></section>'
    )
