"""Where the schedule routes exist: only with ``job_queue`` set (else 404, and the middleware leaves the
paths to the host), exactly their paths (``PluginPaths``), in the OpenAPI document only when on (its
schemas those of the real answers), and with CORS the preflight allows what each route takes."""

from __future__ import annotations

from typing import Any

import falcon.testing
import jsonschema
import pytest
from starlette.testclient import TestClient as StarletteClient

from spoo_export_plugin import ExportASGIMiddleware, ExportMiddleware, ExportSettings
from spoo_export_plugin.web.middleware import PluginPaths
from spoo_export_plugin.web.openapi import load_document

from ..doors import make_app
from ..factories import ROUTE
from .jobs_support import jobs_client, seed
from .schedules_support import BODY, SCHEDULES, create, schedule_settings
from .test_jobs_routing import ORIGIN, preflight, wsgi_host

#: HTTP-level: each test runs through both doors (WSGI and ASGI, tests/doors.py).
pytestmark = pytest.mark.usefixtures("door")

SCHEDULE = "650000000000000000000123"
SCHEDULE_PATHS = [SCHEDULES, f"{SCHEDULES}/{SCHEDULE}"]
NOT_SCHEDULE_PATHS = [
    ROUTE + "/schedulesx",
    SCHEDULES + "/",
    f"{SCHEDULES}/{SCHEDULE}/",
    f"{SCHEDULES}/{SCHEDULE}/x",
    f"{SCHEDULES}/a/b",
    f"{SCHEDULES}//x",
    ROUTE + "x/schedules",
    "/schedules",
]


@pytest.fixture
def data(db: Any) -> dict[str, Any]:
    return seed(db)


def test_without_a_queue_the_schedule_routes_are_404(data):
    client = falcon.testing.TestClient(make_app(ExportSettings(database=data["db"])))
    for path in SCHEDULE_PATHS:
        for method in ("GET", "POST", "PATCH", "DELETE", "HEAD"):
            body = BODY if method in ("POST", "PATCH") else None
            assert client.simulate_request(method, path, headers=data["auth"], json=body).status_code == 404
    assert SCHEDULES not in client.simulate_get(ROUTE + "/openapi.json").json["paths"]


def test_plugin_paths_with_and_without_jobs():
    on, off = PluginPaths(ROUTE, jobs=True), PluginPaths(ROUTE)
    assert all(on(path) and not off(path) for path in SCHEDULE_PATHS)
    assert not any(on(path) or off(path) for path in NOT_SCHEDULE_PATHS)
    slash = PluginPaths("/", jobs=True)
    assert all(slash(path) for path in ("/schedules", f"/schedules/{SCHEDULE}", "/jobs", "/clicks"))
    assert not any(slash(path) for path in ("/schedulesx", "/schedules/", "/schedules/a/b", "//schedules"))


@pytest.mark.parametrize("jobs_on", [True, False], ids=["jobs-on", "jobs-off"])
def test_the_wsgi_middleware_routes_exactly_the_schedule_paths(data, jobs_on):
    seen: list[str] = []
    settings = schedule_settings(data["db"]) if jobs_on else ExportSettings(database=data["db"])
    client = falcon.testing.TestClient(ExportMiddleware(wsgi_host(seen), settings))
    for path in NOT_SCHEDULE_PATHS + ([] if jobs_on else SCHEDULE_PATHS):
        assert client.simulate_get(path, headers=data["auth"]).text == "host", path
    assert len(seen) == len(NOT_SCHEDULE_PATHS) + (0 if jobs_on else len(SCHEDULE_PATHS))
    if jobs_on:
        created = create(client, data["auth"])
        assert created.status_code == 201
        one = created.headers["location"]
        assert client.simulate_patch(one, json={"paused": True}, headers=data["auth"]).json["paused"] is True
        assert client.simulate_delete(one, headers=data["auth"]).status_code == 204
        assert len(seen) == len(NOT_SCHEDULE_PATHS)


def test_the_asgi_middleware_routes_exactly_the_schedule_paths(data):
    seen: list[str] = []

    async def host(scope: dict, receive: Any, send: Any) -> None:
        seen.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"host"})

    client = StarletteClient(ExportASGIMiddleware(host, settings=schedule_settings(data["db"])))
    for path in NOT_SCHEDULE_PATHS:
        assert client.get(path, headers=data["auth"]).text == "host", path
    created = client.post(SCHEDULES, json=BODY, headers=data["auth"])
    assert created.status_code == 201 and created.headers["location"] == f"{SCHEDULES}/{created.json()['id']}"
    one = created.headers["location"]
    assert client.patch(one, json={"paused": True}, headers=data["auth"]).json()["next_run_at"] is None
    assert client.get(SCHEDULES, headers=data["auth"]).json()["schedules"][0]["paused"] is True
    assert client.delete(one, headers=data["auth"]).status_code == 204
    assert len(seen) == len(NOT_SCHEDULE_PATHS)


def _resolved(document: dict, name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}", "components": document["components"]}


def test_the_document_lists_the_schedule_routes_only_when_on(data):
    validator = pytest.importorskip("openapi_spec_validator")
    on = jobs_client(schedule_settings(data["db"])).simulate_get(ROUTE + "/openapi.json").json
    validator.validate(on)
    assert set(on["paths"][SCHEDULES]) == {"get", "head", "post"}
    assert set(on["paths"][SCHEDULES + "/{schedule_id}"]) == {"get", "head", "patch", "delete"}
    off = load_document()
    assert not [path for path in off["paths"] if "/schedules" in path]
    assert not {"Schedule", "ScheduleList", "ScheduleCreation", "SchedulePause"} & set(off["components"]["schemas"])
    declared = load_document(extra_dimensions=("platform",), jobs=True)
    assert all("platform" not in str(item) for path, item in declared["paths"].items() if "/schedules" in path)
    validator.validate(load_document("/", cors=True, jobs=True))


def test_real_schedule_answers_match_the_documented_schemas(data):
    document = load_document(jobs=True)
    client = jobs_client(schedule_settings(data["db"]))
    created = create(client, data["auth"], email=["team@example.com"])
    assert created.status_code == 201
    jsonschema.validate(created.json, _resolved(document, "Schedule"))
    listed = client.simulate_get(SCHEDULES, headers=data["auth"]).json
    jsonschema.validate(listed, _resolved(document, "ScheduleList"))
    paused = client.simulate_patch(f"{SCHEDULES}/{created.json['id']}", json={"paused": True}, headers=data["auth"])
    jsonschema.validate(paused.json, _resolved(document, "Schedule"))
    with pytest.raises(jsonschema.ValidationError):  # the schema is not vacuous
        jsonschema.validate({**created.json, "paused": "no"}, _resolved(document, "Schedule"))
    jsonschema.validate({**BODY, "email": ["team@example.com"]}, _resolved(document, "ScheduleCreation"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**BODY, "when": "now"}, _resolved(document, "ScheduleCreation"))
    jsonschema.validate({"paused": False}, _resolved(document, "SchedulePause"))
    refused = create(client, data["auth"], cron="@daily").json
    jsonschema.validate(refused, _resolved(document, "Error"))
    location = document["paths"][SCHEDULES]["post"]["responses"]["201"]["headers"]["Location"]["$ref"]
    pattern = document["components"]["headers"][location.rsplit("/", 1)[1]]["schema"]["pattern"]
    jsonschema.validate(created.headers["location"], {"type": "string", "pattern": pattern})


def test_cors_preflight_allows_what_each_schedule_route_takes(data):
    client = jobs_client(schedule_settings(data["db"], cors_origins=ORIGIN))
    document = client.simulate_get(ROUTE + "/openapi.json").json
    for path, template, method in (
        (SCHEDULES, SCHEDULES, "POST"),
        (f"{SCHEDULES}/{SCHEDULE}", SCHEDULES + "/{schedule_id}", "PATCH"),
    ):
        answer = preflight(client, path, method)
        assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == ORIGIN
        allowed = answer.headers["access-control-allow-methods"]
        documented = document["paths"][template]["options"]["responses"]["200"]["headers"]
        assert documented["Access-Control-Allow-Methods"]["description"] == f"`{allowed}`."
        assert set(allowed.split(", ")) == {m.upper() for m in document["paths"][template] if m != "options"}
    assert preflight(client, f"{SCHEDULES}/{SCHEDULE}", "PATCH").headers["access-control-allow-methods"] == (
        "DELETE, GET, HEAD, PATCH"
    )
    created = create(client, {**data["auth"], "Origin": ORIGIN})
    assert created.status_code == 201 and created.headers["access-control-allow-origin"] == ORIGIN
    assert created.headers["access-control-expose-headers"].endswith("X-RateLimit-Reset, Location")
    one = created.headers["location"]
    patched = client.simulate_patch(one, json={"paused": True}, headers={**data["auth"], "Origin": ORIGIN})
    assert patched.status_code == 200 and patched.headers["access-control-allow-origin"] == ORIGIN
