"""Issue 19, items 6 and 7, through the real app (mongomock, both executors).

``device`` (click field ``device``) and ``domain`` (``meta.domain``) are built-in dimensions: group_by,
``time,<dim>`` series, filters, exclude, their own comma parameters, every format. spoo.me's literal device
``unknown`` is a value of its own; absent, null or empty is ``Unknown``. The ``domain`` query parameter
picks the URL with ``scope=anon`` (and filters no click there) and is the dimension's comma parameter
otherwise. A ``url_id`` or ``short_code`` inside ``filters``/``exclude`` with ``scope=anon`` is a 400 naming
the parameter the caller sent. Expected values are worked out by hand below.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import datetime
from typing import Any
from xml.etree import ElementTree

import falcon.testing
import openpyxl
import pytest
from bson import ObjectId

from spoo_export_plugin import ClickFields, ExportSettings, create_app
from spoo_export_plugin.core.exceptions import ConfigurationError
from spoo_export_plugin.web.openapi import load_document

from ..factories import ROUTE, add_api_key, add_url, make_click
from ..formats.test_html import caption_for, parse, tables

OWNER = ObjectId("650000000000000000000d0d")
OTHER = ObjectId("650000000000000000000e0e")
GENEROUS = {"authenticated_limits": "10000/minute", "anonymous_limits": "10000/minute"}
DAYS = {"start_date": "2025-03-09", "end_date": "2025-03-10", "granularity": "day"}
ABSENT = object()
#: (day, hour, ip, device, meta.domain) of the owner's clicks on ``mine``.
CLICKS = (
    (9, 10, "1", "mobile", "links.example"),
    (9, 11, "2", "mobile", "links.example"),
    (9, 12, "3", "unknown", ABSENT),  # spoo.me's own "unknown": a value of its own
    (10, 9, "3", None, ""),
    (10, 10, "4", ABSENT, "go.example"),
    (10, 11, "1", "tablet", None),
)


def row(label_name: str, label: str, clicks: int, uniques: int, **time: str) -> dict[str, Any]:
    return {**time, label_name: label, "clicks": clicks, "unique_clicks": uniques}


#: The report of group_by=time,device,domain over CLICKS, by hand (clicks desc, then label in byte order).
EXPECTED = {
    "time": [
        {"time": "2025-03-09", "clicks": 3, "unique_clicks": 3},
        {"time": "2025-03-10", "clicks": 3, "unique_clicks": 3},
    ],
    "device": [
        row("device", "Unknown", 2, 2),  # null and absent
        row("device", "mobile", 2, 2),
        row("device", "tablet", 1, 1),
        row("device", "unknown", 1, 1),
    ],
    "domain": [
        row("domain", "Unknown", 3, 2),  # absent, "" and null; ips 3, 3, 1
        row("domain", "links.example", 2, 2),
        row("domain", "go.example", 1, 1),
    ],
    "time,device": [
        row("device", "mobile", 2, 2, time="2025-03-09"),
        row("device", "unknown", 1, 1, time="2025-03-09"),
        row("device", "Unknown", 2, 2, time="2025-03-10"),
        row("device", "tablet", 1, 1, time="2025-03-10"),
    ],
    "time,domain": [
        row("domain", "links.example", 2, 2, time="2025-03-09"),
        row("domain", "Unknown", 1, 1, time="2025-03-09"),
        row("domain", "Unknown", 2, 2, time="2025-03-10"),
        row("domain", "go.example", 1, 1, time="2025-03-10"),
    ],
}


def seed(db: Any) -> dict[str, Any]:
    mine = add_url(db, "mine", OWNER, created_at=datetime(2025, 3, 1))
    clicks = []
    for day, hour, ip, device, domain in CLICKS:
        doc = make_click("mine", OWNER, datetime(2025, 3, day, hour), ip_address=ip)
        if device is not ABSENT:
            doc["device"] = device
        if domain is not ABSENT:
            doc["meta"]["domain"] = domain
        clicks.append(doc)
    # Another owner's click through the same domain and device: never counted.
    other = make_click("theirs", OTHER, datetime(2025, 3, 9, 10), device="mobile")
    other["meta"]["domain"] = "links.example"
    db.clicks.insert_many([*clicks, other])
    return {"mine": mine, "key": add_api_key(db, OWNER)}


@pytest.fixture
def env(db: Any, aggregation: str) -> dict[str, Any]:
    seeded = seed(db)
    client = falcon.testing.TestClient(create_app(ExportSettings(database=db, aggregation=aggregation, **GENEROUS)))
    auth = {"Authorization": f"Bearer {seeded['key']}"}

    def get(path: str = ROUTE, *, headers: dict[str, str] | None = auth, **params: str) -> falcon.testing.Result:
        query = {"format": "json", "scope": "all", **DAYS, **params}
        if path == ROUTE + "/clicks":
            query.pop("granularity")  # nothing is grouped there
        elif path != ROUTE:
            query.pop("scope")  # the per-link route takes no scope
        return client.simulate_get(path, params=query, headers=headers)

    return {"get": get, "client": client, "auth": auth, **seeded}


def total(resp: falcon.testing.Result) -> int:
    assert resp.status_code == 200, resp.text
    return resp.json["summary"]["total_clicks"]


# ----------------------------------------------------------------------------------------- formats


def test_json_groups_by_device_and_domain_with_their_time_series(env):
    resp = env["get"](group_by="time,device,domain")
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/json"
    body = resp.json
    assert body["group_by"] == ["time", "device", "domain"]
    assert body["breakdowns"] == EXPECTED
    assert all(
        list(r) == list(e) for name in EXPECTED for r, e in zip(body["breakdowns"][name], EXPECTED[name], strict=True)
    )
    assert body["summary"]["total_clicks"] == 6 and body["summary"]["unique_clicks"] == 4


def test_xml_holds_the_same_rows(env):
    resp = env["get"](format="xml", group_by="time,device,domain")
    assert resp.headers["content-type"] == "application/xml"
    root = ElementTree.fromstring(resp.content)
    found = {b.get("name"): [{cell.tag: cell.text for cell in r} for r in b] for b in root.find("breakdowns")}
    assert found == {name: [{k: str(v) for k, v in r.items()} for r in rows] for name, rows in EXPECTED.items()}


def test_csv_zip_holds_one_file_per_breakdown(env):
    resp = env["get"](format="csv", group_by="time,device,domain")
    assert resp.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(resp.content))
    files = {"by_" + name.replace(",", "_and_") + ".csv": rows for name, rows in EXPECTED.items()}
    assert archive.namelist() == ["summary.csv", *files]
    for entry, rows in files.items():
        table = list(csv.reader(io.StringIO(archive.read(entry).decode("utf-8"), newline="")))
        assert table == [list(rows[0]), *[[str(v) for v in r.values()] for r in rows]], entry


def test_xlsx_has_a_sheet_per_breakdown(env):
    resp = env["get"](format="xlsx", group_by="time,device,domain")
    book = openpyxl.load_workbook(io.BytesIO(resp.content))
    assert book.sheetnames == ["Summary", *EXPECTED]
    for name, rows in EXPECTED.items():
        if name == "time":
            continue  # real dates there (the format tests check them); the labels are what is new here
        values = [list(r) for r in book[name].iter_rows(values_only=True)]
        got = [[v.strftime("%Y-%m-%d") if isinstance(v, datetime) else v for v in r] for r in values]
        assert got == [list(rows[0]), *[list(r.values()) for r in rows]], name


def test_html_has_a_table_per_breakdown(env):
    resp = env["get"](format="html", group_by="time,device,domain")
    assert resp.headers["content-type"] == "text/html; charset=utf-8"
    found = tables(parse(resp.content).root)
    assert list(found) == [caption_for(name) for name in EXPECTED]
    for name, rows in EXPECTED.items():
        table = found[caption_for(name)]
        body = [[c.text() for c in tr.children if hasattr(c, "tag")] for tr in table.find("tbody").iter("tr")]
        assert body == [[str(v) for v in r.values()] for r in rows], name


def test_raw_clicks_carry_device_and_domain_after_the_utm_columns(env):
    resp = env["get"](ROUTE + "/clicks")
    assert resp.status_code == 200, resp.text
    rows = resp.json["clicks"]
    assert list(rows[0])[7:15] == [
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_term",
        "utm_content",
        "device",
        "domain",
        "bot_name",
    ]
    assert [(r["device"], r["domain"]) for r in rows] == [
        ("mobile", "links.example"),
        ("mobile", "links.example"),
        ("unknown", "Unknown"),
        ("Unknown", "Unknown"),
        ("Unknown", "go.example"),
        ("tablet", "Unknown"),
    ]


# ----------------------------------------------------------------------------------------- filters


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"device": "unknown"}, 1),  # the literal only
        ({"device": "Unknown"}, 2),  # absent and null only
        ({"device": "mobile,tablet"}, 3),
        ({"filters": json.dumps({"device": ["Unknown", "tablet"]})}, 3),
        ({"device": "mobile", "filters": json.dumps({"device": ["tablet"]})}, 3),  # a union
        ({"exclude": json.dumps({"device": ["Unknown"]})}, 4),
        ({"device": "mobile,unknown", "exclude": json.dumps({"device": ["unknown"]})}, 2),  # exclude wins
        ({"domain": "links.example,go.example"}, 3),
        ({"domain": "Unknown"}, 3),
        ({"domain": "LINKS.example"}, 0),  # exact, case-sensitive
        ({"filters": json.dumps({"domain": ["go.example"]}), "device": "Unknown"}, 1),
        ({"exclude": json.dumps({"domain": ["Unknown"], "device": ["mobile"]})}, 1),
    ],
)
def test_device_and_domain_filter_like_every_dimension(env, params, expected):
    resp = env["get"](**params)
    assert total(resp) == expected, params
    listed = {**json.loads(params.get("filters", "{}"))}
    for name in ("device", "domain"):
        if name in params:
            listed[name] = [*listed.get(name, []), *params[name].split(",")]
    assert resp.json["filters"] == listed
    raw = env["get"](ROUTE + "/clicks", **params)
    assert total(raw) == expected and len(raw.json["clicks"]) == expected


def test_with_scope_anon_domain_picks_the_url_and_filters_no_click(env):
    get = env["get"]
    anon = {"scope": "anon", "short_code": "mine"}
    # "mine" is on the main domain: every click of it counts, with or without domain= (empty), whatever
    # meta.domain its clicks carry
    assert total(get(**anon, headers=None)) == total(get(**anon, domain="", headers=None)) == 6
    assert get(**anon, domain="", headers=None).json["filters"] == {}
    # a custom domain "mine" is not on: no such URL (a 404 naming short_code), not zero clicks
    missing = get(**anon, domain="links.example", headers=None)
    assert (missing.status_code, missing.json["param"]) == (404, "short_code")
    # the domain dimension is filtered there through filters / exclude
    assert total(get(**anon, filters=json.dumps({"domain": ["links.example"]}), headers=None)) == 2
    assert total(get(**anon, exclude=json.dumps({"domain": ["Unknown"]}), headers=None)) == 3
    assert total(get(ROUTE + "/clicks", **anon, filters=json.dumps({"domain": ["Unknown"]}))) == 3


def test_with_scope_anon_a_urls_older_clicks_without_meta_domain_still_count(env, db):
    """A URL on a custom domain picked by domain=: its clicks from before mid-2026 carry no meta.domain and
    are counted all the same (were domain a click filter there, they would be dropped)."""
    shop = add_url(db, "shop", OWNER, created_at=datetime(2025, 3, 1), domain="links.example")
    old = make_click("shop", OWNER, datetime(2025, 3, 9, 10), url_id=shop)
    new = make_click("shop", OWNER, datetime(2025, 3, 10, 10), url_id=shop, device="desktop")
    new["meta"]["domain"] = "links.example"
    db.clicks.insert_many([old, new])
    anon = {"scope": "anon", "short_code": "shop", "domain": "links.example", "group_by": "domain"}
    for path in (ROUTE, ROUTE + "/clicks"):
        params = anon if path == ROUTE else {k: v for k, v in anon.items() if k != "group_by"}
        resp = env["get"](path, **params, headers=env["auth"])
        assert total(resp) == 2 and resp.json["filters"] == {}, path
    resp = env["get"](**anon, headers=None)
    assert resp.json["breakdowns"]["domain"] == [row("domain", "Unknown", 1, 1), row("domain", "links.example", 1, 1)]


def test_on_the_link_route_domain_is_the_dimensions_parameter(env):
    link = f"{ROUTE}/links/{env['mine']}"
    assert total(env["get"](link)) == 6
    resp = env["get"](link, domain="links.example", group_by="domain")
    assert total(resp) == 2 and resp.json["breakdowns"]["domain"] == [row("domain", "links.example", 2, 2)]
    assert total(env["get"](link, device="unknown", exclude=json.dumps({"domain": ["go.example"]}))) == 1


def test_group_by_device_with_scope_anon(env):
    resp = env["get"](scope="anon", short_code="mine", group_by="device", headers=None)
    assert resp.status_code == 200 and resp.json["breakdowns"]["device"] == EXPECTED["device"]


# ----------------------------------------------------------------------------------------- item 7


@pytest.mark.parametrize("route", [ROUTE, ROUTE + "/clicks"])
@pytest.mark.parametrize(
    "params, param",
    [
        ({"filters": json.dumps({"url_id": ["650000000000000000000abc"]})}, "filters"),
        ({"exclude": json.dumps({"url_id": ["650000000000000000000abc"]})}, "exclude"),
        ({"url_id": "650000000000000000000abc"}, "url_id"),
        # sent both ways: the filters object holds it, so that is named
        (
            {"url_id": "650000000000000000000abc", "filters": json.dumps({"url_id": ["650000000000000000000abc"]})},
            "filters",
        ),
        ({"filters": json.dumps({"url_id": ["not-an-id"]})}, "filters"),  # the scope rule comes first
        ({"filters": json.dumps({"short_code": ["mine"]})}, "filters"),
        ({"exclude": json.dumps({"short_code": ["other"]})}, "exclude"),
    ],
)
def test_url_id_and_short_code_selections_with_scope_anon_name_the_parameter_sent(env, route, params, param):
    resp = env["get"](route, scope="anon", short_code="mine", **params)
    assert resp.status_code == 400, resp.text
    assert resp.json["param"] == param
    assert "only available with scope=all" in resp.json["error"]


def test_url_id_selections_still_work_with_scope_all(env):
    mine = str(env["mine"])
    assert total(env["get"](filters=json.dumps({"url_id": [mine]}))) == 6
    assert total(env["get"](exclude=json.dumps({"url_id": [mine]}))) == 0
    bad = env["get"](filters=json.dumps({"url_id": ["not-an-id"]}))
    assert (bad.status_code, bad.json["param"]) == (400, "url_id")  # SPEC: anything but 24 hex names url_id


# ----------------------------------------------------------------------------------------- settings, OpenAPI


@pytest.mark.parametrize("name", ["device", "domain"])
def test_a_declared_device_or_domain_fails_at_start_up_saying_it_is_built_in(db, name):
    for build in (
        lambda: ExportSettings(database=db, extra_dimensions={name: "ua.kind"}),
        lambda: ExportSettings.from_env({"SPOO_EXPORT_EXTRA_DIMENSIONS": f"lang=language,{name}=ua.kind"}, database=db),
    ):
        with pytest.raises(ConfigurationError, match=f"'{name}' is a built-in dimension now") as caught:
            build()
        assert "ClickFields" in str(caught.value)


def test_device_and_domain_fields_are_configurable(db):
    """Configured like the other field paths (ClickFields); the labels follow the configured paths."""
    add_url(db, "mine", OWNER, created_at=datetime(2025, 3, 1))
    doc = make_click("mine", OWNER, datetime(2025, 3, 9, 10), device="ignored", ua={"kind": "tablet"})
    doc["meta"]["domain"] = "ignored.example"
    doc["host"] = "cfg.example"
    db.clicks.insert_one(doc)
    key = add_api_key(db, OWNER)
    fields = ClickFields(device="ua.kind", domain="host")
    client = falcon.testing.TestClient(create_app(ExportSettings(database=db, fields=fields, **GENEROUS)))
    resp = client.simulate_get(
        ROUTE,
        params={"format": "json", "group_by": "device,domain", "domain": "cfg.example", **DAYS},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert resp.json["breakdowns"]["device"] == [row("device", "tablet", 1, 1)]
    assert resp.json["breakdowns"]["domain"] == [row("domain", "cfg.example", 1, 1)]
    with pytest.raises(ConfigurationError, match="dimension 'device' reads"):
        ExportSettings(database=db, fields=ClickFields(device="ip_address"))


def test_the_openapi_document_lists_device_and_domain_on_every_route():
    document = load_document()
    for path, item in document["paths"].items():
        if "get" not in item or path.endswith("openapi.json"):
            continue
        parameters = {p["name"]: p for p in item["get"]["parameters"] if p["in"] == "query"}
        assert {"device", "domain"} <= set(parameters), path
        assert "`filters` with key `domain`" in parameters["domain"]["description"]
    for name in ("Row", "Click"):
        assert {"device", "domain"} <= set(document["components"]["schemas"][name]["properties"])
    click = document["components"]["schemas"]["Click"]["required"]
    assert click[click.index("utm_content") + 1 : click.index("bot_name")] == ["device", "domain"]
