"""The report: one object that every file format renders.

Built from the export pipeline's sorted rows with a row cap per breakdown and a memory budget
for the whole report (:mod:`.row_budget`), so memory is bounded by ``report_max_bytes``, never by
the number of clicks. A row is a tuple; every row of one time bucket shares one ``TimeBucket``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from ..rows import SUMMARY_KEY, GroupRow
from .comparison import (
    COMPARED_ROW_BYTES,
    Comparison,
    EarlierFigures,
    EarlierRange,
    comparison_columns,
    earlier_summary,
    fold_earlier,
    mean_of,
    ratio,
)
from .row_budget import RowBudget
from .timebuckets import TimeBucket, bucket_from_wall, fill_buckets

if TYPE_CHECKING:
    from .click_rows import ClickExport

# a time cell is a TimeBucket
__all__ = ["Breakdown", "Report", "Summary", "TimeBucket", "assemble_report", "export_header", "header_items"]

Cell = Any  # str | int | TimeBucket


@dataclass(frozen=True)
class Breakdown:
    """One table: dimension columns then metric columns."""

    name: str
    columns: tuple[str, ...]
    rows: list[tuple[Cell, ...]]
    #: Rows before the cap was applied.
    total_rows: int

    @property
    def truncated(self) -> bool:
        return self.total_rows > len(self.rows)

    @property
    def dimensions(self) -> tuple[str, ...]:
        return tuple(self.name.split(","))

    def dicts(self) -> Iterator[dict[str, Any]]:
        """Rows as ``{column: value}`` with time buckets as their labels."""
        for row in self.rows:
            yield {
                col: (str(cell) if isinstance(cell, TimeBucket) else cell)
                for col, cell in zip(self.columns, row, strict=True)
            }


@dataclass(frozen=True)
class Summary:
    total_clicks: int = 0
    unique_clicks: int = 0
    first_click: datetime | None = None
    last_click: datetime | None = None
    truncated_breakdowns: tuple[str, ...] = ()
    #: Mean redirect time of the clicks that hold a number there, to 0.1 ms; None when none do.
    avg_redirect_ms: float | None = None

    @property
    def truncated(self) -> bool:
        return bool(self.truncated_breakdowns)

    @property
    def unique_rate(self) -> float | None:
        """unique_clicks / total_clicks to 4 decimals; None without clicks."""
        return ratio(self.unique_clicks, self.total_clicks)


def export_header(export: Report | ClickExport, summary: dict[str, Any], **grouping: Any) -> dict[str, Any]:
    """A file's header, JSON-ready (dates as ISO 8601 in the export's zone), for the report and the
    raw clicks alike: which clicks (scope, short code, the link's id), the zone and range (and the
    period preset it came from), then
    ``grouping`` (the report's granularity, group_by and metrics), the selection and ``summary``."""
    head: dict[str, Any] = {"scope": export.scope, "short_code": export.short_code}
    if export.url_id is not None:
        head["url_id"] = export.url_id
    return {
        **head,
        "timezone": export.timezone,
        "start_date": _iso(export.start),
        "end_date": _iso(export.end),
        "period": export.period,
        **grouping,
        "filters": {k: list(v) for k, v in export.filters.items()},
        "exclude": {k: list(v) for k, v in export.exclude.items()},
        "exclude_bots": export.exclude_bots,
        "generated_at": _iso(export.generated_at),
        "summary": summary,
    }


def header_items(header: dict[str, Any]) -> list[tuple[str, Any]]:
    """A file's header as (name, value) pairs for tabular formats: the summary's figures inline,
    filters and exclusions as ``dim=a,b; dim2=c``. Shared by the report and the raw clicks."""
    items: list[tuple[str, Any]] = []
    for key, value in header.items():
        if key == "summary":
            items += list(value.items())
        elif key == "comparison":  # comparison.compare, .start_date, .end_date, then its summary's figures
            for name, part in value.items():
                parts = part.items() if name == "summary" else [(name, part)]
                items += [(f"comparison.{figure}", figure_value) for figure, figure_value in parts]
        elif key in ("filters", "exclude"):
            items.append((key, "; ".join(f"{dim}={','.join(vals)}" for dim, vals in value.items())))
        else:
            items.append((key, value))
    return items


@dataclass(frozen=True)
class Report:
    scope: str
    short_code: str | None
    timezone: str
    start: datetime
    end: datetime
    granularity: str
    group_by: tuple[str, ...]
    metrics: tuple[str, ...]
    filters: dict[str, list[str]]
    generated_at: datetime
    summary: Summary
    breakdowns: dict[str, Breakdown] = field(default_factory=dict)
    exclude: dict[str, list[str]] = field(default_factory=dict)
    exclude_bots: bool = False
    #: The URL of a per-link export (scope "link"), else None.
    url_id: str | None = None
    #: The preset the range came from (``last_month``...); None when dates were given.
    period: str | None = None
    #: ``compare=``: the earlier range and its summary (its rows' figures are in the breakdowns); else None.
    comparison: Comparison | None = None

    def header(self) -> dict[str, Any]:
        """Everything but the breakdowns, JSON-ready (dates as ISO 8601 in the timezone)."""
        s = self.summary
        summary = {
            "total_clicks": s.total_clicks,
            "unique_clicks": s.unique_clicks,
            "unique_rate": s.unique_rate,
            "avg_redirect_ms": s.avg_redirect_ms,
            "first_click": _iso(s.first_click),
            "last_click": _iso(s.last_click),
            "truncated": s.truncated,
            "truncated_breakdowns": list(s.truncated_breakdowns),
        }
        head = export_header(
            self,
            summary,
            granularity=self.granularity,
            group_by=list(self.group_by),
            metrics=list(self.metrics),
        )
        if self.comparison is not None:
            head["comparison"] = self.comparison.header()
        return head

    def summary_items(self) -> list[tuple[str, Any]]:
        """The summary as (name, value) pairs for tabular formats; lists joined by commas."""
        return [(k, ",".join(v) if isinstance(v, list) else v) for k, v in header_items(self.header())]

    def to_dict(self) -> dict[str, Any]:
        """The whole report as a JSON-ready tree."""
        tree = self.header()
        tree["breakdowns"] = {name: list(b.dicts()) for name, b in self.breakdowns.items()}
        return tree


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _aware(value: datetime, zone: ZoneInfo) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(zone)


def assemble_report(
    *,
    rows: Iterable[GroupRow],
    breakdowns: tuple[str, ...],
    zone: ZoneInfo,
    granularity: str,
    start: datetime,
    end: datetime,
    metrics: tuple[str, ...],
    row_cap: int,
    header: dict[str, Any],
    max_bytes: int | None = None,
    earlier: EarlierRange | None = None,
) -> Report:
    """Fold the engine's sorted rows (:class:`~..rows.GroupRow`, either executor's) into a :class:`Report`.

    ``header`` carries scope, short_code, timezone, group_by, filters, exclude, exclude_bots,
    url_id and generated_at. A share is computed here, from the counted rows: of the range's
    clicks, or for ``time,<dim>`` of its time bucket's (every bucket is known before the cap).
    Each breakdown keeps at most ``row_cap`` rows, and all but ``time`` (at most ``max_buckets``
    rows) share ``max_bytes`` (:mod:`.row_budget`); every row is counted either way, so a cut
    breakdown is ``truncated``. With ``earlier`` (``compare=``), the earlier range's query runs once
    the current rows are kept, and ``time`` and single-dimension rows gain its figures (:mod:`.comparison`).
    """
    kept = RowBudget(
        [name for name in breakdowns if name != "time"],
        row_cap=row_cap,
        max_bytes=max_bytes,
        extra_row_bytes=COMPARED_ROW_BYTES if earlier is not None else 0,
    )
    collected: dict[str, list[tuple[Cell, ...]]] = kept.rows  # and "time", filled in below
    counts: dict[str, int] = {name: 0 for name in breakdowns}
    time_rows: dict[str, tuple[Cell, ...]] = {}
    summary_doc: Mapping[str, Any] = {}  # the summary row; none when no click matched
    buckets: dict[tuple[Any, Any], TimeBucket] = {}  # one per time key: shared by its rows

    def bucket(wall: Any, offset: Any) -> TimeBucket:
        found = buckets.get((wall, offset))
        if found is None:
            found = buckets[(wall, offset)] = bucket_from_wall(granularity, wall, offset)
        return found

    for doc in rows:
        key = doc["_id"]
        name = key["b"]
        if name == SUMMARY_KEY:
            summary_doc = doc
            continue
        if name not in counts:
            continue
        cells: list[Cell] = []
        for dim in name.split(","):
            if dim == "time":
                cells.append(bucket(key["t"], key.get("o")))
            else:
                label = key.get("d")
                cells.append(label if isinstance(label, str) else str(label))
        cells += [doc["clicks"], doc["uniques"]]  # counted; the requested metrics are chosen below
        if name == "time":
            time_rows[cells[0].label] = tuple(cells)
            continue
        counts[name] += 1
        kept.offer(name, tuple(cells))

    bucket_clicks: dict[str, int] = {}
    if "time" in counts:
        filled = fill_buckets(time_rows, start, end, granularity, zone)
        bucket_clicks = {row[0].label: row[1] for row in filled}
        counts["time"] = len(filled)
        collected["time"] = filled[:row_cap]
    figures: EarlierFigures | None = None
    if earlier is not None:  # the earlier range's one query, now that the rows it is looked up for are known
        figures = fold_earlier(
            earlier.rows(),
            {name: collected[name] for name in breakdowns},
            bucket,
            lambda rows: fill_buckets(rows, earlier.start, earlier.end, granularity, zone),
        )

    total = int(summary_doc.get("clicks", 0))
    tables = {}
    for name in breakdowns:
        width = len(name.split(","))
        compared = comparison_columns(name, metrics) if figures is not None else ()
        columns = tuple(name.split(",")) + tuple(metrics) + compared

        def whole(row: tuple[Cell, ...], name: str = name) -> int:
            """What a share is of: the range's clicks, or for time,<dim> its time bucket's."""
            return bucket_clicks.get(row[0].label, 0) if name.startswith("time,") else total

        table_rows = collected[name]
        for index, row in enumerate(table_rows):  # in place: one tuple per row at any time, not two
            clicks = row[width]
            done = row[:width] + _metric_cells(clicks, row[width + 1], metrics, whole(row))
            if compared and figures is not None:
                done += figures.cells(name, index, row[0], clicks, metrics)
            table_rows[index] = done
        tables[name] = Breakdown(name, columns, table_rows, counts[name])

    first, last = summary_doc.get("first"), summary_doc.get("last")
    measured = int(summary_doc.get("redirect_ms_count", 0))
    summary = Summary(
        total_clicks=total,
        unique_clicks=int(summary_doc.get("uniques", 0)),
        first_click=_aware(first, zone) if first else None,
        last_click=_aware(last, zone) if last else None,
        truncated_breakdowns=tuple(name for name, table in tables.items() if table.truncated),
        avg_redirect_ms=mean_of(summary_doc.get("redirect_ms_sum", 0), measured),
    )
    return Report(
        start=start.astimezone(zone),
        end=end.astimezone(zone),
        granularity=granularity,
        metrics=tuple(metrics),
        summary=summary,
        breakdowns=tables,
        comparison=earlier_summary(earlier, figures, zone) if earlier is not None and figures is not None else None,
        **header,
    )


def _metric_cells(clicks: int, uniques: int, metrics: tuple[str, ...], whole: int) -> tuple[Cell, ...]:
    values = {"clicks": clicks, "unique_clicks": uniques, "share": ratio(clicks, whole)}
    return tuple(values[m] for m in metrics)
