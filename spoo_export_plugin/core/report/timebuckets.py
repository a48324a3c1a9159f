"""Time buckets in a timezone, DST included: choice of granularity, labels, gap filling.

A bucket is identified by its label, which is unique. Hour, 10-minute and minute buckets are
*wall-clock* buckets: one rule, three sizes. Each starts at a local wall time that is a
multiple of its size (``01:00``; ``01:10``; ``01:17``) and is labelled with the UTC offset in
force (``2025-03-09T01:10:00-05:00``), so the repeated hour of a DST fall-back gives distinct
buckets. The others are ``2025-03-09`` (day), the date of its Monday (week), ``2025-03``
(month). The pipeline returns each bucket as a naive local "wall" datetime (plus the offset
in milliseconds for wall-clock buckets); :func:`bucket_from_wall` turns that into a label.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from math import gcd
from typing import Any
from zoneinfo import ZoneInfo

from ..exceptions import BadRequest

MINUTE, TEN_MINUTES, HOUR, DAY, WEEK, MONTH = "minute", "10min", "hour", "day", "week", "month"

#: Wall-clock granularities and their size in minutes: buckets labelled with their UTC offset.
WALL_CLOCK_MINUTES = {MINUTE: 1, TEN_MINUTES: 10, HOUR: 60}
#: Every UTC offset in use and every instant a zone changes offset is a whole multiple of 15 minutes.
_OFFSET_QUANTUM_MINUTES = 15


@dataclass(frozen=True)
class TimeBucket:
    """One time bucket: its label, and the local wall-clock time it starts at."""

    label: str
    start: datetime  # naive, local wall time
    granularity: str

    def __str__(self) -> str:
        return self.label

    @property
    def wall_clock(self) -> bool:
        """True for minute, 10-minute and hour buckets: the label carries the UTC offset."""
        return self.granularity in WALL_CLOCK_MINUTES


def choose_granularity(start: datetime, end: datetime) -> str:
    """SPEC's default: up to 48 h hour, up to 92 days day, up to 731 days week, else month.

    Minute and 10-minute buckets are never chosen: only asked for.
    """
    span = end - start
    if span <= timedelta(hours=48):
        return HOUR
    if span <= timedelta(days=92):
        return DAY
    if span <= timedelta(days=731):
        return WEEK
    return MONTH


def _offset_label(wall: datetime, offset: timedelta) -> str:
    return wall.replace(tzinfo=timezone(offset)).isoformat()


def bucket_from_wall(granularity: str, wall: datetime, offset_ms: int | None = None) -> TimeBucket:
    """The bucket for a pipeline key: ``wall`` is the bucket's naive local start."""
    if wall.tzinfo is not None:  # a tz-aware client returns the same instant labelled UTC
        wall = wall.astimezone(timezone.utc).replace(tzinfo=None)
    if granularity in WALL_CLOCK_MINUTES:
        label = _offset_label(wall, timedelta(milliseconds=offset_ms or 0))
    elif granularity == MONTH:
        label = f"{wall.year:04d}-{wall.month:02d}"
    else:
        label = wall.date().isoformat()
    return TimeBucket(label, wall, granularity)


def bucket_of(instant: datetime, granularity: str, zone: ZoneInfo) -> TimeBucket:
    """The bucket holding an aware instant."""
    local = instant.astimezone(zone)
    wall = local.replace(tzinfo=None)
    size = WALL_CLOCK_MINUTES.get(granularity)
    if size is not None:
        start = wall.replace(minute=wall.minute - wall.minute % size, second=0, microsecond=0)
        offset = local.utcoffset() or timedelta(0)
        return TimeBucket(_offset_label(start, offset), start, granularity)
    day = wall.date()
    if granularity == DAY:
        return bucket_from_wall(DAY, datetime.combine(day, datetime.min.time()))
    if granularity == WEEK:
        monday = day - timedelta(days=day.weekday())
        return bucket_from_wall(WEEK, datetime.combine(monday, datetime.min.time()))
    return bucket_from_wall(MONTH, datetime(day.year, day.month, 1))


def _next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def estimate_bucket_count(start: datetime, end: datetime, granularity: str) -> int:
    """The number of buckets from start to end, give or take two (cheap, no enumeration)."""
    span = end - start
    if granularity in WALL_CLOCK_MINUTES:
        return int(span / timedelta(minutes=WALL_CLOCK_MINUTES[granularity])) + 1
    if granularity == DAY:
        return span.days + 1
    if granularity == WEEK:
        return span.days // 7 + 1
    return (end.year - start.year) * 12 + end.month - start.month + 1


def iter_buckets(start: datetime, end: datetime, granularity: str, zone: ZoneInfo) -> Iterator[TimeBucket]:
    """Every bucket from the one holding ``start`` to the one holding ``end``, in order."""
    first = bucket_of(start, granularity, zone)
    if granularity in WALL_CLOCK_MINUTES:
        yield from _iter_wall_clock_buckets(first, start, end, zone)
        return
    last = bucket_of(end, granularity, zone)
    day = first.start.date()
    last_day = last.start.date()
    while day <= last_day:
        yield bucket_from_wall(granularity, datetime.combine(day, datetime.min.time()))
        if granularity == DAY:
            day += timedelta(days=1)
        elif granularity == WEEK:
            day += timedelta(days=7)
        else:
            day = _next_month(day)


def _iter_wall_clock_buckets(first: TimeBucket, start: datetime, end: datetime, zone: ZoneInfo) -> Iterator[TimeBucket]:
    """Wall-clock buckets in real-time order, by visiting every instant a bucket can start at.

    Local boundaries are multiples of the size; offsets and offset changes are multiples of
    15 minutes, so every bucket starts on a UTC multiple of gcd(size, 15) minutes (5 for
    10-minute buckets: Chatham's +12:45 puts :10 local on :25 UTC).
    """
    step_minutes = gcd(WALL_CLOCK_MINUTES[first.granularity], _OFFSET_QUANTUM_MINUTES)
    seen = first
    yield first
    step_from = start.astimezone(timezone.utc)
    instant = step_from - timedelta(
        minutes=step_from.minute % step_minutes, seconds=step_from.second, microseconds=step_from.microsecond
    )
    step = timedelta(minutes=step_minutes)
    while instant < end:
        instant += step
        bucket = bucket_of(min(instant, end), first.granularity, zone)
        if bucket.label != seen.label:
            seen = bucket
            yield bucket


def check_bucket_count(start: datetime, end: datetime, granularity: str, zone: ZoneInfo, limit: int) -> None:
    """400 when the range holds more than ``limit`` buckets.

    The estimate is off by two at most, so buckets are only enumerated near the limit.
    """
    estimate = estimate_bucket_count(start, end, granularity)
    if estimate < limit - 8:
        return
    if estimate <= limit + 8 and sum(1 for _ in iter_buckets(start, end, granularity, zone)) <= limit:
        return
    raise BadRequest(
        f"the date range holds more than {limit} {granularity} buckets; "
        "choose a coarser granularity or a shorter range",
        "granularity",
    )


def fill_buckets(
    time_rows: dict[str, tuple[Any, ...]], start: datetime, end: datetime, granularity: str, zone: ZoneInfo
) -> list[tuple[Any, ...]]:
    """Every bucket of the range in order, a counted row or ``(bucket, 0, 0)`` (``time_rows`` is emptied)."""
    filled = [time_rows.pop(b.label, (b, 0, 0)) for b in iter_buckets(start, end, granularity, zone)]
    if time_rows:  # buckets the server placed outside the enumeration (tz database skew)
        filled += time_rows.values()
        filled.sort(key=lambda row: _bucket_instant(row[0]))
    return filled


def _bucket_instant(bucket: TimeBucket) -> datetime:
    offset = timedelta(0)
    if bucket.wall_clock:
        offset = datetime.fromisoformat(bucket.label).utcoffset() or offset
    return bucket.start - offset
