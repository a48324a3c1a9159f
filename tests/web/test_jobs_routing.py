"""Where the job routes exist: only with ``job_queue`` set (else 404, and the middleware leaves the
paths to the host), exactly their paths (``PluginPaths``), in the OpenAPI document only when on,
and with CORS the preflight allows what each route takes."""

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
from .jobs_support import JOBS, RANGE, get_path, job_settings, jobs_client, seed, submit

#: HTTP-level: each test runs through both doors (WSGI and ASGI, tests/doors.py).
pytestmark = pytest.mark.usefixtures("door")

ORIGIN = "https://app.example"
JOB = "650000000000000000000123"
JOB_PATHS = [JOBS, f"{JOBS}/{JOB}", f"{JOBS}/{JOB}/file"]
NOT_JOB_PATHS = [
    ROUTE + "/jobsx",
    JOBS + "/",
    f"{JOBS}/{JOB}/",
    f"{JOBS}/{JOB}/filex",
    f"{JOBS}/{JOB}/file/x",
    f"{JOBS}//file",
    f"{JOBS}/{JOB}/other",
    ROUTE + "x/jobs",
    "/jobs",
]


@pytest.fixture
def data(db: Any) -> dict[str, Any]:
    return seed(db)


def test_without_a_queue_the_job_routes_are_404(data):
    client = falcon.testing.TestClient(make_app(ExportSettings(database=data["db"])))
    for path in JOB_PATHS:
        for method in ("GET", "POST", "DELETE", "HEAD"):
            answer = client.simulate_request(
                method, path, headers=data["auth"], json={"url": ROUTE} if method == "POST" else None
            )
            assert answer.status_code == 404, (method, path)
    assert ROUTE + "/jobs" not in client.simulate_get(ROUTE + "/openapi.json").json["paths"]


def test_plugin_paths_with_and_without_jobs():
    on, off = PluginPaths(ROUTE, jobs=True), PluginPaths(ROUTE)
    assert all(on(path) and not off(path) for path in JOB_PATHS)
    assert not any(on(path) or off(path) for path in NOT_JOB_PATHS)
    slash = PluginPaths("/", jobs=True)
    assert all(slash(path) for path in ("/jobs", f"/jobs/{JOB}", f"/jobs/{JOB}/file", "/clicks"))
    assert not any(slash(path) for path in ("/jobsx", "/jobs/", f"/jobs/{JOB}/x", "//jobs"))


def wsgi_host(seen: list[str]) -> Any:
    def host(environ: dict, start_response: Any) -> list[bytes]:
        seen.append(environ["REQUEST_METHOD"] + " " + environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"host"]

    return host


@pytest.mark.parametrize("jobs_on", [True, False], ids=["jobs-on", "jobs-off"])
def test_the_wsgi_middleware_routes_exactly_the_job_paths(data, jobs_on):
    seen: list[str] = []
    settings = job_settings(data["db"]) if jobs_on else ExportSettings(database=data["db"])
    client = falcon.testing.TestClient(ExportMiddleware(wsgi_host(seen), settings))
    for path in NOT_JOB_PATHS + ([] if jobs_on else JOB_PATHS):
        assert client.simulate_get(path, headers=data["auth"]).text == "host", path
    assert len(seen) == len(NOT_JOB_PATHS) + (0 if jobs_on else len(JOB_PATHS))
    if jobs_on:
        job = submit(client, get_path("clicks", data, {**RANGE, "format": "csv"}), data["auth"])
        assert job.status_code == 202 and job.json["status"] == "done"
        assert client.simulate_get(f"{JOBS}/{job.json['id']}/file", headers=data["auth"]).status_code == 200
        assert client.simulate_get(JOBS, headers=data["auth"]).json["jobs"][0]["id"] == job.json["id"]


def test_the_asgi_middleware_routes_exactly_the_job_paths(data):
    seen: list[str] = []

    async def host(scope: dict, receive: Any, send: Any) -> None:
        seen.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"host"})

    client = StarletteClient(ExportASGIMiddleware(host, settings=job_settings(data["db"])))
    for path in NOT_JOB_PATHS:
        assert client.get(path, headers=data["auth"]).text == "host", path
    assert len(seen) == len(NOT_JOB_PATHS)
    url = get_path("clicks", data, {**RANGE, "format": "csv"})
    job = client.post(JOBS, json={"url": url}, headers=data["auth"])
    assert job.status_code == 202 and job.headers["location"] == f"{JOBS}/{job.json()['id']}"
    file_path, _, query = job.json()["file_url"].partition("?")
    assert client.get(file_path + "?" + query).status_code == 200
    assert client.delete(f"{JOBS}/{job.json()['id']}", headers=data["auth"]).status_code == 204
    assert len(seen) == len(NOT_JOB_PATHS)


def _resolved(document: dict, name: str) -> dict:
    """A component schema that can refer to the others, for jsonschema."""
    return {"$ref": f"#/components/schemas/{name}", "components": document["components"]}


def test_the_document_lists_the_job_routes_only_when_on(data):
    validator = pytest.importorskip("openapi_spec_validator")
    on = jobs_client(job_settings(data["db"])).simulate_get(ROUTE + "/openapi.json").json
    off = jobs_client(ExportSettings(database=data["db"])).simulate_get(ROUTE + "/openapi.json").json
    validator.validate(on)
    assert on == load_document(jobs=True) and off == load_document()
    schedules = {ROUTE + "/schedules", ROUTE + "/schedules/{schedule_id}"}  # test_schedules_routing.py
    assert set(on["paths"]) - set(off["paths"]) == {JOBS, JOBS + "/{job_id}", JOBS + "/{job_id}/file", *schedules}
    assert set(on["paths"][JOBS]) == {"get", "head", "post"}
    assert set(on["paths"][JOBS + "/{job_id}"]) == {"get", "head", "delete"}
    assert set(on["paths"][JOBS + "/{job_id}/file"]) == {"get", "head"}
    assert not {"Job", "JobList", "JobSubmission"} & set(off["components"]["schemas"])
    for item in on["paths"].values():  # a declared dimension's parameter only on the export routes
        assert all(p["name"] != "platform" for op in item.values() for p in op.get("parameters", []))
    declared = load_document(extra_dimensions=("platform",), jobs=True)
    assert all("platform" not in str(item) for path, item in declared["paths"].items() if "/jobs" in path)
    validator.validate(load_document("/", cors=True, jobs=True))


def test_real_job_answers_match_the_documented_schemas(data):
    document = load_document(jobs=True)
    client = jobs_client(job_settings(data["db"]))
    submitted = submit(client, get_path("clicks", data, {**RANGE, "format": "json"}), data["auth"])
    assert submitted.status_code == 202
    jsonschema.validate(submitted.json, _resolved(document, "Job"))
    listed = client.simulate_get(JOBS, headers=data["auth"]).json
    jsonschema.validate(listed, _resolved(document, "JobList"))
    with pytest.raises(jsonschema.ValidationError):  # the schema is not vacuous
        jsonschema.validate({**submitted.json, "status": "lost"}, _resolved(document, "Job"))
    downloaded = client.simulate_get(f"{JOBS}/{submitted.json['id']}/file", headers=data["auth"]).json
    file_schema = document["paths"][JOBS + "/{job_id}/file"]["get"]["responses"]["200"]["content"]["application/json"]
    jsonschema.validate(downloaded, {**file_schema["schema"], "components": document["components"]})
    refused = client.simulate_post(JOBS, json={"url": 1}, headers=data["auth"]).json
    jsonschema.validate(refused, _resolved(document, "Error"))
    body = {"url": submitted.json["url"], "webhook_url": None}
    jsonschema.validate(body, _resolved(document, "JobSubmission"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**body, "when": "now"}, _resolved(document, "JobSubmission"))


def preflight(client: falcon.testing.TestClient, path: str, method: str) -> Any:
    headers = {
        "Origin": ORIGIN,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    return client.simulate_options(path, headers=headers)


def test_cors_preflight_allows_what_each_job_route_takes(data):
    client = jobs_client(job_settings(data["db"], cors_origins=ORIGIN))
    document = client.simulate_get(ROUTE + "/openapi.json").json
    for path, template in zip(JOB_PATHS, (JOBS, JOBS + "/{job_id}", JOBS + "/{job_id}/file"), strict=True):
        answer = preflight(client, path, "POST" if path == JOBS else "GET")
        assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == ORIGIN
        allowed = answer.headers["access-control-allow-methods"]
        documented = document["paths"][template]["options"]["responses"]["200"]["headers"][
            "Access-Control-Allow-Methods"
        ]
        assert documented["description"] == f"`{allowed}`."
        assert set(allowed.split(", ")) == {m.upper() for m in document["paths"][template] if m != "options"}
    submitted = client.simulate_post(
        JOBS,
        json={"url": get_path("clicks", data, {**RANGE, "format": "csv"})},
        headers={**data["auth"], "Origin": ORIGIN},
    )
    assert submitted.status_code == 202 and submitted.headers["access-control-allow-origin"] == ORIGIN
    assert submitted.headers["access-control-expose-headers"].endswith("X-RateLimit-Reset, Location")
    deleted = client.simulate_delete(f"{JOBS}/{submitted.json['id']}", headers={**data["auth"], "Origin": ORIGIN})
    assert deleted.status_code == 204 and deleted.headers["access-control-allow-origin"] == ORIGIN
