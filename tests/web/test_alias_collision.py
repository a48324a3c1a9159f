"""Issue 17, item 3: two owners' clicks sharing a short code, replayed through the real app (mongomock).

Owner A has a public link ``promo`` on the main domain. Owner B's clicks carry the short code ``promo``
too: B's private link ``promo`` on ``b.example`` (aliases are unique per domain only), B's link renamed
from ``promo`` to ``bnew`` (its clicks keep the old code) and one orphan click with no ``url_id``.
Before the fix, ``scope=anon&short_code=promo`` matched clicks on the short code alone and served B's.
Every answer here, in every format, for GET, HEAD and the raw clicks, must hold none of B's values
(searched in the bytes, zip members unpacked), and count A's clicks only.
"""

from __future__ import annotations

import io
import zipfile
from datetime import datetime
from typing import Any

import falcon.testing
import pytest
from bson import ObjectId

from spoo_export_plugin import ExportSettings, create_app
from spoo_export_plugin.formats import FORMATS, click_formats

from ..factories import ROUTE, add_api_key, add_url, make_click

OWNER_A = ObjectId("650000000000000000000a0a")
OWNER_B = ObjectId("650000000000000000000b0b")
#: Every value B's clicks carry contains this (any case); A's never do.
MARKER = b"bsecret"
B_VALUES = {
    "city": "BSecretCity",
    "browser": "BSecretBrowser",
    "os": "BSecretOS",
    "country": "BSecretLand",
    "referrer": "https://bsecret.example/ref",
    "utm_source": "bsecret_source",
    "utm_campaign": "bsecret_camp",
    "bot_name": "BSecretBot",
    "ip_address": "198.51.100.66",
    "user_agent": "BSecretAgent/1.0",
}
A_CLICKS = 3
RANGE = {"start_date": "2025-03-01", "end_date": "2025-03-31"}
EVERY_DIMENSION = "time,browser,os,country,city,referrer,utm_source,utm_campaign"
GENEROUS = {"authenticated_limits": "10000/minute", "anonymous_limits": "10000/minute"}


def seed(db: Any, *, shared: bool) -> dict[str, Any]:
    """A's public ``promo``; B's renamed link and orphan click carrying ``promo``; with ``shared``, B's private
    ``promo`` on b.example too. Returns both owners' keys."""
    add_url(db, "promo", OWNER_A, created_at=datetime(2025, 3, 2))
    bnew = add_url(db, "bnew", OWNER_B, created_at=datetime(2024, 6, 1), private_stats=True)
    clicks = [
        make_click("promo", OWNER_A, datetime(2025, 3, 10, h), city="Atown", ip_address=f"203.0.113.{h}")
        for h in range(A_CLICKS)
    ]
    clicks += [make_click("promo", OWNER_B, datetime(2025, 3, 11, h), url_id=bnew, **B_VALUES) for h in range(4)]
    clicks.append(make_click("promo", OWNER_B, datetime(2025, 3, 12), legacy=True, **B_VALUES))  # no url_id
    if shared:
        bpromo = add_url(db, "promo", OWNER_B, created_at=datetime(2024, 1, 1), private_stats=True, domain="b.example")
        clicks += [make_click("promo", OWNER_B, datetime(2025, 3, 13, h), url_id=bpromo, **B_VALUES) for h in range(2)]
    db.clicks.insert_many(clicks)
    return {"a": add_api_key(db, OWNER_A), "b": add_api_key(db, OWNER_B)}


@pytest.fixture(params=["renamed/worker", "shared/worker", "renamed/database", "shared/database"])
def world(request: pytest.FixtureRequest, db: Any) -> dict[str, Any]:
    """Both worlds (B renamed a link away from A's alias; also B's ``promo`` on b.example), both executors."""
    kind, aggregation = request.param.split("/")
    return make_world(db, shared=kind == "shared", aggregation=aggregation)


@pytest.fixture
def shared_world(db: Any) -> dict[str, Any]:
    return make_world(db, shared=True)


def make_world(db: Any, *, shared: bool, aggregation: str = "auto") -> dict[str, Any]:
    keys = seed(db, shared=shared)
    client = falcon.testing.TestClient(create_app(ExportSettings(database=db, aggregation=aggregation, **GENEROUS)))
    # With B's promo on b.example the alias is shared: A's (main-domain) URL is asked for with domain=.
    a_url = {"short_code": "promo", **({"domain": ""} if shared else {})}
    return {"client": client, "keys": keys, "shared": shared, "a_url": a_url}


def bearer(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def every_byte(body: bytes) -> bytes:
    """The body, and each member of a zip (csv, xlsx) unpacked, lower-cased."""
    parts = [body]
    if body[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            parts += [archive.read(name) for name in archive.namelist()]
    return b"\n".join(parts).lower()


def assert_nothing_of_b(resp: Any) -> None:
    assert MARKER not in every_byte(resp.content), resp.content[:400]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_anonymous_statistics_of_a_shared_code_hold_only_the_resolved_urls_clicks(world, fmt, method):
    params = {"format": fmt, "scope": "anon", **world["a_url"], **RANGE, "group_by": EVERY_DIMENSION}
    resp = world["client"].simulate_request(method, ROUTE, params=params)
    assert resp.status_code == 200, resp.text
    assert_nothing_of_b(resp)
    if fmt == "json" and method == "GET":
        body = resp.json
        assert (body["scope"], body["short_code"]) == ("anon", "promo")
        assert body["summary"]["total_clicks"] == A_CLICKS and body["summary"]["unique_clicks"] == A_CLICKS
        assert {row["city"] for row in body["breakdowns"]["city"]} == {"Atown"}
    if fmt == "csv" and method == "GET":
        with zipfile.ZipFile(io.BytesIO(resp.content)) as archive:
            summary = archive.read("summary.csv").decode("utf-8")
        assert f"total_clicks,{A_CLICKS}" in summary.replace("\r", ""), summary
    if fmt == "xml" and method == "GET":
        assert f"<total_clicks>{A_CLICKS}</total_clicks>".encode() in resp.content


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("fmt", sorted(click_formats()))
def test_the_owners_raw_clicks_of_a_shared_code_are_its_urls_only(world, fmt, method):
    params = {"format": fmt, "scope": "anon", **world["a_url"], **RANGE}
    resp = world["client"].simulate_request(
        method, ROUTE + "/clicks", params=params, headers=bearer(world["keys"]["a"])
    )
    assert resp.status_code == 200, resp.text
    assert_nothing_of_b(resp)
    if fmt == "json" and method == "GET":
        body = resp.json
        assert body["summary"]["total_clicks"] == A_CLICKS and len(body["clicks"]) == A_CLICKS
        assert {row["city"] for row in body["clicks"]} == {"Atown"}


def test_the_default_start_is_the_resolved_urls_creation(world):
    body = (
        world["client"]
        .simulate_get(ROUTE, params={"format": "json", "scope": "anon", **world["a_url"], "end_date": "2025-03-31"})
        .json
    )
    assert body["start_date"] == "2025-03-02T00:00:00+00:00"  # A's URL, not B's older ones
    assert body["summary"]["total_clicks"] == A_CLICKS


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_a_shared_alias_without_domain_is_a_400_naming_domain(shared_world, method):
    world = shared_world
    for path, key in ((ROUTE, None), (ROUTE + "/clicks", world["keys"]["a"])):
        resp = world["client"].simulate_request(
            method,
            path,
            params={"format": "json", "scope": "anon", "short_code": "promo", **RANGE},
            headers=bearer(key),
        )
        assert resp.status_code == 400, resp.text
        if method == "GET":
            assert resp.json["param"] == "domain" and "several domains" in resp.json["error"]
            assert "b.example" not in resp.text and str(OWNER_B) not in resp.text  # nothing of the other URL
        assert_nothing_of_b(resp)


def test_the_other_domains_private_url_is_its_owners_alone(shared_world):
    client, keys = shared_world["client"], shared_world["keys"]
    params = {"format": "json", "scope": "anon", "short_code": "promo", "domain": "b.example", **RANGE}
    assert client.simulate_get(ROUTE, params=params).status_code == 401
    assert client.simulate_get(ROUTE, params=params, headers=bearer(keys["a"])).status_code == 403
    assert client.simulate_get(ROUTE + "/clicks", params=params, headers=bearer(keys["a"])).status_code == 403
    own = client.simulate_get(ROUTE, params={**params, "domain": "B.Example"}, headers=bearer(keys["b"]))
    assert own.status_code == 200 and own.json["summary"]["total_clicks"] == 2  # not the renamed link's 4
    raw = client.simulate_get(ROUTE + "/clicks", params=params, headers=bearer(keys["b"]))
    assert raw.status_code == 200 and raw.json["summary"]["total_clicks"] == 2


def test_a_domain_the_alias_is_not_on_is_a_404(world):
    domain = "b.example" if not world["shared"] else "nope.example"  # (B's promo is on b.example when shared)
    params = {"format": "csv", "scope": "anon", "short_code": "promo", "domain": domain, **RANGE}
    for method in ("GET", "HEAD"):
        resp = world["client"].simulate_request(method, ROUTE, params=params)
        assert resp.status_code == 404
    assert resp.headers["content-type"] == "application/json"
    raw = world["client"].simulate_get(ROUTE + "/clicks", params=params, headers=bearer(world["keys"]["a"]))
    assert raw.status_code == 404 and raw.json["param"] == "short_code"


def test_an_empty_domain_counts_as_absent_for_an_alias_one_url_uses(db):
    solo = add_url(db, "solo", OWNER_B, domain="b.example")
    renamed = add_url(db, "x", OWNER_A)  # once called solo: its click kept the code
    db.clicks.insert_many(
        [
            make_click("solo", OWNER_B, datetime(2025, 3, 10), url_id=solo),
            make_click("solo", OWNER_A, datetime(2025, 3, 10), url_id=renamed),
        ]
    )
    client = falcon.testing.TestClient(create_app(ExportSettings(database=db, **GENEROUS)))
    for extra in ({}, {"domain": ""}, {"domain": "b.example"}):
        resp = client.simulate_get(
            ROUTE, params={"format": "json", "scope": "anon", "short_code": "solo", **extra, **RANGE}
        )
        assert resp.status_code == 200 and resp.json["summary"]["total_clicks"] == 1, (extra, resp.text)


def test_a_legacy_url_reads_its_code_only_on_clicks_of_no_urlsv2_url(db):
    """A legacy ``old`` (ownerless, main domain) and B's link renamed from ``old`` on b.example: ``domain=`` reads
    the legacy URL's clicks, never the renamed link's, which kept the code."""
    db.urls.insert_one({"_id": "old", "url": "https://example.com", "created_at": datetime(2025, 1, 1)})
    renamed = add_url(db, "old", OWNER_B, domain="b.example", private_stats=True)
    db.clicks.insert_many(
        [
            make_click("old", None, datetime(2025, 3, 10), legacy=True, city="Legacyville"),
            make_click("old", OWNER_B, datetime(2025, 3, 10), url_id=renamed, **B_VALUES),
            make_click("old", OWNER_B, datetime(2025, 3, 10), url_id=ObjectId(), **B_VALUES),
        ]
    )
    client = falcon.testing.TestClient(create_app(ExportSettings(database=db, **GENEROUS)))
    base = {"format": "csv", "scope": "anon", "short_code": "old", "group_by": EVERY_DIMENSION, **RANGE}
    assert client.simulate_get(ROUTE, params=base).json["param"] == "domain"
    resp = client.simulate_get(ROUTE, params={**base, "domain": ""})
    assert resp.status_code == 200 and b"legacyville" in every_byte(resp.content)
    assert_nothing_of_b(resp)
    body = client.simulate_get(ROUTE, params={**base, "format": "json", "domain": ""}).json
    assert body["summary"]["total_clicks"] == 1


@pytest.mark.parametrize("aggregation", ["database", "worker"])
def test_a_legacy_url_never_reads_an_owners_clicks_of_its_code(db, aggregation):
    """Clicks of an owner that carry the legacy URL's code and no url id (an orphan, or a link stored
    without one) are that owner's: the ownerless legacy URL reads only ownerless clicks, for its numbers
    and for its default start."""
    db.urls.insert_one({"_id": "promo", "url": "https://example.com"})  # no creation date: the first click
    db.clicks.insert_many(
        [
            make_click("promo", None, datetime(2025, 3, 10), legacy=True, city="Legacyville"),
            make_click("promo", OWNER_B, datetime(2025, 3, 2), legacy=True, **B_VALUES),
        ]
    )
    client = falcon.testing.TestClient(create_app(ExportSettings(database=db, aggregation=aggregation, **GENEROUS)))
    base = {"scope": "anon", "short_code": "promo", "group_by": EVERY_DIMENSION}
    for fmt in FORMATS:
        for method in ("GET", "HEAD"):
            resp = client.simulate_request(method, ROUTE, params={**base, "format": fmt, **RANGE})
            assert resp.status_code == 200, (fmt, resp.text)
            assert_nothing_of_b(resp)
    body = client.simulate_get(ROUTE, params={**base, "format": "json", **RANGE}).json
    assert body["summary"]["total_clicks"] == 1
    defaulted = client.simulate_get(ROUTE, params={**base, "format": "json"}).json
    assert defaulted["start_date"].startswith("2025-03-10")  # B's earlier click does not set the start


def test_a_urlsv2_document_without_an_id_reads_no_clicks(db):
    """A URL whose ``_id`` is null has nothing its clicks could be matched on: a 404, never every click."""
    db.urlsV2.insert_one({"_id": None, "alias": "ghost", "owner_id": OWNER_A, "private_stats": False})
    db.clicks.insert_one(make_click("ghost", OWNER_B, datetime(2025, 3, 10), legacy=True, **B_VALUES))
    client = falcon.testing.TestClient(create_app(ExportSettings(database=db, **GENEROUS)))
    resp = client.simulate_get(ROUTE, params={"format": "json", "scope": "anon", "short_code": "ghost", **RANGE})
    assert resp.status_code == 404 and resp.json["param"] == "short_code"
    assert_nothing_of_b(resp)


@pytest.mark.parametrize(
    "query, problem",
    [
        ("domain=" + "a" * 254, "at most 253"),
        ("domain=a.example&domain=b.example", "more than once"),
        ("domain=a%20b.example", "host name"),
        ("domain=a%00b.example", "host name"),
        ("domain=a%0Ab.example", "host name"),
    ],
)
def test_the_domain_parameter_is_validated(shared_world, query, problem):
    world = shared_world
    for path, key in ((ROUTE, None), (ROUTE + "/clicks", world["keys"]["a"])):
        resp = world["client"].simulate_get(
            path, query_string=f"format=json&scope=anon&short_code=promo&{query}", headers=bearer(key)
        )
        assert resp.status_code == 400 and resp.json["param"] == "domain", resp.text
        assert problem in resp.json["error"]


def test_domain_picks_no_url_with_scope_all(world):
    """scope=all reads the caller's own clicks (a short_code filter there is owner-scoped already); ``domain``
    picks no URL there but is the domain dimension's comma parameter (issue 19): A's clicks carry no
    meta.domain, so b.example keeps none of them and Unknown keeps them all, and nothing of B's shows."""
    for domain, total in (("b.example", 0), ("Unknown", A_CLICKS), ("b.example,Unknown", A_CLICKS)):
        resp = world["client"].simulate_get(
            ROUTE,
            params={"format": "json", "scope": "all", "short_code": "promo", "domain": domain, **RANGE},
            headers=bearer(world["keys"]["a"]),
        )
        assert resp.status_code == 200 and resp.json["summary"]["total_clicks"] == total, (domain, resp.text)
        assert resp.json["filters"] == {"short_code": ["promo"], "domain": domain.split(",")}
        assert_nothing_of_b(resp)


@pytest.mark.integration
def test_the_collision_over_tcp(mongo_db: Any):
    """The same replay on a MongoDB-protocol server (SecantusDB; the database executor groups there)."""
    world = make_world(mongo_db, shared=True)
    client, key = world["client"], world["keys"]["a"]
    for fmt in sorted(FORMATS):
        params = {"format": fmt, "scope": "anon", **world["a_url"], **RANGE, "group_by": EVERY_DIMENSION}
        resp = client.simulate_get(ROUTE, params=params)
        assert resp.status_code == 200, resp.text
        assert_nothing_of_b(resp)
        if fmt == "json":
            assert resp.json["summary"]["total_clicks"] == A_CLICKS
    for fmt in sorted(click_formats()):
        params = {"format": fmt, "scope": "anon", **world["a_url"], **RANGE}
        resp = client.simulate_get(ROUTE + "/clicks", params=params, headers=bearer(key))
        assert resp.status_code == 200, resp.text
        assert_nothing_of_b(resp)
        if fmt == "json":
            assert resp.json["summary"]["total_clicks"] == A_CLICKS
    refused = client.simulate_get(ROUTE, params={"format": "json", "scope": "anon", "short_code": "promo"})
    assert (refused.status_code, refused.json["param"]) == (400, "domain")
