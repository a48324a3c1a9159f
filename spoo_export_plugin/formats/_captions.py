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

_PER = {
    "minute": "per minute",
    "10min": "per 10 minutes",
    "hour": "per hour",
    "day": "per day",
    "week": "per week",
    "month": "per month",
}
_METRIC_WORDS = {"clicks": "clicks", "unique_clicks": "unique clicks", "share": "share of clicks"}
#: Dimension -> (one, many) in words; a dimension the host declares is called by its name.
_DIMENSION_WORDS = {
    "time": ("time", "times"),
    "browser": ("browser", "browsers"),
    "os": ("operating system", "operating systems"),
    "country": ("country", "countries"),
    "city": ("city", "cities"),
    "referrer": ("referrer", "referrers"),
    "short_code": ("short code", "short codes"),
    "device": ("device", "devices"),
    "domain": ("domain", "domains"),
    "utm_source": ("UTM source", "UTM sources"),
    "utm_medium": ("UTM medium", "UTM mediums"),
    "utm_campaign": ("UTM campaign", "UTM campaigns"),
    "utm_term": ("UTM term", "UTM terms"),
    "utm_content": ("UTM content", "UTM contents"),
}


def charted_metrics(breakdown: Breakdown) -> tuple[str, ...]:
    """The metric columns a chart of ``breakdown`` draws: clicks and unique clicks when requested,
    else the share (``metrics=share`` alone)."""
    counts = tuple(m for m in COUNT_METRICS if m in breakdown.columns)
    if counts:
        return counts
    return ("share",) if "share" in breakdown.columns else ()


def metric_words(metric: str) -> str:
    return _METRIC_WORDS.get(metric, metric.replace("_", " "))


def earlier_metric(report: Report, breakdown: Breakdown) -> str | None:
    """``compare=``: the metric the line chart draws for the earlier range (the first it charts, clicks
    when requested), when its ``previous_`` column is there; else None."""
    charted = charted_metrics(breakdown)
    if report.comparison is None or not charted or f"previous_{charted[0]}" not in breakdown.columns:
        return None
    return charted[0]


def earlier_words(report: Report, metric: str) -> str:
    """``clicks (previous period)``, ``unique clicks (previous year)``: the earlier series' name."""
    compare = report.comparison.compare if report.comparison is not None else "previous_period"
    return f"{metric_words(metric)} ({compare.replace('_', ' ')})"


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


def dimension_words(dimension: str, many: bool = False) -> str:
    """``country`` -> ``country`` (``countries`` when ``many``); a declared dimension keeps its name."""
    one, plural = _DIMENSION_WORDS.get(dimension, (dimension, dimension))
    return plural if many else one


def top_what(breakdown: Breakdown) -> str:
    """``Top 10 countries by clicks`` when there are more than 10; else all of them, counted:
    ``All 9 referrers by clicks``, ``Clicks of the only browser``."""
    rows = len(breakdown.rows)
    if rows > TOP_ROWS:
        return f"Top {TOP_ROWS} {dimension_words(breakdown.name, many=True)} by clicks"
    if rows == 1:
        return f"Clicks of the only {dimension_words(breakdown.name)}"
    return f"All {rows} {dimension_words(breakdown.name, many=True)} by clicks"
