"""CORS through the real app and the WSGI middleware: off by default; with ``cors_origins`` the
preflight is answered, the listed origins get the exposed headers, nobody gets credentials."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import falcon.testing
import pytest

from spoo_export_plugin import ConfigurationError, ExportMiddleware, ExportSettings

from ..doors import make_app
from ..factories import ROUTE, add_url, make_click

#: HTTP-level: each test runs through both doors (WSGI and ASGI, tests/doors.py).
pytestmark = pytest.mark.usefixtures("door")

APP = "https://app.example.com"
EXPOSED = "Content-Disposition, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset"
QUERY = {"format": "json", "scope": "anon", "short_code": "abc", "start_date": "2025-03-09", "end_date": "2025-03-10"}


@pytest.fixture
def seeded(db: Any) -> Any:
    add_url(db, "abc", None)
    db.clicks.insert_one(make_click("abc", None, datetime(2025, 3, 9, 6)))
    return db


def client_for(db: Any, **settings: Any) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(make_app(ExportSettings(database=db, **settings)))


def preflight(client: falcon.testing.TestClient, path: str = ROUTE, origin: str = APP) -> Any:
    return client.simulate_options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )


def cors_headers(resp: Any) -> dict[str, str]:
    return {k: v for k, v in resp.headers.items() if k.startswith("access-control-")}


def test_off_by_default(seeded):
    client = client_for(seeded)
    resp = client.simulate_get(ROUTE, params=QUERY, headers={"Origin": APP})
    assert resp.status_code == 200 and cors_headers(resp) == {} and "vary" not in resp.headers
    answer = preflight(client)
    assert answer.status_code == 200 and cors_headers(answer) == {}  # a browser refuses the cross-origin call


@pytest.mark.parametrize("path", [ROUTE, ROUTE + "/openapi.json"])
def test_preflight_from_a_listed_origin(seeded, path):
    answer = preflight(client_for(seeded, cors_origins=[APP, "https://other.example"]), path)
    assert answer.status_code == 200 and answer.content == b""
    assert cors_headers(answer) == {
        "access-control-allow-origin": APP,
        "access-control-allow-methods": "GET, HEAD",
        "access-control-allow-headers": "authorization",
        "access-control-max-age": "86400",
        "access-control-expose-headers": EXPOSED,
    }
    assert answer.headers["vary"] == "Origin"


def test_preflight_from_another_origin_allows_nothing(seeded):
    answer = preflight(client_for(seeded, cors_origins=APP), origin="https://evil.example")
    assert cors_headers(answer) == {} and answer.headers["vary"] == "Origin"


def test_exports_and_errors_expose_their_headers_to_a_listed_origin_without_credentials(seeded):
    client = client_for(seeded, cors_origins=APP, anonymous_limits="1/minute")
    ok = client.simulate_get(ROUTE, params=QUERY, headers={"Origin": APP, "Cookie": "access_token=x"})
    assert ok.status_code == 200 and ok.headers["content-disposition"].startswith("attachment;")
    assert cors_headers(ok) == {"access-control-allow-origin": APP, "access-control-expose-headers": EXPOSED}
    refused = client.simulate_get(ROUTE, params=QUERY, headers={"Origin": APP})
    assert refused.status_code == 429 and refused.json["param"] is None and int(refused.headers["retry-after"]) > 0
    assert cors_headers(refused) == {"access-control-allow-origin": APP, "access-control-expose-headers": EXPOSED}
    head = client.simulate_head(ROUTE, params=QUERY, headers={"Origin": APP})
    assert head.status_code == 429 and cors_headers(head)["access-control-allow-origin"] == APP
    unauthorized = client_for(seeded, cors_origins=APP).simulate_get(
        ROUTE, params={"format": "json", "scope": "all"}, headers={"Origin": APP}
    )
    assert unauthorized.status_code == 401 and unauthorized.headers["access-control-allow-origin"] == APP


def test_any_origin_with_a_wildcard_never_with_credentials(seeded):
    client = client_for(seeded, cors_origins="*")
    resp = client.simulate_get(
        ROUTE, params=QUERY, headers={"Origin": "https://anywhere.example", "Cookie": "access_token=x"}
    )
    assert cors_headers(resp) == {"access-control-allow-origin": "*", "access-control-expose-headers": EXPOSED}
    assert "vary" not in resp.headers  # the same answer for every origin
    assert cors_headers(preflight(client, origin="https://anywhere.example"))["access-control-allow-origin"] == "*"


def test_preflights_do_not_count_against_the_rate_limit(seeded):
    client = client_for(seeded, cors_origins=APP, anonymous_limits="3/minute")
    for _ in range(5):
        assert preflight(client).status_code == 200
    assert client.simulate_get(ROUTE, params=QUERY, headers={"Origin": APP}).headers["x-ratelimit-remaining"] == "2"


def test_preflight_reaches_the_plugin_through_the_middleware(seeded):
    seen: list[str] = []

    def host(environ: dict, start_response: Any) -> list[bytes]:
        seen.append(environ["REQUEST_METHOD"] + " " + environ["PATH_INFO"])
        start_response("204 No Content", [("Allow", "GET, POST")])
        return []

    client = falcon.testing.TestClient(ExportMiddleware(host, ExportSettings(database=seeded, cors_origins=APP)))
    for path in (ROUTE, ROUTE + "/openapi.json"):
        assert preflight(client, path).headers["access-control-allow-origin"] == APP
    assert seen == []
    host_answer = preflight(client, "/login")
    assert host_answer.status_code == 204 and cors_headers(host_answer) == {}  # the host's routes stay its own
    assert seen == ["OPTIONS /login"]


def test_served_openapi_document_describes_the_preflight_only_when_cors_is_on(seeded):
    off = client_for(seeded).simulate_get(ROUTE + "/openapi.json").json
    on = client_for(seeded, cors_origins=APP).simulate_get(ROUTE + "/openapi.json").json
    assert set(off["paths"][ROUTE]) == {"get", "head"}
    assert set(on["paths"][ROUTE]) == {"get", "head", "options"}
    assert on["paths"][ROUTE]["options"]["responses"]["200"]["headers"]["Access-Control-Allow-Origin"]


@pytest.mark.parametrize(
    "value, expected",
    [
        (None, None),
        ("", None),
        ("*", "*"),
        (" https://App.Example.com , http://localhost:5173,", ("https://app.example.com", "http://localhost:5173")),
        (["https://a.example", "https://a.example"], ("https://a.example",)),
        (("http://[::1]:8080",), ("http://[::1]:8080",)),
    ],
)
def test_cors_origins_are_read_as_origins(db, value, expected):
    assert ExportSettings(database=db, cors_origins=value).cors_origins == expected


def test_cors_origins_from_the_environment(db):
    env = {"SPOO_EXPORT_CORS_ORIGINS": "https://a.example,https://b.example"}
    assert ExportSettings.from_env(env, database=db).cors_origins == ("https://a.example", "https://b.example")


@pytest.mark.parametrize(
    "value, message",
    [
        ("https://app.example.com/", "not an origin"),
        ("app.example.com", "not an origin"),
        ("https://app.example.com/stats", "not an origin"),
        ("null", "not an origin"),
        ("*,https://app.example.com", "stands alone"),
        (["*"], "stands alone"),
        ([42], "not a string"),
        (42, "must be a list"),
    ],
)
def test_bad_cors_origins_fail_when_settings_are_built(db, value, message):
    with pytest.raises(ConfigurationError, match=f"cors_origins.*{message}|{message}.*cors_origins"):
        ExportSettings(database=db, cors_origins=value)
