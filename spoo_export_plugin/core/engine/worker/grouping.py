"""The worker executor: the export pipeline's fan-out, groupings and ``$sort``, done in this process.

The database still runs the row stages (:func:`.pipeline.build_row_stages`): the indexed
``$match`` and the projections that decide every label and time key. Each row it streams is
``{"ip", "ua", "k": {breakdown: {"t", "o", "d"} or, for the summary, {"at", "rm"}}}``; here every
row is fanned out to its breakdown keys and counted in dicts, giving the same documents, in
the same order, as :func:`.pipeline.build_grouping_stages` would. Why: on an in-process engine
(mongomock) ``$unwind`` and ``$group`` cost a deep copy and a Python BSON comparison per
element; a dict does the same work for a fraction (docs/performance.md).

Grouping per key directly (clicks, a set of visitors, first/last, redirect sums) equals the
pipeline's two ``$group`` stages: the first stage's counts and sums, summed again per key, are
the per-key counts and sums, and its groups per key are the key's distinct visitors.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, cast
from zoneinfo import ZoneInfo

from bson import Decimal128, ObjectId

from ...exceptions import TIMEOUT_MESSAGE, Unavailable
from ...report.timebuckets import WALL_CLOCK_MINUTES
from ...rows import GroupKey, GroupRow
from ...settings import ExportSettings
from ..time_stages import NO_BUCKET_WALL
from .bson_values import is_number, sum_numbers
from .expressions import compile_projection, fields_read

__all__ = [
    "TOO_MANY_CLICKS_MESSAGE",
    "bson_order",
    "choose_executor",
    "group_rows",
    "report_order_key",
    "split_row_stages",
]

TOO_MANY_CLICKS_MESSAGE = "too many clicks to group in the web worker; use aggregation=database"
#: Engines that run in this process: their pipeline stages are Python too, so grouping here is cheaper.
_IN_PROCESS_ENGINES = frozenset({"mongomock"})


def choose_executor(settings: ExportSettings) -> str:
    """``database`` or ``worker``; ``auto`` is ``worker`` for a mongomock ``Database`` (told by its
    class's module, so mongomock is never imported here) and ``database`` for a server."""
    if settings.aggregation != "auto":
        return settings.aggregation
    database = settings.database
    in_process = database is not None and type(database).__module__.split(".")[0] in _IN_PROCESS_ENGINES
    return "worker" if in_process else "database"


Row = dict[str, Any]


def split_row_stages(stages: list[Row]) -> tuple[Row, Row, Callable[[Any], Row]]:
    """The row stages cut in two: a query for the database, and the rest as one function per document.

    The database runs a find whose filter is the ``$match`` (index-friendly, the only step
    that reads many documents) and whose projection includes just the fields the ``$project``
    stages read; those stages are then evaluated here (:mod:`.expressions`), compiled once per
    export. Returns ``(filter, projection, to_row)``. A find rather than a two-stage
    aggregation: the server plans the same filter and projection, without a pipeline around them
    (SecantusDB sends the 10k-click dashboard's rows in 0.60 s by find, 0.81 s by aggregate).
    """
    match, *projections = stages
    if "$match" not in match or not projections or any(set(stage) != {"$project"} for stage in projections):
        raise ValueError("row stages are one $match and then $project stages")
    steps = _compiled(projections)
    projection = {"_id": 0, **{path: 1 for path in fields_read(projections[0]["$project"])}}

    def to_row(document: Any) -> Row:
        for step in steps:
            document = step(document)
        row: Row = document
        return row

    return match["$match"], projection, to_row


#: Compiled row stages by their text: they hold no owner, date or filter (those are in the
#: ``$match``), so one request shape compiles once per process. Bounded; a race compiles twice.
_COMPILED: dict[str, list[Callable[[Any], Row]]] = {}
_COMPILED_MAX = 256


def _compiled(projections: list[Row]) -> list[Callable[[Any], Row]]:
    key = repr(projections)
    steps = _COMPILED.get(key)
    if steps is None:
        steps = [compile_projection(stage["$project"]) for stage in projections]
        if len(_COMPILED) >= _COMPILED_MAX:
            _COMPILED.clear()
        _COMPILED[key] = steps
    return steps


class _Group:
    """One breakdown key's running totals (the second ``$group``'s accumulators); ``visitors``
    holds the numbers :func:`group_rows` gives distinct visitors."""

    __slots__ = ("clicks", "visitors", "first", "last", "redirect_ms_sum", "redirect_ms_count")

    def __init__(self) -> None:
        self.clicks = 0
        self.visitors: set[Any] = set()
        self.first: Any = None
        self.last: Any = None
        self.redirect_ms_sum: Any = 0
        self.redirect_ms_count = 0


def group_rows(
    rows: Iterable[dict[str, Any]],
    *,
    timezone: str,
    granularity: str | None,
    max_clicks: int,
    max_time_ms: int,
    retry_after: int,
    clock: Callable[[], float] = time.monotonic,
) -> list[GroupRow]:
    """The export's group documents (:class:`~...rows.GroupRow`), sorted as the pipeline sorts them,
    from the row stages' rows.

    Raises :class:`Unavailable` past ``max_clicks`` rows (memory) or ``max_time_ms`` of
    reading and grouping (the same 503 as a database timeout).
    """
    deadline = clock() + max_time_ms / 1000
    groups: dict[tuple[Any, ...], tuple[GroupKey, _Group]] = {}
    # Each distinct visitor once, as a small number: the per-row sets hold numbers, not pairs.
    visitor_numbers: dict[Any, int] = {}
    for count, row in enumerate(rows, 1):
        if count > max_clicks:
            raise Unavailable(TOO_MANY_CLICKS_MESSAGE, retry_after=retry_after)
        if clock() > deadline:
            raise Unavailable(TIMEOUT_MESSAGE, retry_after=retry_after)
        visitor = visitor_numbers.setdefault(_hashable((row.get("ip"), row.get("ua"))), len(visitor_numbers))
        for name, value in row["k"].items():
            t, o, d = value.get("t"), value.get("o"), value.get("d")
            key = (
                (name, t, o, d)
                if type(d) in _PLAIN and type(t) in _PLAIN and type(o) in _PLAIN
                else _hashable((name, t, o, d))
            )
            entry = groups.get(key)
            if entry is None:
                group_id = cast(GroupKey, {"b": name, **{f: value[f] for f in ("t", "o", "d") if f in value}})
                entry = groups[key] = (group_id, _Group())
            group = entry[1]
            group.clicks += 1
            group.visitors.add(visitor)
            if "at" in value or "rm" in value:  # the summary key's
                _first_last_redirect(group, value)
    documents = [_document(group_id, group) for group_id, group in groups.values()]
    documents.sort(key=report_order_key(timezone, granularity))
    if clock() > deadline:
        raise Unavailable(TIMEOUT_MESSAGE, retry_after=retry_after)
    return documents


def _first_last_redirect(group: _Group, value: dict[str, Any]) -> None:
    """``$min``/``$max`` of ``at``, ``$sum`` of numeric ``rm`` (a decimal makes it a decimal sum) and
    ``$isNumber`` count."""
    at = value.get("at")
    if at is not None:
        if group.first is None or at < group.first:
            group.first = at
        if group.last is None or at > group.last:
            group.last = at
    redirect_ms = value.get("rm")
    if is_number(redirect_ms):
        group.redirect_ms_sum = sum_numbers(group.redirect_ms_sum, redirect_ms)
        group.redirect_ms_count += 1


def _document(group_id: GroupKey, group: _Group) -> GroupRow:
    redirect_ms_sum = group.redirect_ms_sum
    if isinstance(redirect_ms_sum, Decimal):  # a sum with a decimal in it is a Decimal128, as the server's
        redirect_ms_sum = Decimal128(redirect_ms_sum)
    return {
        "_id": group_id,
        "clicks": group.clicks,
        "uniques": len(group.visitors),
        "first": group.first,
        "last": group.last,
        "redirect_ms_sum": redirect_ms_sum,
        "redirect_ms_count": group.redirect_ms_count,
    }


# ------------------------------------------------------------------------------- equality and order

#: Types whose Python equality is BSON equality: used as they are.
_PLAIN = frozenset({str, int, float, datetime, type(None), ObjectId})


def _hashable(value: Any) -> Any:
    """A dict key that is equal where ``$group`` finds BSON values equal.

    Python already agrees for the values rows hold (strings, numbers with 1 == 1.0, dates,
    None); a bool is tagged so that ``True`` is not grouped with ``1``, and documents and
    arrays (a label read from a field holding one) become tuples.
    """
    if isinstance(value, tuple):
        if all(type(v) in _PLAIN for v in value):
            return value
        return tuple(_hashable(v) for v in value)
    if isinstance(value, bool):
        return (bool, value)
    if isinstance(value, Decimal128):  # unhashable; equal to the number it holds, as in $group
        return value.to_decimal()
    if isinstance(value, dict):
        return (dict,) + tuple((k, _hashable(v)) for k, v in value.items())
    if isinstance(value, list):
        return (list,) + tuple(_hashable(v) for v in value)
    return value


#: MongoDB's comparison order of BSON types (null and missing first, then numbers, strings...).
_TYPE_RANK: tuple[tuple[type, int], ...] = (
    (bool, 8),
    (int, 2),
    (float, 2),
    (str, 3),
    (dict, 4),
    (list, 5),
    (bytes, 6),
    (ObjectId, 7),
    (datetime, 9),
)


def bson_order(value: Any) -> tuple[Any, ...]:
    """A Python sort key that orders values as MongoDB's ``$sort`` does without a collation.

    Types first (null < numbers < strings < documents < arrays < binary < ObjectId < bool <
    date), then the value: numbers by value across int and double, strings by code point
    (which is UTF-8 byte order, MongoDB's binary comparison), documents field by field, and an
    array (a field holding one) as its smallest element, which is how an ascending ``$sort``
    reads it.
    """
    if value is None:
        return (1,)
    for kind, rank in _TYPE_RANK:
        if isinstance(value, kind):
            if kind is dict:
                fields = cast("dict[str, Any]", value)
                return (rank, tuple((bson_order(v)[0], k, bson_order(v)) for k, v in fields.items()))
            if kind is list:  # ascending $sort reads an array as its smallest element; [] before null
                items = cast("list[Any]", value)
                return min((_element_order(v) for v in items), default=(0,))
            return (rank, value)
    return (12, repr(value))  # a BSON type no row stage produces (regex, timestamp...): last


def _element_order(value: Any) -> tuple[Any, ...]:
    """An array's element: compared by value, a nested array as a whole (not by its minimum)."""
    if isinstance(value, list):
        return (5, tuple(_element_order(v) for v in value))
    return bson_order(value)


def report_order_key(timezone: str, granularity: str | None) -> Callable[[GroupRow], tuple[Any, ...]]:
    """The Python twin of :func:`..time_stages.sort_stages`, as a key for :meth:`list.sort`.

    Without wall-clock buckets, ``{"_id.b": 1, "_id.t": 1, "clicks": -1, "_id.d": 1}`` is the
    tuple (b, t, -clicks, d), each read with :func:`bson_order`. With minute, 10min or hour
    buckets the pipeline first adds ``s`` = wall start (``NO_BUCKET_WALL`` when absent) minus
    the offset ``o`` (0 when absent) and ``r`` = 0 when the zone's local minute of day at ``s``
    equals the wall start's (that start is in force), else 1; then sorts on
    ``{"_id.b": 1, "s": 1, "r": 1, "clicks": -1, "_id.d": 1}``: here the tuple
    (b, s, r, -clicks, d). ``-clicks`` is "descending"; a missing field sorts as null.
    """
    if granularity not in WALL_CLOCK_MINUTES:

        def calendar_key(doc: GroupRow) -> tuple[Any, ...]:
            group_id = doc["_id"]
            return (
                bson_order(group_id["b"]),
                bson_order(group_id.get("t")),
                -doc["clicks"],
                bson_order(group_id.get("d")),
            )

        return calendar_key

    zone = ZoneInfo(timezone)
    utc = ZoneInfo("UTC")

    def wall_clock_key(doc: GroupRow) -> tuple[Any, ...]:
        group_id = doc["_id"]
        given_wall, given_offset = group_id.get("t"), group_id.get("o")
        wall: datetime = given_wall if given_wall is not None else NO_BUCKET_WALL
        offset: int = given_offset if given_offset is not None else 0
        real = wall - timedelta(milliseconds=offset)
        local = real.replace(tzinfo=utc).astimezone(zone)
        in_force = local.hour * 60 + local.minute == wall.hour * 60 + wall.minute
        return (bson_order(group_id["b"]), real, 0 if in_force else 1, -doc["clicks"], bson_order(group_id.get("d")))

    return wall_clock_key
