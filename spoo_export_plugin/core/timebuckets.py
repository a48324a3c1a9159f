"""Time buckets in a timezone, DST included: choice of granularity, labels, gap filling.

A bucket is identified by its label, which is unique: ``2025-03-09T01:00:00-05:00`` (hour:
local wall hour plus the UTC offset in force, so the repeated hour of a DST fall-back
gives two buckets), ``2025-03-09`` (day), the date of its Monday (week), ``2025-03``
(month). The pipeline returns each bucket as a naive local "wall" datetime (plus the
offset in milliseconds for hours); :func:`bucket_from_wall` turns that into a label.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Iterator, Optional
from zoneinfo import ZoneInfo

from .exceptions import BadRequest

HOUR, DAY, WEEK, MONTH = "hour", "day", "week", "month"

_STEP = timedelta(minutes=15)  # every UTC offset in use is a multiple of 15 minutes


@dataclass(frozen=True)
class TimeBucket:
    """One time bucket: its label, and the local wall-clock time it starts at."""

    label: str
    start: datetime  # naive, local wall time
    granularity: str

    def __str__(self) -> str:
        return self.label


def choose_granularity(start: datetime, end: datetime) -> str:
    """SPEC's default: up to 48 h hour, up to 92 days day, up to 731 days week, else month."""
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


def bucket_from_wall(granularity: str, wall: datetime, offset_ms: Optional[int] = None) -> TimeBucket:
    """The bucket for a pipeline key: ``wall`` is the bucket's naive local start."""
    if wall.tzinfo is not None:  # a tz-aware client returns the same instant labelled UTC
        wall = wall.astimezone(timezone.utc).replace(tzinfo=None)
    if granularity == HOUR:
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
    if granularity == HOUR:
        start = wall.replace(minute=0, second=0, microsecond=0)
        offset = local.utcoffset() or timedelta(0)
        return TimeBucket(_offset_label(start, offset), start, HOUR)
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
    if granularity == HOUR:
        return int(span / timedelta(hours=1)) + 1
    if granularity == DAY:
        return span.days + 1
    if granularity == WEEK:
        return span.days // 7 + 1
    return (end.year - start.year) * 12 + end.month - start.month + 1


def iter_buckets(start: datetime, end: datetime, granularity: str, zone: ZoneInfo) -> Iterator[TimeBucket]:
    """Every bucket from the one holding ``start`` to the one holding ``end``, in order."""
    first = bucket_of(start, granularity, zone)
    last = bucket_of(end, granularity, zone)
    if granularity == HOUR:
        seen = first
        yield first
        step_from = start.astimezone(timezone.utc)
        instant = step_from - timedelta(minutes=step_from.minute % 15, seconds=step_from.second,
                                        microseconds=step_from.microsecond)
        while instant < end:
            instant += _STEP
            bucket = bucket_of(min(instant, end), HOUR, zone)
            if bucket.label != seen.label:
                seen = bucket
                yield bucket
        return
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


def check_bucket_count(start: datetime, end: datetime, granularity: str, zone: ZoneInfo, limit: int) -> None:
    """400 when the range holds more than ``limit`` buckets.

    The estimate is off by two at most, so buckets are only enumerated near the limit.
    """
    estimate = estimate_bucket_count(start, end, granularity)
    if estimate < limit - 8:
        return
    if estimate <= limit + 8 and sum(1 for _ in iter_buckets(start, end, granularity, zone)) <= limit:
        return
    raise BadRequest(f"the date range holds more than {limit} {granularity} buckets; "
                     "choose a coarser granularity or a shorter range", "granularity")
