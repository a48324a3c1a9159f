"""Period presets (``period=last_month``) and the earlier range of a comparison (``compare=``).

Pure calendar arithmetic in the request's timezone: an instant ``now`` and a zone in, aware UTC
datetimes out. A local day starts at its first real instant (``dates.day_bounds``: where
midnight does not exist, the DST change itself) and ends at its last millisecond, so ranges
tile the calendar without a gap or an overlap across DST changes.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from .dates import day_bounds
from .timezones import get_zone

#: Every preset, in the order the OpenAPI enum lists them.
PERIODS = (
    "today",
    "yesterday",
    "last_24_hours",
    "last_7_days",
    "last_30_days",
    "last_90_days",
    "this_week",
    "last_week",
    "this_month",
    "last_month",
    "this_year",
    "last_year",
    "all",
)

#: The comparisons ``compare`` takes.
COMPARISONS = ("previous_period", "previous_year")

_MS = timedelta(milliseconds=1)
_DAYS_BACK = {"last_7_days": 7, "last_30_days": 30, "last_90_days": 90}


def _first_instant(day: date, tz_name: str) -> datetime:
    return day_bounds(day, tz_name)[0]


def _month_start(year: int, month: int) -> date:
    """The 1st of a month given as any (year, month) with month possibly outside 1..12."""
    year += (month - 1) // 12
    return date(year, (month - 1) % 12 + 1, 1)


def period_range(period: str, now: datetime, tz_name: str) -> tuple[datetime | None, datetime]:
    """The (start, end) of a preset at ``now``, in ``tz_name``; start None for ``all`` (the default
    start applies). Raises KeyError for an unknown preset."""
    if period not in PERIODS:
        raise KeyError(period)
    now = now.astimezone(timezone.utc)
    today = now.astimezone(get_zone(tz_name)).date()
    if period == "all":
        return None, now
    if period == "last_24_hours":
        return now - timedelta(hours=24), now
    if period == "today":
        return _first_instant(today, tz_name), now
    if period == "yesterday":
        return day_bounds(today - timedelta(days=1), tz_name)
    if period in _DAYS_BACK:
        return _first_instant(today - timedelta(days=_DAYS_BACK[period] - 1), tz_name), now
    if period in ("this_week", "last_week"):
        monday = today - timedelta(days=today.weekday())
        if period == "this_week":
            return _first_instant(monday, tz_name), now
        return _first_instant(monday - timedelta(days=7), tz_name), _first_instant(monday, tz_name) - _MS
    if period in ("this_month", "last_month"):
        first = today.replace(day=1)
        if period == "this_month":
            return _first_instant(first, tz_name), now
        return _first_instant(_month_start(first.year, first.month - 1), tz_name), _first_instant(first, tz_name) - _MS
    first = date(today.year, 1, 1)  # this_year / last_year
    if period == "this_year":
        return _first_instant(first, tz_name), now
    return _first_instant(date(today.year - 1, 1, 1), tz_name), _first_instant(first, tz_name) - _MS


def _whole_days(start: datetime, end: datetime, tz_name: str) -> tuple[date, date] | None:
    """The first and last local day when [start, end] is exactly whole local days, else None."""
    zone = get_zone(tz_name)
    first = start.astimezone(zone).date()
    last = (end + _MS).astimezone(zone).date() - timedelta(days=1)
    if last < first or _first_instant(first, tz_name) != start or day_bounds(last, tz_name)[1] != end:
        return None
    return first, last


def previous_range(compare: str, start: datetime, end: datetime, tz_name: str) -> tuple[datetime, datetime]:
    """The earlier range a comparison reads (SPEC "Periods and comparisons"). Raises KeyError for
    an unknown comparison."""
    if compare == "previous_year":
        earlier_start, earlier_end = _year_earlier(start, tz_name), _year_earlier(end, tz_name)
        if earlier_end < earlier_start:  # a range from a repeated hour's first pass into its second:
            earlier_end = earlier_start + (end - start)  # its wall times run backwards a year earlier
        return earlier_start, earlier_end
    if compare != "previous_period":
        raise KeyError(compare)
    days = _whole_days(start, end, tz_name)
    if days is not None:
        first, last = days
        if first.day == 1 and (last + timedelta(days=1)).day == 1:  # whole local calendar months
            months = (last.year - first.year) * 12 + last.month - first.month + 1
            earlier = _month_start(first.year, first.month - months)
            return _first_instant(earlier, tz_name), start - _MS
        count = (last - first).days + 1
        return _first_instant(first - timedelta(days=count), tz_name), start - _MS
    return start - _MS - (end - start), start - _MS


def _year_earlier(instant: datetime, tz_name: str) -> datetime:
    """The same local wall-clock time one calendar year earlier (29 February becomes the 28th).

    A wall time the earlier year skips (a DST gap) is read with the offset before the change, so
    it lands just after the gap; a repeated one is its first occurrence.
    """
    zone = get_zone(tz_name)
    local = instant.astimezone(zone)
    day = local.day if not (local.month == 2 and local.day == 29) else 28
    earlier = datetime.combine(date(local.year - 1, local.month, day), local.time().replace(fold=0), tzinfo=zone)
    return earlier.astimezone(timezone.utc)
