"""Words shared by the pictures of the xlsx and html formats: what a chart shows, and when.

Not a format (it registers nothing). One place, so the workbook's chart titles and the html
report's figures say the same thing about the same report.
"""

from __future__ import annotations

from datetime import datetime

from ..core.report.report import Breakdown, Report

#: How many rows of a single dimension its bar chart shows (rows come sorted by clicks, descending).
TOP_ROWS = 10
#: The metrics a chart draws, in this order of preference: counts, else the share.
COUNT_METRICS = ("clicks", "unique_clicks")

_PER = {"minute": "per minute", "10min": "per 10 minutes", "hour": "per hour", "day": "per day",
        "week": "per week", "month": "per month"}
_METRIC_WORDS = {"clicks": "clicks", "unique_clicks": "unique clicks", "share": "share of clicks"}


def charted_metrics(breakdown: Breakdown) -> tuple[str, ...]:
    """The metric columns a chart of ``breakdown`` draws: clicks and unique clicks when requested,
    else the share (``metrics=share`` alone)."""
    counts = tuple(m for m in COUNT_METRICS if m in breakdown.columns)
    if counts:
        return counts
    return ("share",) if "share" in breakdown.columns else ()


def metric_words(metric: str) -> str:
    return _METRIC_WORDS.get(metric, metric.replace("_", " "))


def _moment(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M")


def range_words(report: Report) -> str:
    """``2025-03-08 00:00 to 2025-03-10 23:59 (Europe/Paris)``: the report's range in its timezone."""
    return f"{_moment(report.start)} to {_moment(report.end)} ({report.timezone})"


def time_what(report: Report, breakdown: Breakdown) -> str:
    """``Clicks and unique clicks per day``."""
    what = " and ".join(metric_words(m) for m in charted_metrics(breakdown)) or "clicks"
    per = _PER.get(report.granularity, "per " + report.granularity)
    return f"{what[:1].upper()}{what[1:]} {per}"


def top_what(breakdown: Breakdown) -> str:
    """``Top 10 browser by clicks`` (fewer when the breakdown has fewer rows)."""
    return f"Top {min(TOP_ROWS, len(breakdown.rows))} {breakdown.name} by clicks"
