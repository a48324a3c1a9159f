"""Period presets and comparison ranges against a brute-force calendar oracle, over zones with DST
changes (northern, southern, at midnight, half-hour offsets), month lengths and leap years."""

from __future__ import annotations

import functools
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spoo_export_plugin.core.request.periods import PERIODS, period_range, previous_range

ZONES = (
    "UTC",
    "America/New_York",
    "Europe/London",
    "Europe/Berlin",
    "Australia/Sydney",  # southern: DST from October to April
    "America/Santiago",
    "America/Havana",  # DST changes at midnight: some days start at 01:00
    "Asia/Kolkata",
    "Australia/Lord_Howe",  # a half-hour DST change
    "Pacific/Chatham",
)
MS = timedelta(milliseconds=1)
UTC = timezone.utc


@functools.lru_cache(maxsize=4096)
def midnight(day: date, zone_name: str) -> datetime:
    """The first instant (to the minute, by scanning) whose local date is ``day``."""
    zone = ZoneInfo(zone_name)
    probe = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(hours=15)
    while probe.astimezone(zone).date() < day:
        probe += timedelta(minutes=1)
    return probe


def local_day(instant: datetime, zone_name: str) -> date:
    return instant.astimezone(ZoneInfo(zone_name)).date()


def months_back(day: date, months: int) -> date:
    """The 1st of the month ``months`` before ``day``'s month, by stepping a day at a time."""
    first = day.replace(day=1)
    for _ in range(months):
        first = (first - timedelta(days=1)).replace(day=1)
    return first


def expected(period: str, now: datetime, zone: str) -> tuple[datetime | None, datetime]:
    today = local_day(now, zone)
    start_of = functools.partial(midnight, zone_name=zone)
    monday = today
    while monday.isoweekday() != 1:
        monday -= timedelta(days=1)
    table: dict[str, tuple[datetime | None, datetime]] = {
        "today": (start_of(today), now),
        "yesterday": (start_of(today - timedelta(days=1)), start_of(today) - MS),
        "last_24_hours": (now - timedelta(days=1), now),
        "last_7_days": (start_of(today - timedelta(days=6)), now),
        "last_30_days": (start_of(today - timedelta(days=29)), now),
        "last_90_days": (start_of(today - timedelta(days=89)), now),
        "this_week": (start_of(monday), now),
        "last_week": (start_of(monday - timedelta(days=7)), start_of(monday) - MS),
        "this_month": (start_of(today.replace(day=1)), now),
        "last_month": (start_of(months_back(today, 1)), start_of(today.replace(day=1)) - MS),
        "this_year": (start_of(date(today.year, 1, 1)), now),
        "last_year": (start_of(date(today.year - 1, 1, 1)), start_of(date(today.year, 1, 1)) - MS),
        "all": (None, now),
    }
    return table[period]


instants = st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2035, 12, 31)).map(
    lambda naive: naive.replace(tzinfo=UTC)
)
# instants near the DST changes and month/year bounds of the zones above
edges = st.sampled_from(
    [
        datetime(2025, 3, 9, 7, 0, tzinfo=UTC),  # New York spring forward
        datetime(2025, 11, 2, 5, 59, 59, 999000, tzinfo=UTC),
        datetime(2025, 4, 6, 1, 0, tzinfo=UTC),  # Sydney autumn back
        datetime(2025, 10, 5, 1, 0, tzinfo=UTC),
        datetime(2025, 3, 9, 5, 0, tzinfo=UTC),  # Havana: midnight does not exist
        datetime(2024, 3, 1, 0, 30, tzinfo=UTC),  # after a leap day
        datetime(2024, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
        datetime(2025, 1, 1, 0, 0, tzinfo=UTC),
    ]
)


@settings(max_examples=300, deadline=None)
@given(period=st.sampled_from(PERIODS), now=st.one_of(instants, edges), zone=st.sampled_from(ZONES))
def test_every_period_matches_the_calendar_oracle(period: str, now: datetime, zone: str) -> None:
    start, end = period_range(period, now, zone)
    assert (start, end) == expected(period, now, zone)
    if start is not None:
        assert start <= end


def whole_months(first: date, months: int, zone: str) -> tuple[datetime, datetime]:
    after = first
    for _ in range(months):
        after = (after + timedelta(days=32)).replace(day=1)
    return midnight(first, zone), midnight(after, zone) - MS


@settings(max_examples=200, deadline=None)
@given(
    first=st.dates(min_value=date(2001, 1, 1), max_value=date(2035, 1, 1)),
    count=st.integers(min_value=1, max_value=40),
    zone=st.sampled_from(ZONES),
)
def test_previous_period_of_whole_days_is_as_many_days_just_before(first: date, count: int, zone: str) -> None:
    if first.day == 1 and (first + timedelta(days=count)).day == 1:
        return  # whole months: the next test
    start, end = midnight(first, zone), midnight(first + timedelta(days=count), zone) - MS
    assert previous_range("previous_period", start, end, zone) == (
        midnight(first - timedelta(days=count), zone),
        start - MS,
    )


@settings(max_examples=200, deadline=None)
@given(
    first=st.dates(min_value=date(2001, 1, 1), max_value=date(2035, 1, 1)).map(lambda d: d.replace(day=1)),
    months=st.integers(min_value=1, max_value=25),
    zone=st.sampled_from(ZONES),
)
def test_previous_period_of_whole_months_is_as_many_months_just_before(first: date, months: int, zone: str) -> None:
    start, end = whole_months(first, months, zone)
    assert previous_range("previous_period", start, end, zone) == (
        midnight(months_back(first, months), zone),
        start - MS,
    )


@settings(max_examples=200, deadline=None)
@given(start=instants, length=st.integers(min_value=1, max_value=400 * 86_400_000), zone=st.sampled_from(ZONES))
def test_previous_period_of_any_other_range_has_the_same_length_and_ends_just_before(
    start: datetime, length: int, zone: str
) -> None:
    start = start.replace(microsecond=start.microsecond // 1000 * 1000) + timedelta(microseconds=1000)  # not a midnight
    end = start + timedelta(milliseconds=length)
    earlier_start, earlier_end = previous_range("previous_period", start, end, zone)
    assert earlier_end == start - MS and earlier_end - earlier_start == end - start


def test_last_month_compares_with_the_month_before_even_of_another_length() -> None:
    start, end = period_range("last_month", datetime(2025, 3, 15, 12, tzinfo=UTC), "Europe/Berlin")
    assert (start, end) == (
        datetime(2025, 1, 31, 23, tzinfo=UTC),
        datetime(2025, 2, 28, 22, 59, 59, 999000, tzinfo=UTC),
    )
    assert previous_range("previous_period", start, end, "Europe/Berlin") == (
        datetime(2024, 12, 31, 23, tzinfo=UTC),
        datetime(2025, 1, 31, 22, 59, 59, 999000, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("start", "end", "earlier"),
    [
        # a leap day becomes the 28th; wall-clock times are kept across a DST change (New York: EST then EDT)
        (
            datetime(2024, 2, 29, 5, tzinfo=UTC),
            datetime(2024, 3, 31, 3, 59, 59, 999000, tzinfo=UTC),
            (datetime(2023, 2, 28, 5, tzinfo=UTC), datetime(2023, 3, 31, 3, 59, 59, 999000, tzinfo=UTC)),
        ),
    ],
)
def test_previous_year_keeps_the_local_wall_clock(
    start: datetime, end: datetime, earlier: tuple[datetime, datetime]
) -> None:
    assert previous_range("previous_year", start, end, "America/New_York") == earlier


@settings(max_examples=200, deadline=None)
@given(start=instants, length=st.integers(min_value=0, max_value=400 * 86_400_000), zone=st.sampled_from(ZONES))
def test_previous_year_is_the_same_wall_clock_a_year_earlier(start: datetime, length: int, zone: str) -> None:
    end = start + timedelta(milliseconds=length)
    earlier = previous_range("previous_year", start, end, zone)
    local = ZoneInfo(zone)
    assert earlier[0] <= earlier[1]
    checked = (start, end)
    if earlier[1] == earlier[0] + (end - start) and end.astimezone(local).fold == 1:
        checked = (start,)  # from a repeated hour's first pass into its second: the same length, see below
    for now, then in zip(checked, earlier, strict=False):
        now_local, then_local = now.astimezone(local), then.astimezone(local)
        assert then_local.year == now_local.year - 1
        if (now_local.month, now_local.day) != (2, 29):
            wall = now_local.replace(year=then_local.year, tzinfo=None)
            # the same wall time, unless the earlier year skips it (a DST gap): then just after the gap
            assert then_local.replace(tzinfo=None) == wall or then_local.replace(tzinfo=None) > wall


def test_previous_year_of_a_range_across_a_repeated_hour_keeps_its_length() -> None:
    """01:59:59.999 EDT to 01:06:59.999 EST on the autumn change: a year earlier (no change that day)
    the wall times would run backwards; the earlier range starts at the same wall time, as long."""
    start = datetime(2025, 11, 2, 5, 59, 59, 999000, tzinfo=UTC)
    end = datetime(2025, 11, 2, 6, 6, 59, 999000, tzinfo=UTC)
    earlier_start = datetime(2024, 11, 2, 5, 59, 59, 999000, tzinfo=UTC)  # 01:59:59.999 EDT
    assert previous_range("previous_year", start, end, "America/New_York") == (
        earlier_start,
        earlier_start + timedelta(minutes=7),
    )


def test_unknown_names_raise() -> None:
    with pytest.raises(KeyError):
        period_range("last_fortnight", datetime(2025, 1, 1, tzinfo=UTC), "UTC")
    with pytest.raises(KeyError):
        previous_range("previous_decade", datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 2, tzinfo=UTC), "UTC")
