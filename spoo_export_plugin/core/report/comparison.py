"""``compare=``: the earlier range's figures beside the current ones (SPEC "Periods and comparisons").

The earlier range is read by ONE more query (the engine's, either executor), run after the
current range's rows are kept, and holding only ``time`` and the single-dimension breakdowns: a
``time,<dim>`` series has no comparison. Its rows are folded into :class:`EarlierFigures`, which
keeps only what the kept current rows show:

- ``time``: the earlier range's buckets by position (gap-filled like the current ones), as many
  as the current ``time`` rows;
- each single dimension: the earlier counts of the labels the current breakdown kept, summed by
  label. The earlier query's groups are never cut (no row cap or byte budget applies to them),
  so a label the current rows show gets its exact earlier count even when the earlier range has
  more labels than ``row_cap``; a label only in the earlier range is dropped (rows are the
  current range's). Memory is one entry per kept current row, counted in the budget by
  :data:`COMPARED_ROW_BYTES`.

Columns of a compared row: its dimension and metric columns, then ``previous_time`` (``time``
only), ``previous_<metric>`` per requested metric, and ``clicks_change``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ..rows import SUMMARY_KEY, GroupRow
from .timebuckets import TimeBucket

#: Extra estimated bytes of a compared row (see :mod:`.row_budget`): up to five more cells (a list
#: slot each, counts past the small-int cache, a float change) and the label's entry in the lookup
#: the earlier query fills (a dict slot and a tuple of two counts).
COMPARED_ROW_BYTES = 240

#: The comparison's summary keys, in order.
SUMMARY_FIGURES = ("total_clicks", "unique_clicks", "unique_rate", "avg_redirect_ms")


@dataclass(frozen=True)
class EarlierRange:
    """What the report needs to compare: which comparison, the earlier range (aware UTC), and the
    query over it, called once the current rows are kept."""

    compare: str
    start: datetime
    end: datetime
    rows: Callable[[], Iterable[GroupRow]]


@dataclass(frozen=True)
class Comparison:
    """The header's ``comparison`` block: the earlier range (in the report's zone) and its summary."""

    compare: str
    start: datetime
    end: datetime
    total_clicks: int = 0
    unique_clicks: int = 0
    avg_redirect_ms: float | None = None

    @property
    def unique_rate(self) -> float | None:
        return ratio(self.unique_clicks, self.total_clicks)

    def header(self) -> dict[str, Any]:
        return {
            "compare": self.compare,
            "start_date": self.start.isoformat(),
            "end_date": self.end.isoformat(),
            "summary": {
                "total_clicks": self.total_clicks,
                "unique_clicks": self.unique_clicks,
                "unique_rate": self.unique_rate,
                "avg_redirect_ms": self.avg_redirect_ms,
            },
        }


def ratio(part: int, whole: int) -> float | None:
    """``part / whole`` to 4 decimals; None when the whole is 0 (a share, a rate, a change)."""
    return round(part / whole, 4) if whole else None


def clicks_change(clicks: int, previous: int | None) -> float | None:
    """(clicks - previous) / previous to 4 decimals; None when there is no earlier click to compare with."""
    return ratio(clicks - previous, previous) if previous else None


def comparison_columns(name: str, metrics: tuple[str, ...]) -> tuple[str, ...]:
    """The columns a breakdown gains: ``time`` and single dimensions only."""
    if "," in name:
        return ()
    head = ("previous_time",) if name == "time" else ()
    return head + tuple(f"previous_{m}" for m in metrics) + ("clicks_change",)


@dataclass
class EarlierFigures:
    """The earlier range's figures the current rows look up (see the module's docstring)."""

    #: The earlier range's summary row (empty when no click matched).
    summary: Mapping[str, Any] = field(default_factory=dict)
    #: (bucket, clicks, uniques) of the earlier buckets, by position.
    time: list[tuple[TimeBucket, int, int]] = field(default_factory=list)
    #: breakdown -> label -> (clicks, uniques); only the labels of the kept current rows.
    counts: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return int(self.summary.get("clicks", 0))

    def cells(self, name: str, index: int, label: Any, clicks: int, metrics: tuple[str, ...]) -> tuple[Any, ...]:
        """The comparison cells of the current row ``index`` of ``name`` (``label`` its first cell)."""
        if name == "time":
            if index >= len(self.time):  # past the end of the earlier range: no bucket there, nothing counted
                return (None,) + self._metrics(0, 0, metrics) + (None,)
            bucket, earlier, uniques = self.time[index]
            return (bucket,) + self._metrics(earlier, uniques, metrics) + (clicks_change(clicks, earlier),)
        earlier, uniques = self.counts[name].get(label, (0, 0))
        return self._metrics(earlier, uniques, metrics) + (clicks_change(clicks, earlier),)

    def _metrics(self, clicks: int, uniques: int, metrics: tuple[str, ...]) -> tuple[Any, ...]:
        values = {"clicks": clicks, "unique_clicks": uniques, "share": ratio(clicks, self.total)}
        return tuple(values[m] for m in metrics)


def fold_earlier(
    rows: Iterable[GroupRow],
    kept: Mapping[str, list[tuple[Any, ...]]],
    bucket: Callable[[Any, Any], TimeBucket],
    fill_time: Callable[[dict[str, tuple[Any, ...]]], list[tuple[Any, ...]]],
) -> EarlierFigures:
    """Fold the earlier query's rows, keeping only what the current ``kept`` rows look up.

    ``kept`` maps each current breakdown to its kept rows (label first, then clicks and
    uniques); ``bucket`` makes a time bucket of a key, ``fill_time`` gap-fills time rows over
    the earlier range (as the current ones are).
    """
    figures = EarlierFigures()
    wanted = {name: dict.fromkeys((row[0] for row in table), (0, 0)) for name, table in kept.items() if "," not in name}
    wanted.pop("time", None)
    time_rows: dict[str, tuple[Any, ...]] = {}
    for doc in rows:
        key = doc["_id"]
        name = key["b"]
        if name == SUMMARY_KEY:
            figures.summary = doc
        elif name == "time":
            cell = bucket(key["t"], key.get("o"))
            time_rows[cell.label] = (cell, doc["clicks"], doc["uniques"])
        elif name in wanted:
            label = key.get("d")
            label = label if isinstance(label, str) else str(label)
            found = wanted[name]
            if label in found:  # values shown alike (1 and "1") count together, as one label
                clicks, uniques = found[label]
                found[label] = (clicks + doc["clicks"], uniques + doc["uniques"])
    figures.counts = wanted
    if "time" in kept:
        figures.time = [(row[0], row[1], row[2]) for row in fill_time(time_rows)[: len(kept["time"])]]
    return figures


def earlier_summary(earlier: EarlierRange, figures: EarlierFigures, zone: ZoneInfo) -> Comparison:
    doc = figures.summary
    return Comparison(
        compare=earlier.compare,
        start=earlier.start.astimezone(zone),
        end=earlier.end.astimezone(zone),
        total_clicks=figures.total,
        unique_clicks=int(doc.get("uniques", 0)),
        avg_redirect_ms=mean_of(doc.get("redirect_ms_sum", 0), int(doc.get("redirect_ms_count", 0))),
    )


def mean_of(total: Any, count: int) -> float | None:
    """A mean to 0.1; None without values or when not finite (a NaN stored as redirect_ms).

    The total may be a Decimal128 (``$sum`` over decimals): it is read as a float.
    """
    if not count:
        return None
    value = float(total.to_decimal()) if hasattr(total, "to_decimal") else float(total)
    mean = value / count
    return round(mean, 1) if math.isfinite(mean) else None
