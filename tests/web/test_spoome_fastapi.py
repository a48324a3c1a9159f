"""spoo.me's current app, side by side (issue 19, item 5): the plugin mounted in two lines into a FastAPI
app shaped like spoo.me's (tests/apps/spoome_fastapi.py), with data made through that app's own routes.

Its dashboard cookie and its API keys work unchanged, the plugin's numbers equal the app's own
``/api/v1/stats`` for the same range, and the host's routes (the catch-all ``/{short_code}``
included) stay the host's.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from bson import ObjectId
from starlette.testclient import TestClient

from spoo_export_plugin import ExportASGIMiddleware

from ..apps.spoome_fastapi import (
    ALPHA2,
    CHROME,
    FIREFOX,
    GOOGLEBOT,
    IPHONE,
    AppSettings,
    JWTSettings,
    create_app,
    issue_access_token,
)

SECRET = "spoo-me-jwt-secret-0123456789abcdef0123456789abcdef"  # JWT_SECRET: HS256 when no RSA keys
JWT = JWTSettings(jwt_secret=SECRET)
ME, OTHER = ObjectId(), ObjectId()
#: (alias, user agent, client-IP headers, referrer): each one visit through the redirect route.
VISITS: list[tuple[str, str, dict[str, str], str | None]] = [
    ("mylink", CHROME, {"X-Forwarded-For": "203.0.113.7, 10.0.0.1"}, "https://www.google.com/search?q=spoo"),
    ("mylink", CHROME, {"X-Forwarded-For": "203.0.113.7"}, "https://www.google.com/"),
    ("mylink", FIREFOX, {"X-Forwarded-For": "203.0.113.7"}, None),  # same IP, another browser
    ("mylink", IPHONE, {"CF-Connecting-IP": "198.51.100.4"}, "https://t.co/abc"),
    ("mylink", IPHONE, {"X-Real-IP": "192.0.2.9"}, "https://m.facebook.com/story"),
    ("mylink", GOOGLEBOT, {"X-Forwarded-For": "66.249.66.1", "CF-IPCity": "Mountain View"}, None),
    ("second", FIREFOX, {"X-Forwarded-For": "198.51.100.4"}, "https://news.ycombinator.com/item?id=1"),
    ("second", CHROME, {}, ""),  # no proxy header: the peer's address; an empty Referer is Direct
    ("theirs", CHROME, {"X-Forwarded-For": "203.0.113.7"}, None),
    ("anonlink", IPHONE, {"X-Forwarded-For": "192.0.2.9"}, "https://www.reddit.com/r/x"),
    ("anonlink", CHROME, {"X-Forwarded-For": "192.0.2.9"}, "https://www.reddit.com/r/y"),
    ("anonlink", FIREFOX, {"X-Forwarded-For": "203.0.113.7"}, None),
]
MINE = {"mylink", "second"}
DIMENSIONS = ("browser", "os", "country", "city", "referrer")


def cookie(user: ObjectId, **claims: Any) -> dict[str, str]:
    """The dashboard's request header: the ``access_token`` cookie as spoo.me's login sets it."""
    return {"Cookie": f"access_token={issue_access_token(JWT, user, **claims)}"}


@pytest.fixture
def spoome(db: Any) -> Any:
    """The host app over mongomock, its lifespan run, its data made through its own routes."""
    with TestClient(create_app(AppSettings(jwt=JWT), database=db), follow_redirects=False) as client:
        for alias, user in (("mylink", ME), ("second", ME), ("theirs", OTHER), ("anonlink", None)):
            body = {"long_url": f"https://example.com/{alias}", "alias": alias}
            answer = client.post("/api/v1/shorten", json=body, headers=cookie(user) if user else {})
            assert answer.status_code == 201, answer.text
        for alias, agent, headers, referrer in VISITS:
            sent = {"User-Agent": agent, **headers, **({"Referer": referrer} if referrer is not None else {})}
            answer = client.get(f"/{alias}", headers=sent)
            assert (answer.status_code, answer.headers["location"]) == (302, f"https://example.com/{alias}")
        client.range = {  # type: ignore[attr-defined]
            "start_date": (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat(),
            "end_date": datetime.now(timezone.utc).isoformat(),
        }
        yield client


def export(client: Any, headers: dict[str, str] | None = None, path: str = "/api/v1/export", **params: Any) -> Any:
    query = {"format": "json", **client.range, **params}
    return client.get(path, params=query, headers=headers or {})


def plugin_rows(report: dict[str, Any], dim: str) -> dict[str, tuple[int, int]]:
    return {row[dim]: (row["clicks"], row["unique_clicks"]) for row in report["breakdowns"][dim]}


def host_rows(stats: dict[str, Any], dim: str) -> dict[str, tuple[int, int]]:
    clicks = {row[dim]: row["clicks"] for row in stats["metrics"][f"clicks_by_{dim}"]}
    uniques = {row[dim]: row["unique_clicks"] for row in stats["metrics"][f"unique_clicks_by_{dim}"]}
    return {label: (clicks[label], uniques[label]) for label in clicks}


def test_the_dashboard_cookie_exports_the_owners_clicks(spoome: Any, db: Any) -> None:
    answer = export(spoome, cookie(ME), scope="all", group_by="short_code,browser")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["content-disposition"].startswith("attachment;")
    report = answer.json()
    assert report["summary"]["total_clicks"] == sum(alias in MINE for alias, *_ in VISITS) == 8
    assert plugin_rows(report, "short_code") == {"mylink": (6, 4), "second": (2, 2)}
    assert db.clicks.count_documents({"meta.owner_id": ME}) == 8  # what the redirect route stored
    # the same JWT as a Bearer header (spoo.me's API clients): the same report
    token = issue_access_token(JWT, ME)
    again = export(spoome, {"Authorization": f"Bearer {token}"}, scope="all", group_by="short_code,browser").json()
    assert again["breakdowns"] == report["breakdowns"]


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"type": "refresh"}, "a refresh token cannot be used as an access token"),
        ({"aud": "another-app"}, "the session token is for an audience (aud) this server does not accept"),
        ({"iss": "someone-else"}, "the session token is not valid"),
        ({"exp": 1}, "the session token has expired"),
    ],
)
def test_a_cookie_spoo_me_would_refuse_is_a_401(spoome: Any, claims: dict[str, Any], message: str) -> None:
    answer = export(spoome, cookie(ME, **claims), scope="all")
    assert answer.status_code == 401
    assert answer.json() == {"error": message, "param": "access_token"}
    assert answer.headers["www-authenticate"].startswith("Bearer")


def test_its_api_keys_work(spoome: Any) -> None:
    made = spoome.post("/api/v1/keys", json={"name": "ci", "scopes": ["stats:read"]}, headers=cookie(ME))
    assert made.status_code == 201 and made.json()["token"].startswith("spoo_")
    key = {"Authorization": f"Bearer {made.json()['token']}"}
    answer = export(spoome, key, scope="all", group_by="short_code")
    assert answer.status_code == 200, answer.text
    assert plugin_rows(answer.json(), "short_code") == {"mylink": (6, 4), "second": (2, 2)}
    # a key without a statistics scope: 403 from both; an unknown key: the plugin's 401
    other = spoome.post("/api/v1/keys", json={"name": "bot", "scopes": ["shorten:create"]}, headers=cookie(ME))
    narrow = {"Authorization": f"Bearer {other.json()['token']}"}
    assert export(spoome, narrow, scope="all").status_code == 403
    assert spoome.get("/api/v1/stats", params={"scope": "all", **spoome.range}, headers=narrow).status_code == 403
    unknown = export(spoome, {"Authorization": "Bearer spoo_not-a-key"}, scope="all")
    assert unknown.status_code == 401 and unknown.json()["param"] == "Authorization"


@pytest.mark.parametrize(
    ("who", "params"),
    [
        ("me", {"scope": "all"}),
        ("me", {"scope": "anon", "short_code": "mylink"}),  # private: the owner's cookie
        (None, {"scope": "anon", "short_code": "anonlink"}),  # an anonymous URL's public stats
    ],
)
def test_the_numbers_equal_the_apps_own_stats(spoome: Any, who: str | None, params: dict[str, str]) -> None:
    headers = cookie(ME) if who else {}
    dims = ",".join(DIMENSIONS)
    host = spoome.get("/api/v1/stats", params={**params, **spoome.range, "group_by": dims}, headers=headers)
    plugin = export(spoome, headers, group_by=dims, **params)
    assert (host.status_code, plugin.status_code) == (200, 200), (host.text, plugin.text)
    stats, report = host.json(), plugin.json()
    assert report["summary"]["total_clicks"] == stats["summary"]["total_clicks"] > 0
    # spoo.me counts distinct IPs; the plugin distinct (IP, user agent): equal, as spoo.me stores no user agent
    assert report["summary"]["unique_clicks"] == stats["summary"]["unique_clicks"]
    for dim in DIMENSIONS:
        mine = plugin_rows(report, dim)
        if dim == "country":  # spoo.me answers ISO codes, the plugin the stored names
            mine = {ALPHA2.get(name, "XX"): figures for name, figures in mine.items()}
        assert mine == host_rows(stats, dim), dim


def test_private_and_unknown_links_are_refused_like_the_host_refuses_them(spoome: Any) -> None:
    for params, status in (({"short_code": "mylink"}, 401), ({"short_code": "nope"}, 404)):
        host = spoome.get("/api/v1/stats", params={"scope": "anon", **params, **spoome.range})
        plugin = export(spoome, scope="anon", **params)
        assert (host.status_code, plugin.status_code) == (status, status)
        assert plugin.json()["param"] == "short_code"
    other = cookie(OTHER)
    host = spoome.get("/api/v1/stats", params={"scope": "anon", "short_code": "mylink"}, headers=other)
    assert (host.status_code, export(spoome, other, scope="anon", short_code="mylink").status_code) == (403, 403)


def test_the_hosts_routes_are_untouched(spoome: Any, db: Any) -> None:
    health = spoome.get("/health")
    assert health.status_code == 200
    assert health.json() == {"status": "degraded", "checks": {"mongodb": "ok", "redis": "not_configured"}}
    before = db.clicks.count_documents({})
    head = spoome.head("/mylink", headers={"User-Agent": CHROME})
    assert (head.status_code, head.headers["x-robots-tag"]) == (302, "noindex, nofollow")
    assert db.clicks.count_documents({}) == before  # HEAD records no click, as spoo.me's route
    missing = spoome.get("/no-such-link")
    assert (missing.status_code, missing.headers["content-type"]) == (404, "text/html; charset=utf-8")
    assert spoome.get("/api/v1/exports").status_code == 404  # FastAPI's own 404, not the plugin's
    assert spoome.get("/api/v1/exports").json() == {"detail": "Not Found"}


def below_the_plugin(app: Any) -> TestClient:
    """A client of what the middleware hands other requests to: the host's own stack under it, as
    FastAPI would run it without the plugin (the route order decides)."""
    layer = app.middleware_stack
    while not isinstance(layer, ExportASGIMiddleware):
        layer = layer.app

    async def host(scope: Any, receive: Any, send: Any) -> None:
        await layer.app({**scope, "app": app}, receive, send)  # scope["app"]: as FastAPI sets it

    return TestClient(host, follow_redirects=False)


def test_the_plugins_paths_are_served_before_the_hosts_routes(spoome: Any) -> None:
    """FastAPI routes /api/v1/export to spoo.me's own export; the middleware answers it first."""
    answer = export(spoome, cookie(ME), scope="all")
    assert answer.status_code == 200 and "served_by" not in answer.json()
    host = below_the_plugin(spoome.app).get("/api/v1/export", params={"format": "json"}, headers=cookie(ME))
    assert host.json() == {"served_by": "spoo.me's own export route"}
    assert "x-ratelimit-limit" in answer.headers
    links = export(spoome, cookie(ME), path=f"/api/v1/export/links/{ObjectId()}")
    assert (links.status_code, links.json()["error"] is not None) == (404, True)  # the plugin's 404
    assert links.headers["content-type"] == "application/json"
    raw = export(spoome, cookie(ME), path="/api/v1/export/clicks", scope="all", format="json")
    assert raw.status_code == 200 and len(raw.json()["clicks"]) == 8
    assert spoome.get("/api/v1/export/openapi.json").json()["openapi"].startswith("3.")


def test_a_one_segment_route_is_not_swallowed_by_the_catch_all(db: Any) -> None:
    """With ``route="/export"`` FastAPI would send the export to ``/{short_code}`` (the redirect)."""
    app = create_app(AppSettings(jwt=JWT), database=db, export_route="/export")
    with TestClient(app, follow_redirects=False) as client:
        assert (
            client.post(
                "/api/v1/shorten", json={"long_url": "https://example.com/x", "alias": "export"}, headers=cookie(ME)
            ).status_code
            == 201
        )
        query = {"format": "json", "scope": "all"}
        answer = client.get("/export", params=query, headers={**cookie(ME), "User-Agent": CHROME})
        assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
        assert answer.json()["summary"]["total_clicks"] == 0
        assert db.clicks.count_documents({}) == 0  # the redirect route never ran
        assert client.get("/export/openapi.json").status_code == 200
        # without the plugin in front, the same request is a visit of the short link "export"
        host = below_the_plugin(app).get("/export", params=query, headers={"User-Agent": CHROME})
        assert (host.status_code, host.headers["location"]) == (302, "https://example.com/x")
        assert db.clicks.count_documents({"meta.short_code": "export"}) == 1
