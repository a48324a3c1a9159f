"""``period`` and ``compare`` through the real app, in every format, at a frozen instant.

The dataset is small enough to count by hand: the expected figures below are literals (and the
oracle, ``tests/oracle.py``, agrees with them). Every format is parsed back (json, xml with
ElementTree, csv with the csv module from the zip, xlsx cells with openpyxl and its chart from the
file's XML, html's table cells and chart markup) and held to the same literals.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import datetime, timedelta, timezone
from typing import Any
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

import falcon.testing
import openpyxl
import pytest
from bson import ObjectId

from spoo_export_plugin import ExportSettings, create_app

from ..core.test_periods import expected as expected_period
from ..factories import ROUTE, add_api_key, add_url, make_click
from ..formats.test_xlsx_charts import A, C, charts_by_sheet
from ..oracle import Query, expected_compared_export
from ..scenarios import PERIODS  # the SPEC's list, written in the tests (not the product's)

UTC = timezone.utc
BERLIN = "Europe/Berlin"
#: The request's instant: 10 March 2025, so last_month is February (Berlin), the month before January.
NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
OWNER = ObjectId("650000000000000000000abc")


def berlin(*args: int) -> datetime:
    """A Berlin wall time in winter (UTC+1) as an aware UTC instant."""
    return datetime(*args, tzinfo=timezone(timedelta(hours=1))).astimezone(UTC)


def _clicks() -> list[dict[str, Any]]:
    def click(at: datetime, browser: str, ip: str) -> dict[str, Any]:
        return make_click("cmp", OWNER, at, browser=browser, ip_address=f"203.0.113.{ip}")

    return [
        # February (the current range): 5 clicks, visitors .1 .2 .3
        click(berlin(2025, 2, 3, 10), "Chrome", "1"),
        click(berlin(2025, 2, 3, 10, 5), "Chrome", "1"),
        click(berlin(2025, 2, 3, 11), "Firefox", "2"),
        click(berlin(2025, 2, 14, 9), "Chrome", "3"),
        click(berlin(2025, 2, 28, 23, 30), "Safari", "1"),  # 22:30 UTC: still February in Berlin
        # January (the earlier range): 4 clicks, 4 visitors; Opera is only here
        click(berlin(2025, 1, 1, 0, 10), "Chrome", "1"),  # 2024-12-31 23:10 UTC: January in Berlin
        click(berlin(2025, 1, 15, 8), "Opera", "7"),
        click(berlin(2025, 1, 20, 8), "Chrome", "5"),
        click(berlin(2025, 1, 31, 23, 59), "Firefox", "6"),
        # in neither: 1 March 00:30 and 31 December 23:30, Berlin time
        click(berlin(2025, 3, 1, 0, 30), "Chrome", "9"),
        click(berlin(2024, 12, 31, 23, 30), "Chrome", "9"),
    ]


PARAMS = {
    "scope": "all",
    "timezone": BERLIN,
    "period": "last_month",
    "compare": "previous_period",
    "group_by": "time,browser",
    "metrics": "clicks,unique_clicks,share",
    "granularity": "week",
}
COMPARISON = {
    "compare": "previous_period",
    "start_date": "2025-01-01T00:00:00+01:00",
    "end_date": "2025-01-31T23:59:59.999000+01:00",
    "summary": {"total_clicks": 4, "unique_clicks": 4, "unique_rate": 1.0, "avg_redirect_ms": 12.0},
}
TIME_COLUMNS = (
    "time",
    "clicks",
    "unique_clicks",
    "share",
    "previous_time",
    "previous_clicks",
    "previous_unique_clicks",
    "previous_share",
    "clicks_change",
)
#: Weeks (Mondays) of February in Berlin, beside January's by position.
TIME_ROWS = [
    ("2025-01-27", 0, 0, 0.0, "2024-12-30", 1, 1, 0.25, -1.0),
    ("2025-02-03", 3, 2, 0.6, "2025-01-06", 0, 0, 0.0, None),
    ("2025-02-10", 1, 1, 0.2, "2025-01-13", 1, 1, 0.25, 0.0),
    ("2025-02-17", 0, 0, 0.0, "2025-01-20", 1, 1, 0.25, -1.0),
    ("2025-02-24", 1, 1, 0.2, "2025-01-27", 1, 1, 0.25, 0.0),
]
BROWSER_COLUMNS = (
    "browser",
    "clicks",
    "unique_clicks",
    "share",
    "previous_clicks",
    "previous_unique_clicks",
    "previous_share",
    "clicks_change",
)
BROWSER_ROWS = [
    ("Chrome", 3, 2, 0.6, 2, 2, 0.5, 0.5),
    ("Firefox", 1, 1, 0.2, 1, 1, 0.25, 0.0),
    ("Safari", 1, 1, 0.2, 0, 0, 0.0, None),  # not in January: 0, and no change to speak of
]


@pytest.fixture
def app(db: Any, aggregation: str) -> tuple[falcon.testing.TestClient, str]:
    add_url(db, "cmp", OWNER, created_at=datetime(2024, 6, 1))
    db.clicks.insert_many(_clicks())
    client = falcon.testing.TestClient(create_app(ExportSettings(database=db, aggregation=aggregation)))
    client.app._router.find(ROUTE)[0].exporter.clock = lambda: NOW
    return client, add_api_key(db, OWNER)


def get(app: tuple[falcon.testing.TestClient, str], route: str = ROUTE, **params: str) -> Any:
    client, key = app
    return client.simulate_get(route, params=params, headers={"Authorization": f"Bearer {key}"})


def test_json_last_month_compared_with_the_month_before(app):
    resp = get(app, **PARAMS, format="json")
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/json"
    body = resp.json
    assert (body["start_date"], body["end_date"], body["period"]) == (
        "2025-02-01T00:00:00+01:00",
        "2025-02-28T23:59:59.999000+01:00",
        "last_month",
    )
    assert body["summary"]["total_clicks"] == 5 and body["summary"]["unique_clicks"] == 3
    assert body["comparison"] == COMPARISON
    keys = list(body)
    assert keys[keys.index("summary") + 1 :] == ["comparison", "breakdowns"]
    assert body["breakdowns"]["time"] == [dict(zip(TIME_COLUMNS, row, strict=True)) for row in TIME_ROWS]
    assert [list(row) for row in body["breakdowns"]["time"]] == [list(TIME_COLUMNS)] * 5
    assert body["breakdowns"]["browser"] == [dict(zip(BROWSER_COLUMNS, row, strict=True)) for row in BROWSER_ROWS]
    assert [list(row) for row in body["breakdowns"]["browser"]] == [list(BROWSER_COLUMNS)] * 3
    assert all(
        list(row) == ["time", "browser", "clicks", "unique_clicks", "share"]
        for row in body["breakdowns"]["time,browser"]
    )
    # the oracle, from the raw clicks and its own earlier range, says the same
    query = Query(
        scope="all",
        start=berlin(2025, 2, 1),
        end=berlin(2025, 3, 1) - timedelta(milliseconds=1),
        timezone=BERLIN,
        owner_id=OWNER,
        granularity="week",
        group_by=("time", "browser"),
        metrics=("clicks", "unique_clicks", "share"),
    )
    oracle = expected_compared_export(_clicks(), query, "previous_period")
    assert body["comparison"] == oracle["comparison"] and body["breakdowns"] == oracle["breakdowns"]


def test_one_more_query_over_the_earlier_range_only(app, aggregations):
    """Without compare one query of the clicks; with it exactly one more, over January alone."""
    assert get(app, **{k: v for k, v in PARAMS.items() if k != "compare"}, format="json").status_code == 200
    assert len(aggregations) == 1
    assert get(app, **PARAMS, format="json").status_code == 200
    assert len(aggregations) == 3
    earlier = str(aggregations[2])
    assert "2024, 12, 31, 23, 0" in earlier and "2025, 1, 31, 22, 59, 59, 999000" in earlier, earlier
    assert "2025, 2, 28" not in earlier  # never the current range again


def test_xml_carries_the_comparison_and_the_new_columns(app):
    resp = get(app, **PARAMS, format="xml")
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/xml"
    root = ElementTree.fromstring(resp.content)
    tags = [child.tag for child in root]
    assert tags[tags.index("summary") + 1 :] == ["comparison", "breakdowns"]
    comparison = root.find("comparison")
    assert [(e.tag, e.text) for e in comparison if e.tag != "summary"] == [
        ("compare", "previous_period"),
        ("start_date", "2025-01-01T00:00:00+01:00"),
        ("end_date", "2025-01-31T23:59:59.999000+01:00"),
    ]
    assert [(e.tag, e.text) for e in comparison.find("summary")] == [
        ("total_clicks", "4"),
        ("unique_clicks", "4"),
        ("unique_rate", "1.0"),
        ("avg_redirect_ms", "12.0"),
    ]

    def rows(name: str) -> list[list[tuple[str, str | None]]]:
        table = root.find(f"breakdowns/breakdown[@name='{name}']")
        return [[(cell.tag, cell.text) for cell in row] for row in table]

    def text(value: Any) -> str | None:
        return None if value is None else str(value)  # null: an empty element

    assert rows("time") == [[(c, text(v)) for c, v in zip(TIME_COLUMNS, row, strict=True)] for row in TIME_ROWS]
    assert rows("browser") == [
        [(c, text(v)) for c, v in zip(BROWSER_COLUMNS, row, strict=True)] for row in BROWSER_ROWS
    ]


def _csv(archive: zipfile.ZipFile, name: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(archive.read(name).decode("utf-8-sig"))))


def test_csv_summary_lines_and_columns(app):
    resp = get(app, **PARAMS, format="csv")
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(resp.content))
    summary = _csv(archive, "summary.csv")
    fields = [row[0] for row in summary]
    assert summary[fields.index("truncated_breakdowns") + 1 :] == [
        ["comparison.compare", "previous_period"],
        ["comparison.start_date", "2025-01-01T00:00:00+01:00"],
        ["comparison.end_date", "2025-01-31T23:59:59.999000+01:00"],
        ["comparison.total_clicks", "4"],
        ["comparison.unique_clicks", "4"],
        ["comparison.unique_rate", "1.0"],
        ["comparison.avg_redirect_ms", "12.0"],
    ]

    def cells(row: tuple[Any, ...]) -> list[str]:
        return ["" if v is None else str(v) for v in row]

    assert _csv(archive, "by_time.csv") == [list(TIME_COLUMNS)] + [cells(row) for row in TIME_ROWS]
    assert _csv(archive, "by_browser.csv") == [list(BROWSER_COLUMNS)] + [cells(row) for row in BROWSER_ROWS]
    assert _csv(archive, "by_time_and_browser.csv")[0] == ["time", "browser", "clicks", "unique_clicks", "share"]


def test_xlsx_cells_formats_and_chart(app):
    resp = get(app, **PARAMS, format="xlsx")
    assert resp.status_code == 200
    wb = openpyxl.load_workbook(io.BytesIO(resp.content))
    summary = [tuple(row) for row in wb["Summary"].iter_rows(values_only=True)]
    fields = [row[0] for row in summary]
    assert summary[fields.index("comparison.compare") :] == [
        ("comparison.compare", "previous_period"),
        ("comparison.start_date", "2025-01-01T00:00:00+01:00"),
        ("comparison.end_date", "2025-01-31T23:59:59.999000+01:00"),
        ("comparison.total_clicks", 4),
        ("comparison.unique_clicks", 4),
        ("comparison.unique_rate", 1),
        ("comparison.avg_redirect_ms", 12),
    ]
    sheet = wb["time"]
    assert [c.value for c in sheet[1]] == list(TIME_COLUMNS)
    for number, row in enumerate(TIME_ROWS, 2):
        cells = sheet[number]
        expected = [
            datetime.fromisoformat(row[0]),
            *row[1:4],
            datetime.fromisoformat(row[4]),
            *row[5:],
        ]
        assert [c.value for c in cells] == expected
        assert [c.number_format for c in cells] == [
            "yyyy-mm-dd",
            "General",
            "General",
            "0.00%",
            "yyyy-mm-dd",
            "General",
            "General",
            "0.00%",
            "0.00%" if row[-1] is not None else "General",  # an empty cell for null
        ]
    browsers = wb["browser"]
    assert [tuple(c.value for c in row) for row in browsers.iter_rows()] == [BROWSER_COLUMNS] + BROWSER_ROWS
    assert browsers["H2"].number_format == "0.00%" and browsers["G2"].number_format == "0.00%"

    (chart,) = charts_by_sheet(resp.content)["time"]
    series = list(chart.iter(C + "ser"))
    assert len(series) == 3
    earlier = series[-1]
    assert [v.text for v in earlier.iter(C + "v")][:1] == ["clicks (previous period)"]
    assert earlier.find(f"{C}val/{C}numRef/{C}f").text == "'time'!$F$2:$F$6"  # previous_clicks, every row dated
    dash = earlier.find(f"{C}spPr/{A}ln/{A}prstDash")
    assert dash is not None and dash.get("val") == "lgDash"
    assert series[0].find(f"{C}spPr/{A}ln/{A}prstDash").get("val") == "solid"


def test_html_summary_table_columns_and_dashed_earlier_line(app):
    resp = get(app, **PARAMS, format="html")
    assert resp.status_code == 200
    page = resp.text
    compared = re.search(r"<caption>Compared with the previous period</caption><tbody>(.*?)</tbody>", page).group(1)
    assert re.findall(r'<th scope="row">(.*?)</th><td>(.*?)</td>', compared) == [
        ("Start", "2025-01-01 00:00:00 +01:00"),
        ("End", "2025-01-31 23:59:59 +01:00"),
        ("Total clicks", "4"),
        ("Unique clicks", "4"),
        ("Unique rate", "100.0 %"),
        ("Average redirect", "12.0 ms"),
        ("Change in clicks", "+25.0 %"),
    ]
    tables = re.findall(r"<table><caption>.*?</caption><thead><tr>(.*?)</tr></thead><tbody>(.*?)</tbody>", page)
    heads = [re.findall(r'<th scope="col">(.*?)</th>', head) for head, _ in tables]
    assert heads[0] == list(TIME_COLUMNS) and heads[1] == list(BROWSER_COLUMNS)
    time_rows = [re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row) for row in re.findall(r"<tr>(.*?)</tr>", tables[0][1])]
    assert time_rows[0] == ["2025-01-27", "0", "0", "0.0 %", "2024-12-30", "1", "1", "25.0 %", "-100.0 %"]
    assert time_rows[1] == ["2025-02-03", "3", "2", "60.0 %", "2025-01-06", "0", "0", "0.0 %", "-"]
    browser_rows = [
        re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row) for row in re.findall(r"<tr>(.*?)</tr>", tables[1][1])
    ]
    assert browser_rows == [
        ["Chrome", "3", "2", "60.0 %", "2", "2", "50.0 %", "+50.0 %"],
        ["Firefox", "1", "1", "20.0 %", "1", "1", "25.0 %", "0.0 %"],
        ["Safari", "1", "1", "20.0 %", "0", "0", "0.0 %", "-"],
    ]
    earlier = re.search(r'<polyline class="series earlier" data-series="clicks \(previous period\)"([^>]*)/>', page)
    assert earlier is not None and 'stroke-dasharray="9 5"' in earlier.group(1)
    assert len(re.findall(r"points=", earlier.group(1))) == 1
    assert len(earlier.group(1).split('points="')[1].split()) == 5  # one point per week, by position
    assert "clicks (previous period)</text>" in page  # the legend names it


def test_past_the_end_of_a_shorter_earlier_range(db, aggregation):
    """Whole March against the whole of February: rows 29 to 31 have null earlier figures."""
    add_url(db, "cmp", OWNER, created_at=datetime(2024, 6, 1))
    db.clicks.insert_many(_clicks() + [make_click("cmp", OWNER, berlin(2025, 3, 31, 12))])
    client = falcon.testing.TestClient(create_app(ExportSettings(database=db, aggregation=aggregation)))
    client.app._router.find(ROUTE)[0].exporter.clock = lambda: datetime(2025, 4, 2, tzinfo=UTC)
    resp = client.simulate_get(
        ROUTE,
        params={
            "format": "json",
            "timezone": BERLIN,
            "period": "last_month",
            "compare": "previous_period",
            "metrics": "clicks,share",
        },
        headers={"Authorization": f"Bearer {add_api_key(db, OWNER)}"},
    )
    body = resp.json
    assert body["comparison"]["start_date"] == "2025-02-01T00:00:00+01:00"
    rows = body["breakdowns"]["time"]
    assert len(rows) == 31 and rows[27]["previous_time"] == "2025-02-28"
    assert rows[27]["previous_clicks"] == 1 and rows[27]["previous_share"] == 0.2
    assert rows[28:] == [
        {
            "time": f"2025-03-{d}",
            "clicks": 0,
            "share": 0.0,
            "previous_time": None,
            "previous_clicks": 0,
            "previous_share": 0.0,
            "clicks_change": None,
        }
        for d in (29, 30)
    ] + [
        {
            "time": "2025-03-31",
            "clicks": 1,
            "share": 0.5,  # of March's two clicks (1 March 00:30 is the other)
            "previous_time": None,
            "previous_clicks": 0,
            "previous_share": 0.0,
            "clicks_change": None,
        }
    ]


@pytest.mark.parametrize("period", PERIODS)
def test_every_period_at_a_frozen_instant(app, period):
    """Each preset's range is the brute-force calendar's at the frozen instant, in Berlin, and its
    clicks are those of the dataset in that range."""
    resp = get(app, format="json", timezone=BERLIN, period=period, group_by="browser")
    assert resp.status_code == 200, resp.text
    body = resp.json
    start, end = expected_period(period, NOW, BERLIN)
    start = start if start is not None else datetime(2024, 6, 1, tzinfo=UTC)  # all: the owner's first URL
    zone = ZoneInfo(BERLIN)
    assert (body["period"], body["start_date"], body["end_date"]) == (
        period,
        start.astimezone(zone).isoformat(),
        end.astimezone(zone).isoformat(),
    )
    inside = [c for c in _clicks() if start <= c["clicked_at"].replace(tzinfo=UTC) <= end]
    assert body["summary"]["total_clicks"] == len(inside)
    assert "comparison" not in body


@pytest.mark.parametrize(
    ("route", "params", "param"),
    [
        (ROUTE, {"period": "last_fortnight"}, "period"),
        (ROUTE, {"period": "last_week", "start_date": "2025-01-01"}, "period"),
        (ROUTE, {"period": "last_week", "end_date": "2025-01-01"}, "period"),
        (ROUTE, {"compare": "previous_decade"}, "compare"),
        (ROUTE + "/clicks", {"compare": "previous_period"}, "compare"),
        (ROUTE + "/clicks", {"period": "yesterday", "start_date": "2025-01-01"}, "period"),
    ],
)
def test_refusals_name_the_parameter(app, route, params, param):
    resp = get(app, route, format="json", **params)
    assert resp.status_code == 400 and resp.json["param"] == param, resp.text


def test_the_earlier_range_is_held_to_max_buckets_too(db):
    """Minute buckets with max_buckets=1,440: a day of 24 hours fits, and so does the day a year
    before; a day whose previous day had 25 hours (Berlin, 27 October 2024) does not: 400."""
    add_url(db, "cmp", OWNER)
    client = falcon.testing.TestClient(create_app(ExportSettings(database=db, max_buckets=1_440)))
    client.app._router.find(ROUTE)[0].exporter.clock = lambda: NOW
    headers = {"Authorization": f"Bearer {add_api_key(db, OWNER)}"}
    minutes = {"format": "json", "granularity": "minute", "metrics": "clicks"}
    day = client.simulate_get(
        ROUTE, params={**minutes, "period": "yesterday", "compare": "previous_year"}, headers=headers
    )
    assert day.status_code == 200 and len(day.json["breakdowns"]["time"]) == 1_440
    assert day.json["comparison"]["start_date"] == "2024-03-09T00:00:00+00:00"
    autumn = {**minutes, "timezone": BERLIN, "start_date": "2024-10-28", "end_date": "2024-10-28"}
    assert client.simulate_get(ROUTE, params=autumn, headers=headers).status_code == 200
    refused = client.simulate_get(ROUTE, params={**autumn, "compare": "previous_period"}, headers=headers)
    assert refused.status_code == 400 and refused.json["param"] == "granularity", refused.text
