"""The time in the export pipeline: each click's local date parts and bucket start, and the
report order of the grouped rows (minute, 10min and hour buckets by real time, DST included).

Plain data, as :mod:`.pipeline` is; the worker executor reads the same rules through the
compiled row stages and mirrors :func:`sort_stages` in ``report_order_key``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..report.timebuckets import DAY, MONTH, WALL_CLOCK_MINUTES, WEEK

_MS_PER_DAY = 86_400_000
_MS_PER_MINUTE = 60_000

_PART_OPERATORS = {
    "y": "$year",
    "m": "$month",
    "d": "$dayOfMonth",
    "h": "$hour",
    "mi": "$minute",
    "s": "$second",
    "ms": "$millisecond",
    "dow": "$dayOfWeek",
}
_WALL_CLOCK_PARTS = ("y", "m", "d", "h", "mi", "s", "ms")
_PARTS_FOR = {
    **{granularity: _WALL_CLOCK_PARTS for granularity in WALL_CLOCK_MINUTES},
    DAY: ("y", "m", "d"),
    WEEK: ("y", "m", "d", "dow"),
    MONTH: ("y", "m"),
}


def bucket_start_key(granularity: str) -> dict[str, Any]:
    """Bucket start as a naive local wall time (``t``), plus the UTC offset (``o``) for
    wall-clock buckets (minute, 10min, hour)."""
    day = {"$dateFromParts": {"year": "$y", "month": "$m", "day": "$d"}}
    size = WALL_CLOCK_MINUTES.get(granularity)
    if size is not None:
        local = {"$dateFromParts": {"year": "$y", "month": "$m", "day": "$d", "hour": "$h", "minute": "$mi"}}
        # Back to the bucket's first minute as milliseconds: mongomock's $mod yields a float,
        # which its $dateFromParts refuses, but a date minus a number works in both.
        past_start = {"$multiply": [{"$mod": ["$mi", size]}, _MS_PER_MINUTE]}
        # Offset = local wall time - instant. Seconds and milliseconds are added as numbers:
        # mongomock's $dateFromParts reads "millisecond" as microseconds.
        offset = {"$add": [{"$subtract": [local, "$at"]}, {"$multiply": ["$s", 1000]}, "$ms"]}
        return {"t": {"$subtract": [local, past_start]}, "o": offset}
    if granularity == DAY:
        return {"t": day}
    if granularity == WEEK:
        # $dayOfWeek: 1 = Sunday ... 7 = Saturday; days back to Monday = (dow + 5) mod 7.
        back = {"$multiply": [{"$mod": [{"$add": ["$dow", 5]}, 7]}, _MS_PER_DAY]}
        return {"t": {"$subtract": [day, back]}}
    return {"t": {"$dateFromParts": {"year": "$y", "month": "$m", "day": 1}}}


def local_date_parts(date: str, granularity: str, timezone: str) -> dict[str, Any]:
    """The ``$project`` fields a time bucket is built from: the local date parts of ``date`` in ``timezone``."""
    return {part: {_PART_OPERATORS[part]: {"date": date, "timezone": timezone}} for part in _PARTS_FOR[granularity]}


#: The wall start a row without a time bucket sorts by (both executors read it from here).
NO_BUCKET_WALL = datetime(1970, 1, 1)


def _minute_of_day(date: Any, timezone: str) -> dict[str, Any]:
    """Minutes since local midnight: equal for an instant and a wall start iff that start is in force."""
    return {
        "$add": [
            {"$multiply": [{"$hour": {"date": date, "timezone": timezone}}, 60]},
            {"$minute": {"date": date, "timezone": timezone}},
        ]
    }


def sort_stages(timezone: str, granularity: str | None) -> list[dict[str, Any]]:
    """Breakdown, then time, then clicks descending, then label.

    Wall-clock buckets (minute, 10min, hour) sort by real time: ``s`` = the bucket's wall
    start read with its offset. Two buckets can share ``s`` when a change is not on a bucket
    boundary (Chatham's 03:45 -> 02:45 makes 03:00+13:45 and 02:00+12:45 both 13:15Z, and
    03:40+13:45 and 02:40+12:45 both 13:55Z); the one whose wall start is really in force at
    ``s`` (``r`` = 0) comes first, the other starts at the change.
    """
    if granularity not in WALL_CLOCK_MINUTES:
        return [{"$sort": {"_id.b": 1, "_id.t": 1, "clicks": -1, "_id.d": 1}}]
    wall = {"$ifNull": ["$_id.t", NO_BUCKET_WALL]}
    in_force = {"$eq": [_minute_of_day("$s", timezone), _minute_of_day(wall, "UTC")]}
    return [
        {"$addFields": {"s": {"$subtract": [wall, {"$ifNull": ["$_id.o", 0]}]}}},
        {"$addFields": {"r": {"$cond": [in_force, 0, 1]}}},
        {"$sort": {"_id.b": 1, "s": 1, "r": 1, "clicks": -1, "_id.d": 1}},
    ]
