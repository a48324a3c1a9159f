"""Hand-computed examples of the tricky cases, through the real app (mongomock).

Every expected value here was worked out by hand from the tz database's transitions
(2025): New York 2025-03-09 07:00Z (-05:00 -> -04:00) and 2025-11-02 06:00Z (back);
Lord Howe 2025-04-05 15:00Z (+11:00 -> +10:30) and 2025-10-04 15:30Z (back to +11:00);
Chatham 2025-04-05 14:00Z (+13:45 -> +12:45, local 03:45 -> 02:45) and 2025-09-27 14:00Z
(back, local 02:45 -> 03:45); Kolkata is +05:30 all year.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from ..examples import OTHER, OWNER
from ..factories import ROUTE, add_api_key, add_url, make_click
from ..scenarios import make_client


def click(db: Any, at: datetime, code: str = "a1", owner: Any = OWNER, **fields: Any) -> None:
    db.clicks.insert_one(make_click(code, owner, at, **fields))


def rows(body: dict[str, Any], name: str = "time") -> list[tuple[Any, ...]]:
    return [tuple(row.values()) for row in body["breakdowns"][name]]


def test_new_york_fall_back_hour_appears_twice(db: Any, example_env: Any) -> None:
    click(db, datetime(2025, 11, 2, 5, 30), ip_address="1.1.1.1")  # 01:30 EDT
    click(db, datetime(2025, 11, 2, 6, 30), ip_address="1.1.1.1")  # 01:30 EST
    click(db, datetime(2025, 11, 2, 6, 45), ip_address="2.2.2.2", browser="Firefox")
    body = example_env.get(
        start_date="2025-11-02T04:00:00Z",
        end_date="2025-11-02T08:00:00Z",
        timezone="America/New_York",
        group_by="time,browser",
    )
    assert body["granularity"] == "hour"
    assert body["start_date"] == "2025-11-02T00:00:00-04:00"
    assert body["end_date"] == "2025-11-02T03:00:00-05:00"
    assert rows(body) == [
        ("2025-11-02T00:00:00-04:00", 0, 0),
        ("2025-11-02T01:00:00-04:00", 1, 1),
        ("2025-11-02T01:00:00-05:00", 2, 2),
        ("2025-11-02T02:00:00-05:00", 0, 0),
        ("2025-11-02T03:00:00-05:00", 0, 0),
    ]
    assert rows(body, "time,browser") == [
        ("2025-11-02T01:00:00-04:00", "Chrome", 1, 1),
        ("2025-11-02T01:00:00-05:00", "Chrome", 1, 1),
        ("2025-11-02T01:00:00-05:00", "Firefox", 1, 1),
    ]
    assert body["summary"] == {
        "total_clicks": 3,
        "unique_clicks": 2,
        "unique_rate": 0.6667,  # 2 / 3
        "avg_redirect_ms": 12.0,  # every click took 12 ms
        "first_click": "2025-11-02T01:30:00-04:00",
        "last_click": "2025-11-02T01:45:00-05:00",
        "truncated": False,
        "truncated_breakdowns": [],
    }


def test_new_york_spring_forward_skips_two_oclock(db: Any, example_env: Any) -> None:
    click(db, datetime(2025, 3, 9, 6, 59, 59, 999000))
    click(db, datetime(2025, 3, 9, 7, 0))
    body = example_env.get(
        start_date="2025-03-09T06:00:00Z", end_date="2025-03-09T08:00:00Z", timezone="US/Eastern", granularity="hour"
    )
    assert rows(body) == [
        ("2025-03-09T01:00:00-05:00", 1, 1),
        ("2025-03-09T03:00:00-04:00", 1, 1),
        ("2025-03-09T04:00:00-04:00", 0, 0),
    ]
    day = example_env.get(
        start_date="2025-03-09T06:00:00Z",
        end_date="2025-03-09T08:00:00Z",
        timezone="America/New_York",
        granularity="day",
    )
    assert rows(day) == [("2025-03-09", 2, 1)]


def test_lord_howe_half_hour_changes(db: Any, example_env: Any) -> None:
    for at in (
        datetime(2025, 4, 5, 14, 59, 59, 999000),
        datetime(2025, 4, 5, 15, 0),
        datetime(2025, 4, 5, 15, 29),
        datetime(2025, 4, 5, 15, 30),
    ):
        click(db, at, ip_address=str(at))
    body = example_env.get(
        start_date="2025-04-05T13:00:00Z",
        end_date="2025-04-05T16:00:00Z",
        timezone="Australia/Lord_Howe",
        granularity="hour",
    )
    assert rows(body) == [
        ("2025-04-06T00:00:00+11:00", 0, 0),
        ("2025-04-06T01:00:00+11:00", 1, 1),
        ("2025-04-06T01:00:00+10:30", 2, 2),  # 01:30-02:00 repeated, on +10:30
        ("2025-04-06T02:00:00+10:30", 1, 1),
    ]
    click(db, datetime(2025, 10, 4, 15, 29, 59))
    click(db, datetime(2025, 10, 4, 15, 30))
    spring = example_env.get(
        start_date="2025-10-04T14:30:00Z",
        end_date="2025-10-04T16:00:00Z",
        timezone="Australia/Lord_Howe",
        granularity="hour",
    )
    assert rows(spring) == [
        ("2025-10-05T01:00:00+10:30", 1, 1),
        ("2025-10-05T02:00:00+11:00", 1, 1),  # 02:00-02:30 never happened
        ("2025-10-05T03:00:00+11:00", 0, 0),
    ]


def test_kolkata_half_hour_offset_day_and_hour(db: Any, example_env: Any) -> None:
    click(db, datetime(2025, 6, 14, 18, 29, 59, 999000))
    click(db, datetime(2025, 6, 14, 18, 30))
    body = example_env.get(
        start_date="2025-06-14T17:00:00Z", end_date="2025-06-14T19:00:00Z", timezone="Asia/Kolkata", granularity="hour"
    )
    assert rows(body) == [
        ("2025-06-14T22:00:00+05:30", 0, 0),
        ("2025-06-14T23:00:00+05:30", 1, 1),
        ("2025-06-15T00:00:00+05:30", 1, 1),
    ]
    day = example_env.get(
        start_date="2025-06-14T17:00:00Z", end_date="2025-06-14T19:00:00Z", timezone="Asia/Kolkata", granularity="day"
    )
    assert rows(day) == [("2025-06-14", 1, 1), ("2025-06-15", 1, 1)]


def test_week_labels_are_mondays_across_a_year_end(db: Any, example_env: Any) -> None:
    click(db, datetime(2026, 1, 1, 12), ip_address="1")  # Thursday -> Mon 2025-12-29
    click(db, datetime(2026, 1, 4, 23, 59, 59), ip_address="2")  # Sunday -> 2025-12-29
    click(db, datetime(2026, 1, 5, 0, 0), ip_address="3")  # Monday -> 2026-01-05
    body = example_env.get(start_date="2025-12-25", end_date="2026-01-14", granularity="week")
    assert rows(body) == [("2025-12-22", 0, 0), ("2025-12-29", 2, 2), ("2026-01-05", 1, 1), ("2026-01-12", 0, 0)]
    # In New York the Monday 00:00Z click is still Sunday evening.
    ny = example_env.get(
        start_date="2025-12-25T12:00:00Z", end_date="2026-01-14", granularity="week", timezone="America/New_York"
    )
    assert rows(ny) == [("2025-12-22", 0, 0), ("2025-12-29", 3, 3), ("2026-01-05", 0, 0), ("2026-01-12", 0, 0)]


def test_month_gap_fill(db: Any, example_env: Any) -> None:
    click(db, datetime(2026, 1, 31, 23, 30))  # already February in Berlin
    body = example_env.get(start_date="2025-11-15", end_date="2026-03-02", granularity="month")
    assert rows(body) == [("2025-11", 0, 0), ("2025-12", 0, 0), ("2026-01", 1, 1), ("2026-02", 0, 0), ("2026-03", 0, 0)]
    berlin = example_env.get(start_date="2025-11-15", end_date="2026-03-02", timezone="Europe/Berlin", metrics="clicks")
    assert berlin["granularity"] == "week"  # 107 days: more than 92
    month = example_env.get(
        start_date="2025-11-15", end_date="2026-03-02", timezone="Europe/Berlin", granularity="month", metrics="clicks"
    )
    assert month["breakdowns"]["time"] == [
        {"time": "2025-11", "clicks": 0},
        {"time": "2025-12", "clicks": 0},
        {"time": "2026-01", "clicks": 0},
        {"time": "2026-02", "clicks": 1},
        {"time": "2026-03", "clicks": 0},
    ]


def test_range_is_inclusive_at_both_ends_to_the_millisecond(db: Any, example_env: Any) -> None:
    for ms in (122, 123):
        click(db, datetime(2025, 3, 9, 10, 0, 0, ms * 1000), ip_address=f"s{ms}")
    for ms in (456, 457):
        click(db, datetime(2025, 3, 9, 11, 0, 0, ms * 1000), ip_address=f"e{ms}")
    body = example_env.get(start_date="2025-03-09T10:00:00.123Z", end_date="2025-03-09T11:00:00.456Z")
    assert body["summary"]["total_clicks"] == 2
    assert body["summary"]["first_click"] == "2025-03-09T10:00:00.123000+00:00"
    assert body["summary"]["last_click"] == "2025-03-09T11:00:00.456000+00:00"
    assert rows(body) == [("2025-03-09T10:00:00+00:00", 1, 1), ("2025-03-09T11:00:00+00:00", 1, 1)]
    # Unix seconds with a fraction mean the same instants.
    unix = example_env.get(start_date="1741514400.123", end_date="1741518000.456")  # 10:00 and 11:00 UTC
    assert unix["summary"] == body["summary"]


def test_unknown_and_direct_labels_and_their_filters(db: Any, example_env: Any) -> None:
    base = datetime(2025, 5, 1, 12)
    click(db, base, referrer=None, browser=None)  # absent referrer and browser
    click(db, base, referrer="", browser="", ip_address=None)
    db.clicks.insert_one({**make_click("a1", OWNER, base), "referrer": None, "browser": None})
    click(db, base, referrer="Direct", browser="Unknown")
    click(db, base, referrer="https://x.test", browser="Edge", bot_name="Googlebot")
    body = example_env.get(start_date="2025-05-01", end_date="2025-05-02", group_by="referrer,browser")
    assert rows(body, "referrer") == [("Direct", 4, 2), ("https://x.test", 1, 1)]
    assert rows(body, "browser") == [("Unknown", 4, 2), ("Edge", 1, 1)]
    direct = example_env.get(start_date="2025-05-01", end_date="2025-05-02", referrer="Direct", group_by="browser")
    assert direct["summary"]["total_clicks"] == 4
    unknown = example_env.get(
        start_date="2025-05-01",
        end_date="2025-05-02",
        group_by="referrer",
        filters='{"browser": ["Unknown", "Edge"]}',
        exclude_bots="true",
    )
    assert rows(unknown, "referrer") == [("Direct", 4, 2)]


def test_row_cap_cuts_and_says_so(db: Any, aggregation: str) -> None:
    key = add_api_key(db, OWNER)
    for i, browser in enumerate(["Chrome", "Chrome", "Chrome", "Firefox", "Firefox", "Edge"]):
        db.clicks.insert_one(make_click("a1", OWNER, datetime(2025, 5, 1, 12, i), browser=browser))
    client = make_client(db, row_cap=2, aggregation=aggregation)
    resp = client.simulate_get(
        ROUTE,
        params={
            "format": "json",
            "scope": "all",
            "start_date": "2025-04-30",
            "end_date": "2025-05-02",
            "granularity": "day",
            "group_by": "time,browser",
        },
        headers={"Authorization": f"Bearer {key}"},
    )
    assert resp.status_code == 200, resp.text
    body = resp.json
    assert rows(body) == [("2025-04-30", 0, 0), ("2025-05-01", 6, 1)]
    assert rows(body, "browser") == [("Chrome", 3, 1), ("Firefox", 2, 1)]
    assert rows(body, "time,browser") == [("2025-05-01", "Chrome", 3, 1), ("2025-05-01", "Firefox", 2, 1)]
    assert body["summary"]["truncated"] is True
    assert body["summary"]["truncated_breakdowns"] == ["time", "browser", "time,browser"]
    assert body["summary"]["total_clicks"] == 6  # the summary still covers everything


def test_report_max_bytes_shares_the_budget_and_keeps_top_rows(db: Any, aggregation: str) -> None:
    """Rows of 160 bytes plus their label (``sys.getsizeof``: "c1" 51, "r01" 52), a budget of 1,155:
    city's five first rows fit (1,055) and its sixth is shed; then each referrer row pushes the
    largest breakdown (city) back a row, until referrer is the larger one: it gives up r03 and stops.
    City keeps c1-c3 (633), referrer r01-r02 (424): both cut, level within a row, top rows each."""
    key = add_api_key(db, OWNER)
    db.clicks.insert_many(
        [
            make_click("a1", OWNER, datetime(2025, 5, 1, 12, i), city=f"c{i + 1}", referrer=f"r0{i % 3 + 1}")
            for i in range(6)
        ]
    )
    client = make_client(db, report_max_bytes=1_155, aggregation=aggregation)
    resp = client.simulate_get(
        ROUTE,
        params={
            "format": "json",
            "scope": "all",
            "start_date": "2025-05-01",
            "end_date": "2025-05-01",
            "group_by": "city,referrer",
            "metrics": "clicks",
        },
        headers={"Authorization": f"Bearer {key}"},
    )
    assert resp.status_code == 200, resp.text
    body = resp.json
    assert [tuple(r.values()) for r in body["breakdowns"]["city"]] == [("c1", 1), ("c2", 1), ("c3", 1)]
    assert [tuple(r.values()) for r in body["breakdowns"]["referrer"]] == [("r01", 2), ("r02", 2)]
    assert body["summary"]["truncated"] is True and body["summary"]["truncated_breakdowns"] == ["city", "referrer"]
    assert body["summary"]["total_clicks"] == 6
    whole = (
        make_client(db, report_max_bytes=2_000, aggregation=aggregation)
        .simulate_get(
            ROUTE,
            params={
                "format": "json",
                "scope": "all",
                "start_date": "2025-05-01",
                "end_date": "2025-05-01",
                "group_by": "city,referrer",
            },
            headers={"Authorization": f"Bearer {key}"},
        )
        .json
    )
    assert len(whole["breakdowns"]["city"]) == 6 and len(whole["breakdowns"]["referrer"]) == 3  # 1,902 fit
    assert whole["summary"]["truncated"] is False


def test_bucket_limit_is_a_400_on_granularity(db: Any, example_env: Any) -> None:
    start = datetime(2025, 1, 1)
    ok = example_env.get(
        start_date=start.isoformat(),
        end_date=(start + timedelta(hours=9999)).isoformat(),
        granularity="hour",
        metrics="clicks",
    )
    assert len(ok["breakdowns"]["time"]) == 10_000
    err = example_env.error(
        400, start_date=start.isoformat(), end_date=(start + timedelta(hours=10_000)).isoformat(), granularity="hour"
    )
    assert err["param"] == "granularity" and "10000" in err["error"]
    err = example_env.error(400, start_date="1970-01-01", end_date="2025-01-01", granularity="day")
    assert err["param"] == "granularity"
    monthly = example_env.get(start_date="1970-01-01", end_date="2025-01-01")
    assert monthly["granularity"] == "month" and len(monthly["breakdowns"]["time"]) == 661


def test_default_start_anon_is_the_urls_creation(db: Any, example_env: Any) -> None:
    add_url(db, "pub", OWNER, created_at=datetime(2025, 3, 5, 12, 0))
    click(db, datetime(2025, 3, 1), code="pub")  # before creation: not counted
    click(db, datetime(2025, 3, 6), code="pub")
    body = example_env.get(anon=True, short_code="pub", end_date="2025-03-07T00:00:00Z")
    assert body["start_date"] == "2025-03-05T12:00:00+00:00"
    assert body["granularity"] == "hour"  # 36 hours
    assert body["summary"]["total_clicks"] == 1


def test_default_start_all_is_the_owners_oldest_url(db: Any, example_env: Any) -> None:
    add_url(db, "new", OWNER, created_at=datetime(2025, 2, 1))
    add_url(db, "old", OWNER, created_at=datetime(2025, 1, 10, 8, 0))
    add_url(db, "theirs", OTHER, created_at=datetime(2024, 1, 1))
    click(db, datetime(2025, 1, 9), code="old")
    click(db, datetime(2025, 1, 11), code="old")
    body = example_env.get(end_date="2025-02-05", timezone="Europe/Berlin")
    assert body["start_date"] == "2025-01-10T09:00:00+01:00"
    assert body["granularity"] == "day"
    assert body["summary"]["total_clicks"] == 1
    assert rows(body)[0] == ("2025-01-10", 0, 0)


def test_default_start_else_first_click(db: Any, example_env: Any) -> None:
    click(db, datetime(2025, 3, 8, 9, 15, 0, 250000))
    click(db, datetime(2025, 3, 8, 9, 15, 0, 100000), owner=OTHER)  # someone else's, earlier
    click(db, datetime(2025, 3, 9, 1, 0))
    body = example_env.get(end_date="2025-03-10")
    assert body["start_date"] == "2025-03-08T09:15:00.250000+00:00"
    assert body["summary"]["total_clicks"] == 2
    assert body["summary"]["first_click"] == body["start_date"]
    # A legacy URL (no owner, no creation date) starts at its first click too.
    db.urls.insert_one({"_id": "leg", "url": "https://example.com"})
    click(db, datetime(2025, 3, 9, 4, 0), code="leg", owner=None, legacy=True)
    legacy = example_env.get(anon=True, short_code="leg", end_date="2025-03-10")
    assert legacy["start_date"] == "2025-03-09T04:00:00+00:00"
    assert legacy["summary"]["total_clicks"] == 1
    # No clicks at all: the range collapses to the end date.
    empty = example_env.get(end_date="2025-03-10", filters='{"browser": ["Nobody"]}')
    assert empty["summary"]["total_clicks"] == 0


@pytest.mark.parametrize(
    ("end", "granularity"),
    [  # in the past: an end after now is read as now
        ("2021-01-03T00:00:00.000Z", "hour"),  # exactly 48 hours
        ("2021-01-03T00:00:00.001Z", "day"),
        ("2021-04-03T00:00:00.000Z", "day"),  # exactly 92 days
        ("2021-04-03T00:00:00.001Z", "week"),
        ("2023-01-02T00:00:00.000Z", "week"),  # exactly 731 days (2021 and 2022 have 365)
        ("2023-01-02T00:00:00.001Z", "month"),
    ],
)
def test_default_granularity_from_the_span(example_env: Any, end: str, granularity: str) -> None:
    body = example_env.get(start_date="2021-01-01T00:00:00Z", end_date=end, metrics="clicks")
    assert body["granularity"] == granularity
    assert body["breakdowns"]["time"][0] == {
        "time": {"hour": "2021-01-01T00:00:00+00:00", "day": "2021-01-01", "week": "2020-12-28", "month": "2021-01"}[
            granularity
        ],
        "clicks": 0,
    }


def test_chatham_45_minute_changes_order_buckets_by_real_time(db: Any, example_env: Any) -> None:
    """Chatham goes back from +13:45 to +12:45 at 14:00Z (local 03:45 -> 02:45).

    The buckets 03:00+13:45 (13:15-14:00Z) and 02:00+12:45 (14:00-14:15Z) share the
    nominal instant 13:15Z; the later one must come later, whatever its click count.
    """
    click(db, datetime(2025, 4, 5, 13, 59, 59, 999000), ip_address="1")
    click(db, datetime(2025, 4, 5, 14, 6), ip_address="2", browser="Firefox")
    click(db, datetime(2025, 4, 5, 14, 7), ip_address="3", browser="Firefox")
    click(db, datetime(2025, 4, 5, 14, 20), ip_address="4")
    body = example_env.get(
        start_date="2025-04-05T13:00:00Z",
        end_date="2025-04-05T14:30:00Z",
        timezone="Pacific/Chatham",
        granularity="hour",
        group_by="time,browser",
    )
    assert rows(body) == [
        ("2025-04-06T02:00:00+13:45", 0, 0),
        ("2025-04-06T03:00:00+13:45", 1, 1),
        ("2025-04-06T02:00:00+12:45", 2, 2),
        ("2025-04-06T03:00:00+12:45", 1, 1),
    ]
    assert rows(body, "time,browser") == [
        ("2025-04-06T03:00:00+13:45", "Chrome", 1, 1),
        ("2025-04-06T02:00:00+12:45", "Firefox", 2, 2),
        ("2025-04-06T03:00:00+12:45", "Chrome", 1, 1),
    ]
    # Forward again at 2025-09-27 14:00Z (local 02:45 -> 03:45): 02:00+12:45 comes first.
    click(db, datetime(2025, 9, 27, 13, 59), ip_address="5")
    click(db, datetime(2025, 9, 27, 14, 1), ip_address="6", browser="Firefox")
    click(db, datetime(2025, 9, 27, 14, 2), ip_address="7", browser="Firefox")
    spring = example_env.get(
        start_date="2025-09-27T13:30:00Z",
        end_date="2025-09-27T14:10:00Z",
        timezone="Pacific/Chatham",
        granularity="hour",
        group_by="time,browser",
    )
    assert rows(spring) == [("2025-09-28T02:00:00+12:45", 1, 1), ("2025-09-28T03:00:00+13:45", 2, 2)]
    assert rows(spring, "time,browser") == [
        ("2025-09-28T02:00:00+12:45", "Chrome", 1, 1),
        ("2025-09-28T03:00:00+13:45", "Firefox", 2, 2),
    ]


def test_new_york_fall_back_at_minute_resolution(db: Any, example_env: Any) -> None:
    """06:00Z turns 01:59 EDT into 01:00 EST: the minute after 01:59-04:00 is 01:00-05:00."""
    click(db, datetime(2025, 11, 2, 5, 0, 30), ip_address="1", browser="Firefox")  # 01:00:30 EDT
    click(db, datetime(2025, 11, 2, 5, 59, 30), ip_address="2")  # 01:59:30 EDT
    click(db, datetime(2025, 11, 2, 6, 0), ip_address="2")  # 01:00:00 EST
    click(db, datetime(2025, 11, 2, 6, 0, 59, 999000), ip_address="3")  # 01:00:59.999 EST
    body = example_env.get(
        start_date="2025-11-02T05:58:00Z",
        end_date="2025-11-02T06:01:00Z",
        timezone="America/New_York",
        granularity="minute",
    )
    assert body["granularity"] == "minute"
    assert rows(body) == [
        ("2025-11-02T01:58:00-04:00", 0, 0),
        ("2025-11-02T01:59:00-04:00", 1, 1),
        ("2025-11-02T01:00:00-05:00", 2, 2),
        ("2025-11-02T01:01:00-05:00", 0, 0),  # holds the end, 06:01:00Z
    ]
    # Over the whole repeated hour the two 01:00s stay apart and series follow real time:
    # 01:59-04:00 comes before 01:00-05:00 although its wall time is later.
    hour = example_env.get(
        start_date="2025-11-02T04:59:00Z",
        end_date="2025-11-02T06:01:00Z",
        timezone="America/New_York",
        granularity="minute",
        group_by="time,browser",
    )
    labels = [row[0] for row in rows(hour)]
    assert len(labels) == 63 and len(set(labels)) == 63
    assert labels[:2] == ["2025-11-02T00:59:00-04:00", "2025-11-02T01:00:00-04:00"]
    assert labels[-3:] == ["2025-11-02T01:59:00-04:00", "2025-11-02T01:00:00-05:00", "2025-11-02T01:01:00-05:00"]
    assert [row for row in rows(hour) if row[1]] == [
        ("2025-11-02T01:00:00-04:00", 1, 1),
        ("2025-11-02T01:59:00-04:00", 1, 1),
        ("2025-11-02T01:00:00-05:00", 2, 2),
    ]
    assert rows(hour, "time,browser") == [
        ("2025-11-02T01:00:00-04:00", "Firefox", 1, 1),
        ("2025-11-02T01:59:00-04:00", "Chrome", 1, 1),
        ("2025-11-02T01:00:00-05:00", "Chrome", 2, 2),
    ]


def test_new_york_fall_back_at_10_minutes(db: Any, example_env: Any) -> None:
    click(db, datetime(2025, 11, 2, 5, 55), ip_address="1")  # 01:55 EDT
    click(db, datetime(2025, 11, 2, 6, 5), ip_address="1")  # 01:05 EST
    click(db, datetime(2025, 11, 2, 6, 10), ip_address="2")  # 01:10 EST
    body = example_env.get(
        start_date="2025-11-02T05:50:00Z",
        end_date="2025-11-02T06:10:00Z",
        timezone="America/New_York",
        granularity="10min",
    )
    assert rows(body) == [
        ("2025-11-02T01:50:00-04:00", 1, 1),
        ("2025-11-02T01:00:00-05:00", 1, 1),
        ("2025-11-02T01:10:00-05:00", 1, 1),
    ]


def test_chatham_45_minute_change_cuts_10_minute_buckets_short(db: Any, example_env: Any) -> None:
    """Back from +13:45 to +12:45 at 14:00Z, i.e. local 03:45 -> 02:45: not a 10-minute boundary.

    03:40+13:45 holds only 13:55-14:00Z and 02:40+12:45 only 14:00-14:05Z; both nominally start
    at 13:55Z, and the one in force then comes first, whatever the click counts.
    """
    click(db, datetime(2025, 4, 5, 13, 59, 59, 999000), ip_address="1")  # 03:44:59.999+13:45
    click(db, datetime(2025, 4, 5, 14, 1), ip_address="2", browser="Firefox")  # 02:46+12:45
    click(db, datetime(2025, 4, 5, 14, 4), ip_address="3", browser="Firefox")  # 02:49+12:45
    click(db, datetime(2025, 4, 5, 14, 5), ip_address="4")  # 02:50+12:45
    click(db, datetime(2025, 4, 5, 14, 19), ip_address="1")  # 03:04+12:45
    body = example_env.get(
        start_date="2025-04-05T13:40:00Z",
        end_date="2025-04-05T14:20:00Z",
        timezone="Pacific/Chatham",
        granularity="10min",
        group_by="time,browser",
    )
    assert rows(body) == [
        ("2025-04-06T03:20:00+13:45", 0, 0),
        ("2025-04-06T03:30:00+13:45", 0, 0),
        ("2025-04-06T03:40:00+13:45", 1, 1),
        ("2025-04-06T02:40:00+12:45", 2, 2),
        ("2025-04-06T02:50:00+12:45", 1, 1),
        ("2025-04-06T03:00:00+12:45", 1, 1),
    ]
    assert rows(body, "time,browser") == [
        ("2025-04-06T03:40:00+13:45", "Chrome", 1, 1),
        ("2025-04-06T02:40:00+12:45", "Firefox", 2, 2),
        ("2025-04-06T02:50:00+12:45", "Chrome", 1, 1),
        ("2025-04-06T03:00:00+12:45", "Chrome", 1, 1),
    ]
    # Forward again at 2025-09-27 14:00Z (local 02:45 -> 03:45): 02:40+12:45 (13:55-14:00Z)
    # and 03:40+13:45 (14:00-14:05Z) share 13:55Z the other way round.
    click(db, datetime(2025, 9, 27, 13, 56), ip_address="5")
    click(db, datetime(2025, 9, 27, 14, 1), ip_address="6", browser="Firefox")
    click(db, datetime(2025, 9, 27, 14, 2), ip_address="7", browser="Firefox")
    spring = example_env.get(
        start_date="2025-09-27T13:50:00Z",
        end_date="2025-09-27T14:06:00Z",
        timezone="Pacific/Chatham",
        granularity="10min",
        group_by="time,browser",
    )
    assert rows(spring) == [
        ("2025-09-28T02:30:00+12:45", 0, 0),
        ("2025-09-28T02:40:00+12:45", 1, 1),
        ("2025-09-28T03:40:00+13:45", 2, 2),
        ("2025-09-28T03:50:00+13:45", 0, 0),
    ]
    assert rows(spring, "time,browser") == [
        ("2025-09-28T02:40:00+12:45", "Chrome", 1, 1),
        ("2025-09-28T03:40:00+13:45", "Firefox", 2, 2),
    ]


def test_kolkata_10_minute_labels_carry_plus_05_30(db: Any, example_env: Any) -> None:
    click(db, datetime(2025, 6, 14, 18, 29, 59, 999000), ip_address="a")  # 23:59:59.999 IST
    click(db, datetime(2025, 6, 14, 18, 30), ip_address="a")  # 00:00 IST, next day
    click(db, datetime(2025, 6, 14, 18, 39, 59, 999000), ip_address="b")  # 00:09:59.999 IST
    body = example_env.get(
        start_date="2025-06-14T18:15:00Z", end_date="2025-06-14T18:45:00Z", timezone="Asia/Kolkata", granularity="10min"
    )
    assert rows(body) == [
        ("2025-06-14T23:40:00+05:30", 0, 0),
        ("2025-06-14T23:50:00+05:30", 1, 1),
        ("2025-06-15T00:00:00+05:30", 2, 2),
        ("2025-06-15T00:10:00+05:30", 0, 0),
    ]


def test_lord_howe_half_hour_fall_back_at_10_minutes(db: Any, example_env: Any) -> None:
    """At 15:00Z local 02:00+11:00 becomes 01:30+10:30: 01:30-02:00 comes round again."""
    click(db, datetime(2025, 4, 5, 14, 35), ip_address="1")  # 01:35+11:00
    click(db, datetime(2025, 4, 5, 14, 59, 59, 999000), ip_address="2")  # 01:59:59.999+11:00
    click(db, datetime(2025, 4, 5, 15, 5), ip_address="3")  # 01:35+10:30
    body = example_env.get(
        start_date="2025-04-05T14:30:00Z",
        end_date="2025-04-05T15:10:00Z",
        timezone="Australia/Lord_Howe",
        granularity="10min",
    )
    assert rows(body) == [
        ("2025-04-06T01:30:00+11:00", 1, 1),
        ("2025-04-06T01:40:00+11:00", 0, 0),
        ("2025-04-06T01:50:00+11:00", 1, 1),
        ("2025-04-06T01:30:00+10:30", 1, 1),
        ("2025-04-06T01:40:00+10:30", 0, 0),
    ]


def test_minute_and_10min_are_never_the_default(example_env: Any) -> None:
    body = example_env.get(start_date="2025-01-01T00:00:00Z", end_date="2025-01-01T00:05:00Z", metrics="clicks")
    assert body["granularity"] == "hour"
    assert body["breakdowns"]["time"] == [{"time": "2025-01-01T00:00:00+00:00", "clicks": 0}]


@pytest.mark.parametrize(("granularity", "minutes"), [("minute", 1), ("10min", 10)])
def test_bucket_limit_applies_to_minute_buckets(example_env: Any, granularity: str, minutes: int) -> None:
    start = datetime(2025, 1, 1)
    ok = example_env.get(
        start_date=start.isoformat(),
        end_date=(start + timedelta(minutes=9999 * minutes)).isoformat(),
        granularity=granularity,
        metrics="clicks",
    )
    assert len(ok["breakdowns"]["time"]) == 10_000
    assert ok["breakdowns"]["time"][-1]["time"] == (start + timedelta(minutes=9999 * minutes)).isoformat() + "+00:00"
    err = example_env.error(
        400,
        start_date=start.isoformat(),
        end_date=(start + timedelta(minutes=10_000 * minutes)).isoformat(),
        granularity=granularity,
    )
    assert err["param"] == "granularity" and "10000" in err["error"]
    week = example_env.error(400, start_date="2025-01-01", end_date="2025-01-07T23:59:00Z", granularity="minute")
    assert week["param"] == "granularity"  # 7 days of minutes: 10,080 buckets
