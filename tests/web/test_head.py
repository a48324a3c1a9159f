"""HEAD on every route through the real app: the checks, status and headers of GET, no body, and no
aggregation (counted at mongomock's ``Collection.aggregate`` and ``find`` of the clicks, under the plugin's store)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import falcon.inspect
import falcon.testing
import pytest
from bson import ObjectId

from spoo_export_plugin import ExportMiddleware, ExportSettings
from spoo_export_plugin.formats import FORMATS

from ..doors import make_app, open_response
from ..factories import ROUTE, add_api_key, add_url, make_click, url_id_for

#: HTTP-level: each test runs through both doors (WSGI and ASGI, tests/doors.py).
pytestmark = pytest.mark.usefixtures("door")

OWNER = ObjectId()
RANGE = {"start_date": "2025-03-09T02:00:00Z", "end_date": "2025-03-10T12:00:00Z"}


@pytest.fixture
def seeded(db: Any) -> dict[str, Any]:
    add_url(db, "abc", OWNER, created_at=datetime(2025, 1, 1))
    add_url(db, "🚀go", OWNER, created_at=datetime(2025, 1, 1))
    add_url(db, "secret", OWNER, created_at=datetime(2025, 1, 1), private_stats=True)
    db.clicks.insert_many(
        [make_click(code, OWNER, datetime(2025, 3, 9, h)) for h in (3, 4, 5) for code in ("abc", "🚀go", "secret")]
    )
    return {"key": add_api_key(db, OWNER), "other_key": add_api_key(db, ObjectId())}


def make_client(db: Any, **settings: Any) -> falcon.testing.TestClient:
    settings.setdefault("authenticated_limits", "1000/minute")
    settings.setdefault("anonymous_limits", "1000/minute")
    return falcon.testing.TestClient(make_app(ExportSettings(database=db, **settings)))


def same_headers(head: Any, get: Any) -> None:
    """Every header of GET on HEAD, with the rate limit's count one request apart (and its reset, a
    whole second, at most one second apart: the two requests may straddle a second's boundary)."""
    head_headers, get_headers = dict(head.headers), dict(get.headers)
    assert int(head_headers.pop("x-ratelimit-remaining")) == int(get_headers.pop("x-ratelimit-remaining")) + 1
    assert int(get_headers.pop("x-ratelimit-reset")) - int(head_headers.pop("x-ratelimit-reset")) in (0, 1)
    assert head_headers == get_headers


def is_export(query: Any) -> bool:
    """The export's query, not a lookup: the worker executor's find, or the database executor's
    pipeline (it holds the per-breakdown key projection)."""
    if isinstance(query, tuple):
        return query[0] == "find"
    return any("k" in stage.get("$project", {}) for stage in query)


@pytest.mark.parametrize("aggregation", ["database", "worker"])
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_head_of_an_export_has_the_headers_of_get_and_runs_no_aggregation(db, seeded, aggregations, fmt, aggregation):
    client = make_client(db, aggregation=aggregation)
    params = {
        "format": fmt,
        "scope": "anon",
        "short_code": "abc",
        "timezone": "America/New_York",
        "group_by": "time,browser",
        **RANGE,
    }
    head = client.simulate_head(ROUTE, params=params)
    assert head.status_code == 200 and head.content == b""
    assert aggregations == []
    get = client.simulate_get(ROUTE, params=params)
    assert get.status_code == 200 and get.content
    assert [is_export(p) for p in aggregations] == [True]
    same_headers(head, get)
    # The dates of the name are the report's, in its timezone (02:00Z on the 9th is the 8th in New York).
    name = f"spoo-export_abc_20250308_20250310.{FORMATS[fmt].extension}"
    assert head.headers["content-disposition"] == f'attachment; filename="{name}"'
    assert head.headers["content-type"] == FORMATS[fmt].media_type
    assert "content-length" not in head.headers  # like the streamed file: its length is not known ahead


def test_head_renders_no_file(db, seeded, monkeypatch):
    rendered: list[str] = []
    fmt = FORMATS["xlsx"]

    def render(report: Any, settings: Any) -> Any:
        rendered.append(report.scope)
        return fmt.render(report, settings)

    monkeypatch.setitem(FORMATS, "xlsx", dataclasses.replace(fmt, render=render))
    client = make_client(db)
    params = {"format": "xlsx", "scope": "anon", "short_code": "abc", **RANGE}
    assert client.simulate_head(ROUTE, params=params).status_code == 200 and rendered == []
    assert client.simulate_get(ROUTE, params=params).content[:2] == b"PK" and rendered == ["anon"]


def test_head_names_a_non_ascii_short_code_like_get(db, seeded, aggregations):
    client = make_client(db)
    params = {"format": "json", "scope": "anon", "short_code": "🚀go", **RANGE}
    head, get = client.simulate_head(ROUTE, params=params), client.simulate_get(ROUTE, params=params)
    same_headers(head, get)
    assert head.headers["content-disposition"] == (
        'attachment; filename="spoo-export_go_20250309_20250310.json"; '
        "filename*=UTF-8''spoo-export_%F0%9F%9A%80go_20250309_20250310.json"
    )


def test_head_with_a_default_start_makes_only_the_first_click_lookup(db, aggregations):
    """No creation date known: the start is the first click, found by a one-row lookup, not the export."""
    db.urlsV2.insert_one({"_id": url_id_for("old", OWNER), "alias": "old", "owner_id": OWNER, "private_stats": False})
    db.clicks.insert_many(
        [make_click("old", OWNER, datetime(2024, 12, 30, 23)), make_click("old", OWNER, datetime(2025, 2, 1))]
    )
    client = make_client(db)
    params = {"format": "csv", "scope": "anon", "short_code": "old", "end_date": "2025-03-10T00:00:00Z"}
    head = client.simulate_head(ROUTE, params=params)
    assert head.status_code == 200, head.text
    assert head.headers["content-disposition"] == 'attachment; filename="spoo-export_old_20241230_20250310.zip"'
    assert len(aggregations) == 1 and not is_export(aggregations[0])
    assert {"$limit": 1} in aggregations[0]
    same_headers(head, client.simulate_get(ROUTE, params=params))


def test_head_for_an_owner_with_credentials(db, seeded, aggregations):
    client = make_client(db)
    params = {"format": "xlsx", "scope": "all", **RANGE}
    headers = {"Authorization": f"Bearer {seeded['key']}"}
    head = client.simulate_head(ROUTE, params=params, headers=headers)
    assert head.status_code == 200 and aggregations == []
    assert head.headers["content-disposition"] == 'attachment; filename="spoo-export_all_20250309_20250310.xlsx"'
    same_headers(head, client.simulate_get(ROUTE, params=params, headers=headers))


@pytest.mark.parametrize(
    "params, headers, status, param, challenge",
    [
        ({"format": "pdf", "scope": "anon", "short_code": "abc"}, {}, 400, "format", None),
        ({"format": "json", "scope": "anon", "short_code": "abc", "timezone": "Mars/Base"}, {}, 400, "timezone", None),
        (
            {
                "format": "json",
                "scope": "anon",
                "short_code": "abc",
                "start_date": "2025-03-10",
                "end_date": "2025-03-01",
            },
            {},
            400,
            "start_date",
            None,
        ),
        ({"format": "json", "scope": "all"}, {}, 401, "scope", "Bearer"),
        ({"format": "json", "scope": "anon", "short_code": "secret"}, {}, 401, "short_code", "Bearer"),
        (
            {"format": "json", "scope": "all"},
            {"Authorization": "Bearer spoo_nope"},
            401,
            "Authorization",
            'Bearer error="invalid_token"',
        ),
        ({"format": "json", "scope": "anon", "short_code": "secret"}, "other_key", 403, "short_code", None),
        ({"format": "json", "scope": "anon", "short_code": "missing"}, {}, 404, "short_code", None),
    ],
)
def test_head_refuses_what_get_refuses_with_the_same_headers(
    db, seeded, aggregations, params, headers, status, param, challenge
):
    if headers == "other_key":
        headers = {"Authorization": f"Bearer {seeded['other_key']}"}
    client = make_client(db)
    head = client.simulate_head(ROUTE, params=params, headers=headers)
    get = client.simulate_get(ROUTE, params=params, headers=headers)
    assert (head.status_code, get.status_code) == (status, status)
    assert head.content == b"" and get.json["param"] == param
    assert head.headers.get("www-authenticate") == challenge
    assert int(head.headers["content-length"]) == len(get.content)  # the length of the error GET sends
    same_headers(head, get)
    assert not any(is_export(p) for p in aggregations)


def test_head_counts_against_the_rate_limit_like_get(db, seeded, aggregations):
    client = make_client(db, anonymous_limits="2/minute")
    params = {"format": "json", "scope": "anon", "short_code": "abc", **RANGE}
    assert [client.simulate_head(ROUTE, params=params).status_code for _ in range(2)] == [200, 200]
    refused = client.simulate_head(ROUTE, params=params)
    assert refused.status_code == 429 and refused.content == b""
    assert refused.headers["x-ratelimit-remaining"] == "0" and int(refused.headers["retry-after"]) > 0
    assert client.simulate_get(ROUTE, params=params).status_code == 429  # one budget for both methods
    assert aggregations == []


def test_head_takes_no_export_slot(db, seeded):
    """With the only slot held by a GET whose file is still being sent, HEAD is answered; another GET is 503."""
    app = make_app(ExportSettings(database=db, max_concurrent_exports=1, anonymous_limits="1000/minute"))
    client = falcon.testing.TestClient(app)
    query = "format=json&scope=anon&short_code=abc&start_date=2025-03-09&end_date=2025-03-10"
    body = open_response(app, ROUTE, query)
    try:
        assert body.status == 200  # the slot is held until the body is sent or closed
        assert client.simulate_head(ROUTE, query_string=query).status_code == 200
        busy = client.simulate_get(ROUTE, query_string=query)
        assert busy.status_code == 503 and busy.headers["retry-after"] == "5"
    finally:
        body.close()
    assert client.simulate_get(ROUTE, query_string=query).status_code == 200


def test_head_of_the_openapi_document(db):
    client = make_client(db)
    head, get = client.simulate_head(ROUTE + "/openapi.json"), client.simulate_get(ROUTE + "/openapi.json")
    assert head.status_code == get.status_code == 200
    assert head.content == b"" and dict(head.headers) == dict(get.headers)
    assert int(head.headers["content-length"]) == len(get.content)


@pytest.mark.parametrize("job_queue", [None, "immediate://"], ids=["jobs-off", "jobs-on"])
def test_every_route_that_answers_get_answers_head(db, job_queue):
    """Routes added later get HEAD from the same mechanism, or this fails (the job routes too)."""
    routes = falcon.inspect.inspect_app(make_app(ExportSettings(database=db, job_queue=job_queue))).routes
    jobs = {ROUTE + "/jobs", ROUTE + "/jobs/{job_id}", ROUTE + "/jobs/{job_id}/file"}
    assert len(routes) >= 4 and (jobs <= {route.path for route in routes}) is bool(job_queue)
    for route in routes:
        served = {m.method: m.function_name for m in route.methods if not m.internal}
        assert "GET" in served and served.get("HEAD") == served["GET"], route.path


def test_head_through_the_middleware(db, seeded, aggregations):
    def host(environ: dict, start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"host"]

    client = falcon.testing.TestClient(ExportMiddleware(host, ExportSettings(database=db)))
    head = client.simulate_head(ROUTE, params={"format": "json", "scope": "anon", "short_code": "abc", **RANGE})
    assert head.status_code == 200 and head.headers["content-disposition"].startswith("attachment;")
    assert head.headers["x-ratelimit-limit"] == "10" and aggregations == []
    assert client.simulate_head("/").headers["content-type"] == "text/plain"  # the host's, untouched
