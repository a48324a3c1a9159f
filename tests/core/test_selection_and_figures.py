"""UTM and declared dimensions, exclusions, url_id, whole-day dates and the extra figures.

Hand-computed examples through the real app (the oracle property tests cover the same rules
over generated clicks).
"""

from __future__ import annotations

import io
import zipfile
from datetime import datetime, timedelta, timezone
from typing import Any

import falcon.testing
import openpyxl
import pytest
from bson import ObjectId

from spoo_export_plugin import ConfigurationError, ExportSettings, create_app
from spoo_export_plugin.core.settings import ClickFields

from ..factories import ROUTE, add_api_key, add_url, make_click

OWNER = ObjectId("650000000000000000000007")
URL_A = ObjectId("660000000000000000000a0a")
URL_B = ObjectId("660000000000000000000b0b")
DAY = {"start_date": "2025-03-09", "end_date": "2025-03-09"}


@pytest.fixture
def env(db: Any) -> dict[str, Any]:
    add_url(db, "a", OWNER)
    add_url(db, "b", OWNER)
    at = datetime(2025, 3, 9, 12)

    def click(code: str, url: ObjectId, minutes: int, **fields: Any) -> dict[str, Any]:
        doc = make_click(code, OWNER, at + timedelta(minutes=minutes), **fields)
        doc["meta"]["url_id"] = url
        return doc

    db.clicks.insert_many(
        [
            click("a", URL_A, 0, utm_source="newsletter", ua={"device": "mobile"}, redirect_ms=10, ip_address="1"),
            click("a", URL_A, 1, utm_source="newsletter", ua={"device": "desktop"}, redirect_ms=20, ip_address="2"),
            click("a", URL_A, 2, utm_source=None, referrer=None, redirect_ms="fast", ip_address="3"),
            click("b", URL_B, 3, utm_source="twitter", ua="a string, not a document", redirect_ms=None, ip_address="3"),
            click("b", URL_B, 60, utm_source="", referrer="", country=None, redirect_ms=True, ip_address="3"),
        ]
    )
    key = add_api_key(db, OWNER)
    client = falcon.testing.TestClient(
        create_app(
            ExportSettings(database=db, extra_dimensions={"platform": "ua.device"}, authenticated_limits="1000/minute")
        )
    )

    def get(**params: Any) -> falcon.testing.Result:
        query = {"format": "json", **DAY, **params}
        return client.simulate_get(ROUTE, params=query, headers={"Authorization": f"Bearer {key}"})

    return {"get": get, "client": client, "key": key}


def rows(body: dict[str, Any], name: str) -> list[tuple[Any, ...]]:
    return [tuple(row.values()) for row in body["breakdowns"][name]]


def test_utm_and_declared_dimensions_group_like_built_in_ones(env):
    body = env["get"](group_by="utm_source,platform").json
    assert rows(body, "utm_source") == [("Unknown", 2, 1), ("newsletter", 2, 2), ("twitter", 1, 1)]
    # a path through a string, an absent sub-document: both Unknown
    assert rows(body, "platform") == [("Unknown", 3, 1), ("desktop", 1, 1), ("mobile", 1, 1)]


def test_declared_and_utm_dimensions_filter_through_json_and_their_own_parameter(env):
    assert env["get"](platform="mobile,desktop").json["summary"]["total_clicks"] == 2
    assert env["get"](filters='{"utm_source": ["Unknown"]}').json["summary"]["total_clicks"] == 2
    assert env["get"](utm_source="twitter", filters='{"platform": ["Unknown"]}').json["summary"]["total_clicks"] == 1


def test_exclusions_win_and_unknown_excludes_missing_values(env):
    get = env["get"]
    body = get(exclude='{"utm_source": ["Unknown"]}').json
    assert body["summary"]["total_clicks"] == 3 and body["exclude"] == {"utm_source": ["Unknown"]}
    # exclusion wins over a filter naming the same value
    assert get(utm_source="newsletter", exclude='{"utm_source": ["newsletter"]}').json["summary"]["total_clicks"] == 0
    # Direct excludes null, "" and absent referrers; the platform path through a string is Unknown too
    assert get(exclude='{"referrer": ["Direct"]}').json["summary"]["total_clicks"] == 3
    assert get(exclude='{"platform": ["Unknown"]}').json["summary"]["total_clicks"] == 2
    assert get(exclude='{"url_id": ["660000000000000000000b0b"]}').json["summary"]["total_clicks"] == 3


def test_the_file_records_filters_exclusions_and_exclude_bots(env):
    params = {"exclude": '{"country": ["Unknown"]}', "browser": "Chrome", "exclude_bots": "true"}
    body = env["get"](**params).json
    assert (body["filters"], body["exclude"], body["exclude_bots"]) == (
        {"browser": ["Chrome"]},
        {"country": ["Unknown"]},
        True,
    )
    summary = zipfile.ZipFile(io.BytesIO(env["get"](format="csv", **params).content)).read("summary.csv").decode()
    assert "exclude,country=Unknown\r\n" in summary and "exclude_bots,true\r\n" in summary
    xml = env["get"](format="xml", **params).text
    assert "<exclude><country><item>Unknown</item></country></exclude><exclude_bots>true</exclude_bots>" in xml


def test_url_id_filter(env):
    get = env["get"]
    assert get(url_id="660000000000000000000A0A").json["summary"]["total_clicks"] == 3
    body = get(filters='{"url_id": ["660000000000000000000b0b"]}', url_id="660000000000000000000a0a").json
    assert body["summary"]["total_clicks"] == 5
    assert body["filters"] == {"url_id": ["660000000000000000000b0b", "660000000000000000000a0a"]}
    for params in ({"url_id": "not-an-id"}, {"filters": '{"url_id": ["123"]}'}, {"exclude": '{"url_id": ["x"]}'}):
        resp = get(**params)
        assert resp.status_code == 400 and resp.json["param"] == "url_id", resp.json
    anon = get(scope="anon", short_code="a", url_id="660000000000000000000a0a")
    assert anon.status_code == 400 and anon.json["param"] == "url_id"


def test_extra_figures(env):
    body = env["get"](group_by="time,utm_source", metrics="clicks,share", granularity="hour").json
    summary = body["summary"]
    # redirect_ms: 10, 20 (numbers); "fast", null, true: not numbers -> (10 + 20) / 2
    assert summary["avg_redirect_ms"] == 15.0
    # 5 clicks from 3 visitors (ip 1, 2, 3 with the same agent)
    assert (summary["total_clicks"], summary["unique_clicks"], summary["unique_rate"]) == (5, 3, 0.6)
    assert ("2025-03-09T12:00:00+00:00", 4, 0.8) in rows(body, "time")
    assert ("2025-03-09T13:00:00+00:00", 1, 0.2) in rows(body, "time")
    assert ("2025-03-09T11:00:00+00:00", 0, 0.0) in rows(body, "time")
    # time,<dim>: of its time bucket's clicks (4 at 12:00, 1 at 13:00)
    assert rows(body, "time,utm_source") == [
        ("2025-03-09T12:00:00+00:00", "newsletter", 2, 0.5),
        ("2025-03-09T12:00:00+00:00", "Unknown", 1, 0.25),
        ("2025-03-09T12:00:00+00:00", "twitter", 1, 0.25),
        ("2025-03-09T13:00:00+00:00", "Unknown", 1, 1.0),
    ]
    assert rows(body, "utm_source") == [("Unknown", 2, 0.4), ("newsletter", 2, 0.4), ("twitter", 1, 0.2)]


def test_figures_without_clicks_are_null(env):
    summary = env["get"](browser="Nobody", metrics="share").json["summary"]
    assert (summary["unique_rate"], summary["avg_redirect_ms"]) == (None, None)


def test_share_is_a_percentage_in_xlsx(env):
    content = env["get"](format="xlsx", group_by="utm_source", metrics="share").content
    sheet = openpyxl.load_workbook(io.BytesIO(content))["utm_source"]
    values = [(row[0].value, row[1].value, row[1].number_format) for row in sheet.iter_rows(min_row=2)]
    assert values == [("Unknown", 0.4, "0.00%"), ("newsletter", 0.4, "0.00%"), ("twitter", 0.2, "0.00%")]


def test_an_end_after_now_is_read_as_now(env):
    body = env["get"](start_date="2025-03-01", end_date="2999-01-01").json
    end = datetime.fromisoformat(body["end_date"])
    assert abs(end - datetime.now(timezone.utc)) < timedelta(minutes=1)
    future = env["get"](start_date="2999-01-01", end_date="2999-01-02")
    assert future.status_code == 400 and future.json["param"] == "start_date"


@pytest.mark.parametrize(
    "declared, message",
    [
        ({"browser": "x"}, "built-in"),
        ({"format": "x"}, "built-in"),
        ({"url_id": "x"}, "built-in"),
        ({"Device": "x"}, "not a dimension name"),
        ({"d" * 33: "x"}, "not a dimension name"),
        ({"platform": "$where"}, "not a field path"),
        ({"platform": "a..b"}, "not a field path"),
        ({"platform": ""}, "not a field path"),
        ("platform", "name=field_path"),
        ({"device": "device_type"}, "'device' is a built-in dimension now"),
        ({"domain": "meta.domain"}, "'domain' is a built-in dimension now"),
        ("lang=language,domain=host", "'domain' is a built-in dimension now"),
    ],
)
def test_declared_dimensions_are_checked_at_start_up(db, declared, message):
    with pytest.raises(ConfigurationError, match=message):
        ExportSettings(database=db, extra_dimensions=declared)


@pytest.mark.parametrize(
    "fields, declared, dimension",
    [
        ({}, {"ip": "ip_address"}, "ip"),
        ({}, {"agent": "user_agent"}, "agent"),
        ({}, {"octets": "ip_address.v4"}, "octets"),  # a part of the IP address
        ({"ip_address": "meta.ip"}, {"origin": "meta"}, "origin"),  # a document holding it
        ({"ip_address": "meta.ip"}, {"where": "meta.ip"}, "where"),  # the configured path, not the default name
        ({"user_agent": "ua.raw"}, {"agent": "ua"}, "agent"),
        ({"user_agent": "headers.ua"}, {"lang": "device", "ua": "headers.ua.string"}, "ua"),
        ({"ip_address": "client"}, {}, "city"),  # a built-in dimension configured onto it
    ],
)
def test_no_dimension_reads_the_ip_address_or_the_user_agent(db, fields, declared, dimension):
    """Raw clicks and breakdowns promise never to show them: a dimension reading them, a part of them or a
    document holding them fails at start-up, naming the dimension."""
    click_fields = ClickFields(**fields, **({"city": "client"} if dimension == "city" else {}))
    for build in (
        lambda: ExportSettings(database=db, fields=click_fields, extra_dimensions=declared),
        lambda: ExportSettings.from_env(
            {"SPOO_EXPORT_EXTRA_DIMENSIONS": ",".join(f"{k}={v}" for k, v in declared.items())},
            database=db,
            fields=click_fields,
        ),
    ):
        with pytest.raises(ConfigurationError, match=f"dimension '{dimension}' reads") as caught:
            build()
        assert "never show IP addresses or user agents" in str(caught.value)


@pytest.mark.parametrize("declared", [{"ip_address": "geo.ip_country"}, {"user_agent": "device_type"}])
def test_a_dimension_may_not_be_named_after_the_ip_address_or_user_agent(db, declared):
    with pytest.raises(ConfigurationError, match="never show"):
        ExportSettings(database=db, extra_dimensions=declared)


def test_dimensions_beside_the_ip_address_and_user_agent_are_fine(db):
    """Sharing a prefix of characters is not sharing a path: ``ip_address_country``, ``meta.ipv`` are other fields."""
    settings = ExportSettings(
        database=db,
        fields=ClickFields(ip_address="meta.ip"),
        extra_dimensions={
            "country_of_ip": "ip_address_country",
            "v": "meta.ipv",
            "agent_family": "user_agent_family",
            "lang": "meta.lang",
        },
    )
    assert set(settings.extra_dimensions) == {"country_of_ip", "v", "agent_family", "lang"}


def test_declared_dimensions_from_the_environment(db):
    settings = ExportSettings.from_env(
        {"SPOO_EXPORT_EXTRA_DIMENSIONS": "platform=device_type, lang=meta.lang"}, database=db
    )
    assert settings.extra_dimensions == {"platform": "device_type", "lang": "meta.lang"}


def test_an_undeclared_dimension_is_a_400_naming_the_parameter(env):
    for params, param in (
        ({"group_by": "lang"}, "group_by"),
        ({"filters": '{"lang": ["x"]}'}, "filters"),
        ({"exclude": '{"lang": ["x"]}'}, "exclude"),
        ({"exclude": "[1]"}, "exclude"),
    ):
        resp = env["get"](**params)
        assert resp.status_code == 400 and resp.json["param"] == param, (params, resp.json)


@pytest.mark.parametrize("name", ["filters", "exclude"])
def test_a_lone_surrogate_in_json_is_a_400_not_a_driver_error(env, name):
    resp = env["get"](**{name: '{"browser": ["\\ud800"]}'})
    assert resp.status_code == 400 and resp.json["param"] == name


def test_a_declared_path_part_may_not_start_with_a_dollar(db):
    with pytest.raises(ConfigurationError, match="not a field path"):
        ExportSettings(database=db, extra_dimensions={"platform": "ua.$device"})


def test_a_declared_dimension_on_a_built_in_field_ands_with_it(db):
    add_url(db, "a", OWNER)
    db.clicks.insert_many(
        [
            make_click("a", OWNER, datetime(2025, 3, 9, 12), browser=b, bot_name=bot)
            for b, bot in (("Chrome", None), ("Firefox", "Googlebot"), ("Chrome", "Googlebot"))
        ]
    )
    key = add_api_key(db, OWNER)
    client = falcon.testing.TestClient(
        create_app(
            ExportSettings(
                database=db,
                extra_dimensions={"agent": "browser", "bot": "bot_name"},
                authenticated_limits="1000/minute",
            )
        )
    )

    def total(**params: Any) -> int:
        resp = client.simulate_get(
            ROUTE, params={"format": "json", **DAY, **params}, headers={"Authorization": f"Bearer {key}"}
        )
        return resp.json["summary"]["total_clicks"]

    assert total(browser="Chrome", agent="Firefox") == 0  # both must hold
    assert total(bot="Googlebot", exclude_bots="true") == 0
    assert total(exclude='{"browser": ["Chrome"], "agent": ["Firefox"]}') == 0
    assert total(agent="Chrome") == 2
