"""``GET <route>/clicks``: raw clicks through the real app (mongomock): every format parsed and compared
with hand-written rows, access, parameters, HEAD, caps, pseudonyms, and no IP address or user agent
anywhere in the bytes."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import hmac
import io
import json
import logging
import re
import zipfile
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from xml.etree import ElementTree

import falcon.testing
import openpyxl
import pytest
from bson import ObjectId

from spoo_export_plugin import ExportMiddleware, ExportSettings
from spoo_export_plugin.formats import FORMATS, click_formats
from spoo_export_plugin.web.openapi import load_document

from ..doors import make_app, open_response
from ..factories import ROUTE, add_api_key, add_url, make_click

#: HTTP-level: each test runs through both doors (WSGI and ASGI, tests/doors.py).
pytestmark = pytest.mark.usefixtures("door")

CLICKS = ROUTE + "/clicks"
OWNER = ObjectId("650000000000000000000011")
OTHER = ObjectId("650000000000000000000012")
SECRET_IP = "198.51.100.77"
SECRET_UA = "SecretAgent/9.9 (hunter2-unique-ua)"
OTHER_IP = "2001:db8::dead:beef"
HOSTILE = "=cmd|' /C calc'!A0"
MEDIA_TYPES = {
    "json": "application/json",
    "xml": "application/xml",
    "csv": "application/zip",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
COLUMNS = [
    "time",
    "short_code",
    "browser",
    "os",
    "country",
    "city",
    "referrer",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "device",
    "domain",
    "platform",
    "bot_name",
    "visitor",
]
GENEROUS = {"authenticated_limits": "10000/minute", "anonymous_limits": "10000/minute"}
SECRET = "a-visitor-secret-for-tests-0123456789"


def pseudonym(ip: str, agent: str, secret: str = SECRET) -> str:
    """SPEC's visitor id, computed here with the standard library."""
    return hmac.new(secret.encode(), f"{ip}\n{agent}".encode(), hashlib.sha256).hexdigest()[:16]


@pytest.fixture
def data(db) -> dict[str, Any]:
    key = add_api_key(db, OWNER)
    other_key = add_api_key(db, OTHER)
    add_url(db, "mine", OWNER, created_at=datetime(2025, 3, 1))
    add_url(db, "priv", OWNER, created_at=datetime(2025, 3, 1), private_stats=True)
    add_url(db, "theirs", OTHER, created_at=datetime(2025, 3, 1))
    db.urls.insert_one({"_id": "legacy", "created_at": datetime(2025, 3, 1)})
    clicks = [
        # New York: -05:00 until 2025-03-09 07:00Z, then -04:00
        make_click(
            "mine",
            OWNER,
            datetime(2025, 3, 9, 6, 59, 59, 999000),
            ip_address=SECRET_IP,
            user_agent=SECRET_UA,
            utm_source="newsletter",
            ua={"device": "mobile"},
            device="mobile",
        ),
        make_click(
            "mine",
            OWNER,
            datetime(2025, 3, 9, 7, 0, 0, 5000),
            ip_address=SECRET_IP,
            user_agent=SECRET_UA,
            city=HOSTILE,
            referrer=None,
            browser="",
            os=None,
            bot_name="Googlebot",
            device="unknown",  # spoo.me's own literal: a value of its own, not the Unknown label
        ),
        make_click(
            "priv",
            OWNER,
            datetime(2025, 3, 9, 8),
            ip_address=OTHER_IP,
            user_agent=None,
            referrer="",
            country="<script>alert(1)</script>",
            city='"><img onerror=x>',
            device=None,
        ),
        make_click(
            "mine",
            OWNER,
            datetime(2025, 3, 9, 9),
            ip_address=SECRET_IP,
            user_agent=SECRET_UA,
            city="Nul\x00l\x1b Ville\ufffe",
            browser="+SUM(A1)",
            os="@cmd",
            bot_name="",
        ),
        make_click(
            "theirs", OTHER, datetime(2025, 3, 9, 8, 30), ip_address=SECRET_IP, user_agent=SECRET_UA, device="desktop"
        ),
        make_click("mine", OWNER, datetime(2025, 3, 12), ip_address=SECRET_IP),  # after the range
    ]
    # meta.domain: the custom domain a click came through ("" and absent: Unknown)
    for index, domain in ((0, "links.example"), (1, ""), (4, "links.example")):
        clicks[index]["meta"]["domain"] = domain
    db.clicks.insert_many(clicks)
    return {"db": db, "auth": {"Authorization": f"Bearer {key}"}, "other": {"Authorization": f"Bearer {other_key}"}}


def app_for(db, **settings: Any) -> falcon.testing.TestClient:
    settings = {**GENEROUS, "extra_dimensions": {"platform": "ua.device"}, "visitor_id_secret": SECRET, **settings}
    return falcon.testing.TestClient(make_app(ExportSettings(database=db, **settings)))


def get(client, auth, **params: str):
    query = {
        "format": "json",
        "start_date": "2025-03-09",
        "end_date": "2025-03-10",
        "timezone": "America/New_York",
        **params,
    }
    return client.simulate_get(CLICKS, params=query, headers=auth)


def expected_rows() -> list[dict[str, str]]:
    """Worked out by hand: the owner's four clicks in the range, oldest first, in New York time."""
    base = {
        "short_code": "mine",
        "browser": "Chrome",
        "os": "Windows",
        "country": "United States",
        "city": "New York",
        "referrer": "https://google.com",
        "utm_source": "Unknown",
        "utm_medium": "Unknown",
        "utm_campaign": "Unknown",
        "utm_term": "Unknown",
        "utm_content": "Unknown",
        "device": "Unknown",
        "domain": "Unknown",
        "platform": "Unknown",
        "bot_name": "",
    }
    me = pseudonym(SECRET_IP, SECRET_UA)
    return [
        {
            "time": "2025-03-09T01:59:59.999-05:00",
            **base,
            "utm_source": "newsletter",
            "device": "mobile",
            "domain": "links.example",
            "platform": "mobile",
            "visitor": me,
        },
        {
            "time": "2025-03-09T03:00:00.005-04:00",
            **base,
            "browser": "Unknown",
            "os": "Unknown",
            "city": HOSTILE,
            "referrer": "Direct",
            "bot_name": "Googlebot",
            "device": "unknown",
            "visitor": me,
        },
        {
            "time": "2025-03-09T04:00:00.000-04:00",
            **base,
            "short_code": "priv",
            "referrer": "Direct",
            "country": "<script>alert(1)</script>",
            "city": '"><img onerror=x>',
            "visitor": pseudonym(OTHER_IP, ""),
        },
        {
            "time": "2025-03-09T05:00:00.000-04:00",
            **base,
            "city": "Nul\x00l\x1b Ville\ufffe",
            "browser": "+SUM(A1)",
            "os": "@cmd",
            "visitor": me,
        },
    ]


def xml_chars(text: str) -> str:
    """XML 1.0's Char production, written out independently of the product."""
    return "".join(
        ch
        for ch in text
        if ch in "\t\n\r" or 0x20 <= ord(ch) <= 0xD7FF or 0xE000 <= ord(ch) <= 0xFFFD or ord(ch) >= 0x10000
    )


def csv_cell(text: str) -> str:
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# ------------------------------------------------------------------------------------ every format


def test_json_rows_header_and_file(data):
    resp = get(app_for(data["db"]), data["auth"])
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/json"
    assert resp.headers["content-disposition"] == 'attachment; filename="spoo-export_clicks_all_20250309_20250310.json"'
    assert resp.headers["cache-control"] == "private, no-store"
    body = resp.json
    assert list(body) == [
        "scope",
        "short_code",
        "timezone",
        "start_date",
        "end_date",
        "filters",
        "exclude",
        "exclude_bots",
        "generated_at",
        "summary",
        "clicks",
    ]
    assert body["scope"] == "all" and body["short_code"] is None and body["timezone"] == "America/New_York"
    assert body["start_date"] == "2025-03-09T00:00:00-05:00"
    assert body["end_date"] == "2025-03-10T23:59:59.999000-04:00"
    assert body["summary"] == {"total_clicks": 4, "truncated": False}
    assert body["clicks"] == expected_rows()
    assert all(list(row) == COLUMNS for row in body["clicks"])


def test_csv_zip_holds_summary_and_neutralised_clicks(data):
    resp = get(app_for(data["db"]), data["auth"], format="csv")
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/zip"
    assert resp.headers["content-disposition"].endswith('filename="spoo-export_clicks_all_20250309_20250310.zip"')
    archive = zipfile.ZipFile(io.BytesIO(resp.content))
    assert archive.namelist() == ["summary.csv", "clicks.csv"] and archive.testzip() is None
    summary = dict(csv.reader(io.StringIO(archive.read("summary.csv").decode("utf-8"))))
    assert summary["total_clicks"] == "4" and summary["truncated"] == "false" and summary["scope"] == "all"
    assert summary["timezone"] == "America/New_York" and summary["exclude_bots"] == "false"
    rows = list(csv.reader(io.StringIO(archive.read("clicks.csv").decode("utf-8"), newline="")))
    assert rows[0] == COLUMNS
    assert rows[1:] == [[csv_cell(row[c]) for c in COLUMNS] for row in expected_rows()]
    assert rows[2][5] == "'" + HOSTILE and rows[4][2] == "'+SUM(A1)" and rows[4][3] == "'@cmd"


def test_xml_document_holds_every_click(data):
    resp = get(app_for(data["db"]), data["auth"], format="xml")
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/xml"
    root = ElementTree.fromstring(resp.content)  # well-formed despite NUL, ESC and U+FFFE in a city
    assert root.tag == "report" and root.findtext("scope") == "all"
    assert root.find("summary").findtext("total_clicks") == "4"
    assert root.find("summary").findtext("truncated") == "false"
    clicks = root.find("clicks")
    got = [{cell.tag: cell.text or "" for cell in click} for click in clicks]
    assert all(click.tag == "click" for click in clicks)
    assert got == [{c: xml_chars(row[c]) for c in COLUMNS} for row in expected_rows()]
    assert b"<script>" not in resp.content and b"<img" not in resp.content


def test_xlsx_summary_and_clicks_sheets_hold_text(data):
    resp = get(app_for(data["db"]), data["auth"], format="xlsx")
    assert resp.status_code == 200 and resp.headers["content-type"] == MEDIA_TYPES["xlsx"]
    book = openpyxl.load_workbook(io.BytesIO(resp.content))
    assert book.sheetnames == ["Summary", "Clicks"]
    summary = {r[0]: r[1] for r in book["Summary"].iter_rows(min_row=2, values_only=True)}
    assert summary["total_clicks"] == 4 and summary["truncated"] is False
    sheet = book["Clicks"]
    assert sheet.freeze_panes == "A2" and sheet["A1"].font.bold
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == COLUMNS
    assert [list(r) for r in rows[1:]] == [[xml_chars(row[c]) or None for c in COLUMNS] for row in expected_rows()]
    cells = [cell for row in sheet.iter_rows(min_row=2) for cell in row]
    assert all(cell.data_type == "s" for cell in cells if cell.value is not None)  # no formula, no number
    # and in the sheet's XML itself: no <f> (formula) element anywhere
    with zipfile.ZipFile(io.BytesIO(resp.content)) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/"):
                assert b"<f>" not in archive.read(name) and b"<f " not in archive.read(name)


def test_xlsx_continues_on_clicks_2_past_one_sheet(data, monkeypatch):
    from spoo_export_plugin.formats import _xlsx

    monkeypatch.setattr(_xlsx, "CLICKS_PER_SHEET", 3)  # Excel's 1,048,575 rows, scaled down
    resp = get(app_for(data["db"]), data["auth"], format="xlsx")
    book = openpyxl.load_workbook(io.BytesIO(resp.content))
    assert book.sheetnames == ["Summary", "Clicks", "Clicks (2)"]
    times = [r[0] for name in ("Clicks", "Clicks (2)") for r in book[name].iter_rows(min_row=2, values_only=True)]
    assert times == [row["time"] for row in expected_rows()]
    assert [c.value for c in book["Clicks (2)"][1]] == COLUMNS
    monkeypatch.setattr(_xlsx, "CLICKS_PER_SHEET", 4)  # exactly full: no empty continuation sheet
    book = openpyxl.load_workbook(io.BytesIO(get(app_for(data["db"]), data["auth"], format="xlsx").content))
    assert book.sheetnames == ["Summary", "Clicks"]


@pytest.mark.parametrize("fmt", sorted(MEDIA_TYPES))
def test_no_ip_address_or_user_agent_in_any_byte(data, fmt, caplog):
    caplog.set_level(logging.DEBUG)
    for settings in ({}, {"visitor_id_secret": None}):
        resp = get(app_for(data["db"], **settings), data["auth"], format=fmt)
        assert resp.status_code == 200
        blobs = [resp.content]
        if fmt in ("csv", "xlsx"):  # inside the zip, decompressed
            with zipfile.ZipFile(io.BytesIO(resp.content)) as archive:
                blobs += [archive.read(name) for name in archive.namelist()]
        blobs.append("\n".join(r.getMessage() for r in caplog.records).encode())
        blobs.append(str(dict(resp.headers)).encode())
        for blob in blobs:
            for secret in (SECRET_IP, SECRET_UA, OTHER_IP, "hunter2", "198.51.100", "dead:beef"):
                assert secret.encode() not in blob, (fmt, secret)
                assert secret.encode("utf-16-le") not in blob, (fmt, secret)


def test_the_visitor_column_is_a_keyed_pseudonym(data):
    """Within an export: the same visitor, the same id; another visitor, another. Across exports: the same
    only with visitor_id_secret, and then recomputable by whoever knows the secret."""

    def visitors(**settings: Any) -> list[str]:
        return [row["visitor"] for row in get(app_for(data["db"], **settings), data["auth"]).json["clicks"]]

    one, two = visitors(visitor_id_secret=None), visitors(visitor_id_secret=None)
    assert one[0] == one[1] == one[3] != one[2] and two[0] == two[1] == two[3] != two[2]
    assert set(one).isdisjoint(two)  # a random key per export
    assert all(re.fullmatch(r"[0-9a-f]{16}", v) for v in one + two)
    assert pseudonym(SECRET_IP, SECRET_UA) not in one
    stable = visitors()
    assert stable == visitors() == [row["visitor"] for row in expected_rows()]
    assert visitors(visitor_id_secret="another-secret-entirely-0123456789abcdef") != stable


# ------------------------------------------------------------------------------------ parameters


@pytest.mark.parametrize("name", ["group_by", "metrics", "granularity"])
@pytest.mark.parametrize("value", ["time", ""])
def test_grouping_parameters_are_a_400_naming_them(data, name, value):
    resp = get(app_for(data["db"]), data["auth"], **{name: value})
    assert resp.status_code == 400 and resp.json["param"] == name


@pytest.mark.parametrize(
    "params, param",
    [
        ({"format": "pdf"}, "format"),
        ({"format": ""}, "format"),
        ({"timezone": "Mars/Base"}, "timezone"),
        ({"start_date": "2025-03-11", "end_date": "2025-03-10"}, "start_date"),
        ({"filters": "{"}, "filters"),
        ({"exclude": '{"nope": ["x"]}'}, "exclude"),
        ({"exclude_bots": "maybe"}, "exclude_bots"),
        ({"url_id": "zz"}, "url_id"),
        ({"scope": "anon"}, "short_code"),
        ({"scope": "everything"}, "scope"),
    ],
)
def test_the_main_routes_validation_applies(data, params, param):
    resp = get(app_for(data["db"]), data["auth"], **params)
    assert resp.status_code == 400 and resp.json["param"] == param, resp.text


def test_a_format_without_raw_clicks_is_a_400_naming_format(data, monkeypatch):
    """A format registered without render_clicks (e.g. an html report) serves statistics, not raw clicks."""
    json_format = FORMATS["json"]
    monkeypatch.setitem(FORMATS, "statsonly", dataclasses.replace(json_format, name="statsonly", render_clicks=None))
    assert "statsonly" not in click_formats() and set(click_formats()) == {"csv", "json", "xlsx", "xml"}
    client = app_for(data["db"])
    resp = get(client, data["auth"], format="statsonly")
    assert resp.status_code == 400 and resp.json["param"] == "format"
    assert "statsonly" not in resp.json["error"].split("expected")[1]
    stats = client.simulate_get(ROUTE, params={"format": "statsonly", "scope": "all"}, headers=data["auth"])
    assert stats.status_code == 200  # the statistics route still serves it


@pytest.mark.parametrize(
    "params, expected_cities",
    [
        ({"short_code": "priv"}, ['"><img onerror=x>']),  # scope=all: a filter
        ({"scope": "anon", "short_code": "priv"}, ['"><img onerror=x>']),  # the owner's private URL
        ({"exclude_bots": "true"}, ["New York", '"><img onerror=x>', "Nul\x00l\x1b Ville\ufffe"]),
        ({"referrer": "Direct"}, [HOSTILE, '"><img onerror=x>']),
        ({"browser": "Unknown"}, [HOSTILE]),
        ({"filters": json.dumps({"platform": ["mobile"]})}, ["New York"]),
        (
            {"platform": "Unknown", "exclude": json.dumps({"short_code": ["priv"]})},
            [HOSTILE, "Nul\x00l\x1b Ville\ufffe"],
        ),
        # device: spoo.me's literal "unknown" is a value of its own; absent, null or "" is the Unknown label
        ({"device": "unknown"}, [HOSTILE]),
        ({"device": "Unknown"}, ['"><img onerror=x>', "Nul\x00l\x1b Ville\ufffe"]),
        ({"device": "mobile,unknown", "exclude": json.dumps({"device": ["unknown"]})}, ["New York"]),
        # domain: with scope=all the dimension's comma parameter; absent, null or "" is Unknown
        ({"domain": "links.example"}, ["New York"]),
        ({"domain": "Unknown"}, [HOSTILE, '"><img onerror=x>', "Nul\x00l\x1b Ville\ufffe"]),
        ({"exclude": json.dumps({"domain": ["Unknown"]})}, ["New York"]),
        # with scope=anon, domain picks the URL (mine, on the main domain) and filters no click; the domain
        # dimension is filtered there through filters / exclude
        ({"scope": "anon", "short_code": "mine", "domain": ""}, ["New York", HOSTILE, "Nul\x00l\x1b Ville\ufffe"]),
        (
            {"scope": "anon", "short_code": "mine", "domain": "", "filters": json.dumps({"domain": ["Unknown"]})},
            [HOSTILE, "Nul\x00l\x1b Ville\ufffe"],
        ),
        (
            {"scope": "anon", "short_code": "mine", "exclude": json.dumps({"domain": ["links.example"]})},
            [HOSTILE, "Nul\x00l\x1b Ville\ufffe"],
        ),
        ({"utm_source": "newsletter"}, ["New York"]),
        (
            {"start_date": "2025-03-09T03:00:00-04:00", "end_date": "2025-03-09T04:00:00-04:00"},
            [HOSTILE, '"><img onerror=x>'],
        ),
    ],
)
def test_clicks_are_chosen_like_the_statistics(data, params, expected_cities):
    client = app_for(data["db"])
    body = get(client, data["auth"], **params).json
    assert [row["city"] for row in body["clicks"]] == expected_cities
    assert body["summary"]["total_clicks"] == len(expected_cities)
    stats = client.simulate_get(
        ROUTE,
        params={
            "format": "json",
            "start_date": "2025-03-09",
            "end_date": "2025-03-10",
            "timezone": "America/New_York",
            "scope": "all",
            **params,
        },
        headers=data["auth"],
    ).json
    assert stats["summary"]["total_clicks"] == len(expected_cities)  # the same clicks as the statistics count


# ------------------------------------------------------------------------------------ access


@pytest.mark.parametrize(
    "params, who, status, param",
    [
        ({}, None, 401, "Authorization"),
        ({"scope": "anon", "short_code": "mine"}, None, 401, "Authorization"),  # public statistics, still 401
        ({"scope": "anon", "short_code": "legacy"}, None, 401, "Authorization"),
        ({"scope": "anon", "short_code": "nowhere"}, None, 401, "Authorization"),
        ({"format": "nope"}, None, 401, "Authorization"),  # credentials come first
        ({"scope": "anon", "short_code": "theirs"}, "auth", 403, "short_code"),  # another owner's, public
        ({"scope": "anon", "short_code": "mine"}, "other", 403, "short_code"),
        ({"scope": "anon", "short_code": "priv"}, "other", 403, "short_code"),
        ({"scope": "anon", "short_code": "legacy"}, "auth", 403, "short_code"),  # nobody's: not the caller's
        ({"scope": "anon", "short_code": "nowhere"}, "auth", 404, "short_code"),
        ({"scope": "anon", "short_code": "mine"}, "auth", 200, None),
        ({"scope": "anon", "short_code": "priv"}, "auth", 200, None),
        ({}, "other", 200, None),
    ],
)
def test_access_matrix(data, params, who, status, param):
    resp = get(app_for(data["db"]), data.get(who) if who else None, **params)
    assert resp.status_code == status, resp.text
    if status == 401:
        assert resp.headers["www-authenticate"] == "Bearer"
    if status >= 400:
        assert resp.json["param"] == param
    if who == "other" and status == 200:
        assert [row["short_code"] for row in resp.json["clicks"]] == ["theirs"]


def test_bad_or_unscoped_keys_are_refused(data):
    client = app_for(data["db"])
    resp = get(client, {"Authorization": "Bearer spoo_not-a-key"})
    assert resp.status_code == 401 and resp.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    unscoped = add_api_key(data["db"], OWNER, scopes=("urls:write",))
    assert get(client, {"Authorization": f"Bearer {unscoped}"}).status_code == 403
    revoked = add_api_key(data["db"], OWNER, revoked=True)
    assert get(client, {"Authorization": f"Bearer {revoked}"}).status_code == 401


def test_head_answers_like_get_without_running_a_query(data, monkeypatch):
    client = app_for(data["db"])
    got = get(client, data["auth"], format="csv")
    from spoo_export_plugin.core.engine.store import Store

    def no_query(self, pipeline):
        raise AssertionError("HEAD ran a query")

    monkeypatch.setattr(Store, "aggregate", no_query)
    head = client.simulate_head(
        CLICKS,
        params={"format": "csv", "start_date": "2025-03-09", "end_date": "2025-03-10", "timezone": "America/New_York"},
        headers=data["auth"],
    )
    assert head.status_code == 200 and head.content == b""
    for name in ("content-type", "content-disposition", "cache-control", "x-content-type-options"):
        assert head.headers[name] == got.headers[name]
    for params, status in (({"format": "csv", "group_by": "time"}, 400), ({"format": "csv"}, 401)):
        head = client.simulate_head(CLICKS, params=params, headers=data["auth"] if status != 401 else None)
        assert head.status_code == status and head.content == b""


def test_rate_limit_is_shared_with_the_other_routes(data):
    client = app_for(data["db"], authenticated_limits="3/minute")
    assert get(client, data["auth"]).status_code == 200
    assert client.simulate_get(ROUTE, params={"format": "json"}, headers=data["auth"]).status_code == 200
    third = get(client, data["auth"])
    assert third.status_code == 200 and third.headers["x-ratelimit-remaining"] == "0"
    refused = get(client, data["auth"])
    assert refused.status_code == 429 and "retry-after" in refused.headers
    anonymous = falcon.testing.TestClient(make_app(ExportSettings(database=data["db"], anonymous_limits="1/minute")))
    assert get(anonymous, None).status_code == 401 and get(anonymous, None).status_code == 429  # counted by IP


def _open(app, params: dict, headers: dict):
    """Start a request and keep its body unread (the export holds its slot until the body closes)."""
    response = open_response(app, CLICKS, urlencode(params), headers)
    return response.status, response


def test_the_export_cap_counts_raw_click_exports(data):
    app = make_app(ExportSettings(database=data["db"], max_concurrent_exports=1, retry_after_seconds=9, **GENEROUS))
    params = {"format": "csv", "start_date": "2025-03-09", "end_date": "2025-03-10"}
    status, running = _open(app, params, data["auth"])
    assert status == 200
    assert _open(app, params, data["auth"])[0] == 503
    statistics = open_response(app, ROUTE, "format=json&scope=all", data["auth"])
    assert statistics.status == 503  # the statistics wait for the same slot
    statistics.close()
    assert _open(app, {**params, "group_by": "time"}, data["auth"])[0] == 400  # bad input never waits
    b"".join(running)
    running.close()
    status, body = _open(app, params, data["auth"])
    assert status == 200
    assert zipfile.ZipFile(io.BytesIO(b"".join(body))).namelist() == ["summary.csv", "clicks.csv"]
    body.close()


@pytest.mark.parametrize("fmt", sorted(MEDIA_TYPES))
def test_raw_row_cap_cuts_and_the_summary_says_so(data, fmt):
    resp = get(app_for(data["db"], raw_row_cap=2), data["auth"], format=fmt)
    assert resp.status_code == 200
    if fmt == "json":
        body = resp.json
        assert body["summary"] == {"total_clicks": 4, "truncated": True}
        assert body["clicks"] == expected_rows()[:2]
    elif fmt == "xml":
        root = ElementTree.fromstring(resp.content)
        assert root.find("summary").findtext("truncated") == "true" and len(root.find("clicks")) == 2
    elif fmt == "csv":
        archive = zipfile.ZipFile(io.BytesIO(resp.content))
        summary = dict(csv.reader(io.StringIO(archive.read("summary.csv").decode())))
        assert summary["truncated"] == "true" and summary["total_clicks"] == "4"
        assert len(list(csv.reader(io.StringIO(archive.read("clicks.csv").decode())))) == 3
    else:
        book = openpyxl.load_workbook(io.BytesIO(resp.content))
        summary = {r[0]: r[1] for r in book["Summary"].iter_rows(min_row=2, values_only=True)}
        assert summary["truncated"] is True and book["Clicks"].max_row == 3


def test_no_clicks_is_an_empty_file_not_an_error(data):
    body = get(app_for(data["db"]), data["auth"], start_date="2024-01-01", end_date="2024-01-02").json
    assert body["clicks"] == [] and body["summary"] == {"total_clicks": 0, "truncated": False}


def test_a_non_ascii_short_code_gets_an_rfc_6266_name(data):
    add_url(data["db"], "🦄", OWNER)
    resp = get(app_for(data["db"]), data["auth"], scope="anon", short_code="🦄")
    assert resp.status_code == 200
    assert resp.headers["content-disposition"] == (
        'attachment; filename="spoo-export_clicks_20250309_20250310.json"; '
        "filename*=UTF-8''spoo-export_clicks_%F0%9F%A6%84_20250309_20250310.json"
    )


# ------------------------------------------------------------------------------------ mounting, docs, logs


def test_through_the_middleware_and_the_host_untouched(data):
    def host(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"host:" + environ["PATH_INFO"].encode()]

    settings = ExportSettings(database=data["db"], **GENEROUS)
    client = falcon.testing.TestClient(ExportMiddleware(host, settings))
    resp = client.simulate_get(CLICKS, params={"format": "json"}, headers=data["auth"])
    assert resp.status_code == 200 and resp.json["summary"]["total_clicks"] == 5
    assert client.simulate_get(CLICKS, params={"format": "json"}).status_code == 401
    for path in (CLICKS + "/x", CLICKS + "x", "/clicks"):
        assert client.simulate_get(path).text == "host:" + path


def test_openapi_describes_the_route_with_its_own_parameters_and_formats():
    document = load_document()
    operation = document["paths"][CLICKS]["get"]
    main = document["paths"][ROUTE]["get"]
    names = [p["name"] for p in operation["parameters"]]
    refused = ("group_by", "metrics", "granularity", "compare")
    assert names == [p["name"] for p in main["parameters"] if p["name"] not in refused]
    assert operation["security"] == [{"apiKey": []}]  # no anonymous access
    assert "head" in document["paths"][CLICKS]
    schema = next(p for p in operation["parameters"] if p["name"] == "format")["schema"]
    assert schema["type"] == "string" and sorted(schema["enum"]) == sorted(click_formats())  # a drop-down, no html
    assert set(operation["responses"]["200"]["content"]) == {f.media_type for f in click_formats().values()}
    assert set(operation["responses"]) == set(main["responses"])
    served = load_document(extra_dimensions=("platform",))["paths"][CLICKS]["get"]
    assert [p["name"] for p in served["parameters"]][-1] == "platform"


def test_json_body_matches_the_documented_schema(data):
    jsonschema = pytest.importorskip("jsonschema")
    document = load_document()
    schemas = document["components"]["schemas"]
    schema = json.loads(
        json.dumps(schemas["ClickExport"]).replace(
            '{"$ref": "#/components/schemas/Click"}', json.dumps(schemas["Click"])
        )
    )
    body = get(app_for(data["db"]), data["auth"]).json
    jsonschema.validate(body, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**body, "clicks": [{**body["clicks"][0], "visitor": "not-hex"}]}, schema)


def test_the_log_line_counts_rows_and_holds_no_click_content(data, caplog):
    caplog.set_level(logging.INFO, logger="spoo_export_plugin.export")
    resp = get(app_for(data["db"]), data["auth"], format="csv")
    assert resp.status_code == 200
    records = [json.loads(r.getMessage()) for r in caplog.records if r.name == "spoo_export_plugin.export"]
    assert len(records) == 1
    record = records[0]
    assert record["route"] == "clicks" and record["rows"] == 4 and record["format"] == "csv"
    assert record["outcome"] == "ok" and record["bytes"] == len(resp.content)
    text = caplog.text
    assert SECRET_IP not in text and SECRET_UA not in text and "New York" not in text
