"""The OpenAPI 3.1 document: valid, served next to the route, and in step with the code
(every parameter the parser reads, the formats' media types, the error shape)."""

from __future__ import annotations

import inspect
import json
import re
from datetime import datetime
from importlib import resources

import falcon.testing
import jsonschema
import pytest

from spoo_export_plugin import ExportMiddleware, ExportSettings
from spoo_export_plugin.core.request import params, query_values
from spoo_export_plugin.formats import FORMATS
from spoo_export_plugin.web.openapi import load_document

from ..doors import make_app
from ..factories import ROUTE, add_url, make_click

#: HTTP-level: each test runs through both doors (WSGI and ASGI, tests/doors.py).
pytestmark = pytest.mark.usefixtures("door")

PARAMETERS = {
    "format",
    "scope",
    "short_code",
    "start_date",
    "end_date",
    "period",
    "compare",
    "group_by",
    "metrics",
    "timezone",
    "granularity",
    "exclude_bots",
    "filters",
    "exclude",
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
    "url_id",
    "domain",
}


@pytest.fixture(scope="module")
def document() -> dict:
    """The document as served for the default route (the shipped file plus the version and HEAD)."""
    return load_document()


def test_the_version_is_written_once():
    """pyproject, ``__version__``, ``spoo-export --version`` and the document's info all read _version.py."""
    from importlib.metadata import version

    import spoo_export_plugin
    from spoo_export_plugin._version import __version__

    shipped = json.loads(resources.files("spoo_export_plugin.web").joinpath("openapi.json").read_text("utf-8"))
    assert "version" not in shipped["info"]  # no second copy to forget
    assert load_document()["info"]["version"] == spoo_export_plugin.__version__ == __version__
    assert version("spoo_export_plugin") == __version__


def operation(document: dict) -> dict:
    return document["paths"][ROUTE]["get"]


def test_document_is_valid_openapi_3_1(document):
    validator = pytest.importorskip("openapi_spec_validator")
    assert document["openapi"].startswith("3.1")
    validator.validate(document)  # raises on any violation
    validator.validate(load_document("/stats/export"))  # as served: HEAD added beside every GET


def test_preflight_is_described_only_when_cors_is_on():
    validator = pytest.importorskip("openapi_spec_validator")
    with_cors = load_document(cors=True)
    validator.validate(with_cors)
    for path, item in with_cors["paths"].items():
        preflight = item["options"]
        assert preflight["security"] == [{}] and list(preflight["responses"]) == ["200"], path
        assert "content" not in preflight["responses"]["200"]
    assert all("options" not in item for item in load_document()["paths"].values())


def test_head_is_described_beside_every_get():
    """HEAD: GET's parameters, security, statuses and headers, and no content."""
    served = load_document()
    assert served["paths"]
    for path, item in served["paths"].items():
        get, head = item["get"], item["head"]
        assert head["parameters"] == get["parameters"] and head["security"] == get["security"], path
        assert head["operationId"] != get["operationId"]
        assert set(head["responses"]) == set(get["responses"])
        for status, response in head["responses"].items():
            assert "content" not in response
            assert response["headers"] == get["responses"][status]["headers"]
            assert response["description"] == get["responses"][status]["description"]


def test_every_query_parameter_the_parser_reads_is_documented(document):
    documented = {p["name"]: p for p in operation(document)["parameters"]}
    assert set(documented) == PARAMETERS
    assert all(p["in"] == "query" and p["description"] for p in documented.values())
    assert [n for n, p in documented.items() if p["required"]] == ["format"]
    # the parser's own source (and its readers', which name `domain`) names exactly these parameters
    source = inspect.getsource(params) + inspect.getsource(query_values)
    # (each filter dimension and url_id is read by a loop over their names)
    read = set(re.findall(r'params, "(\w+)"', source)) | set(params.FILTER_DIMENSIONS) | {"url_id"}
    assert read == PARAMETERS


def test_declared_dimensions_are_in_the_served_document(db):
    client = falcon.testing.TestClient(
        make_app(ExportSettings(database=db, extra_dimensions={"platform": "ua.device"}))
    )
    served = client.simulate_get(ROUTE + "/openapi.json").json
    names = [p["name"] for p in served["paths"][ROUTE]["get"]["parameters"]]
    assert names[-1] == "platform" and set(names) == PARAMETERS | {"platform"}


@pytest.mark.parametrize(
    "name, values, blank_ok",
    [
        ("scope", params.SCOPES, True),
        ("granularity", params.GRANULARITIES, True),
        ("exclude_bots", ("true", "false", "1", "0", "TRUE", "False"), True),
    ],
)
def test_choice_patterns_accept_exactly_what_the_parser_accepts(document, name, values, blank_ok):
    schema = next(p["schema"] for p in operation(document)["parameters"] if p["name"] == name)
    pattern = re.compile(schema["pattern"])
    for value in values:
        assert pattern.search(value) and pattern.search(f" \t{value}\u3000")
    assert bool(pattern.search("")) is blank_ok
    for wrong in ("nope", "json json", "x" + str(values[0]), "\x00" + str(values[0])):
        assert not pattern.search(wrong)


def test_format_is_an_enum_of_every_format_each_described(db, document):
    """An enum (Swagger UI shows a drop-down) of exactly the registered formats, each one described;
    the server answers each, and a value outside the enum is a 400 naming `format`."""
    schema = next(p for p in operation(document)["parameters"] if p["name"] == "format")
    assert schema["schema"] == {"type": "string", "enum": ["json", "xml", "xlsx", "csv", "html"]}
    assert sorted(schema["schema"]["enum"]) == sorted(FORMATS)
    assert all(f"`{name}`" in schema["description"] for name in FORMATS)
    assert all(name in document["info"]["description"] for name in FORMATS)
    link = next(p for p in document["paths"][ROUTE + "/links/{url_id}"]["get"]["parameters"] if p["name"] == "format")
    assert link == schema
    add_url(db, "pub", created_at=datetime(2025, 3, 1))
    client = falcon.testing.TestClient(make_app(ExportSettings(database=db)))
    for value in schema["schema"]["enum"] + [" json\t"]:  # surrounding whitespace is ignored, as documented
        resp = client.simulate_get(ROUTE, params={"format": value, "scope": "anon", "short_code": "pub"})
        assert resp.status_code == 200, (value, resp.text)
    for value in ("JSON", "pdf", "json,xml"):
        resp = client.simulate_get(ROUTE, params={"format": value, "scope": "anon", "short_code": "pub"})
        assert (resp.status_code, resp.json["param"]) == (400, "format"), value
        jsonschema.validate("json", schema["schema"])
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(value, schema["schema"])


def test_responses_media_types_headers_and_error_schema(document):
    responses = operation(document)["responses"]
    assert set(responses) == {"200", "400", "401", "403", "404", "429", "503"}
    assert set(responses["200"]["content"]) == {f.media_type for f in FORMATS.values()}
    assert len(responses["200"]["content"]) == 5
    for status, response in responses.items():
        assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} <= set(response["headers"])
        if status != "200":
            assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
        assert ("Retry-After" in response["headers"]) is (status in ("429", "503"))
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error", "param"] and error["additionalProperties"] is False
    headers = document["components"]["headers"]
    assert all(headers[h]["required"] for h in headers)


def test_every_401_documents_the_bearer_challenge(document):
    """Every operation's 401, on every path, names WWW-Authenticate; its pattern takes exactly the two challenges."""
    answers_401 = [
        op["responses"]["401"]
        for item in document["paths"].values()
        for op in item.values()
        if isinstance(op, dict) and "401" in op.get("responses", {})
    ]
    assert answers_401
    for response in answers_401:
        assert response["headers"]["WWW-Authenticate"] == {"$ref": "#/components/headers/WWW-Authenticate"}
    pattern = re.compile(document["components"]["headers"]["WWW-Authenticate"]["schema"]["pattern"])
    assert pattern.search("Bearer") and pattern.search('Bearer error="invalid_token"')
    assert not pattern.search("Basic") and not pattern.search('Bearer error="invalid_request"')


def _resolve(document: dict, name: str) -> dict:
    """The named component schema with its references inlined (for jsonschema)."""
    schemas = document["components"]["schemas"]
    text = json.dumps(schemas[name])
    for other in schemas:
        text = text.replace(json.dumps({"$ref": f"#/components/schemas/{other}"}), json.dumps(schemas[other]))
    return json.loads(text)


def test_real_responses_match_the_schemas(db, document):
    add_url(db, "abc", None)
    from datetime import datetime

    db.clicks.insert_many(
        [
            make_click("abc", None, datetime(2025, 3, 9, h), browser=b)
            for h, b in ((6, "Chrome"), (7, "Firefox"), (8, None))
        ]
    )
    client = falcon.testing.TestClient(make_app(ExportSettings(database=db, anonymous_limits="1000/minute")))
    ok = client.simulate_get(
        ROUTE,
        params={
            "format": "json",
            "scope": "anon",
            "short_code": "abc",
            "start_date": "2025-03-09",
            "end_date": "2025-03-10",
            "group_by": "time,browser,referrer",
        },
    )
    assert ok.status_code == 200
    jsonschema.validate(ok.json, _resolve(document, "Report"))
    with pytest.raises(jsonschema.ValidationError):  # the schema is not vacuous
        jsonschema.validate({**ok.json, "summary": {"total_clicks": "3"}}, _resolve(document, "Report"))
    bad = client.simulate_get(
        ROUTE, params={"format": "json", "scope": "anon", "short_code": "abc", "timezone": "Nowhere/Land"}
    )
    assert bad.status_code == 400
    jsonschema.validate(bad.json, _resolve(document, "Error"))


def test_served_next_to_the_route_with_the_configured_route(db):
    client = falcon.testing.TestClient(make_app(ExportSettings(database=db, route="/stats/export")))
    resp = client.simulate_get("/stats/export/openapi.json")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    assert list(resp.json["paths"]) == ["/stats/export", "/stats/export/links/{url_id}", "/stats/export/clicks"]
    assert resp.json["paths"]["/stats/export"] == load_document()["paths"][ROUTE]
    assert resp.json["paths"]["/stats/export/links/{url_id}"] == load_document()["paths"][ROUTE + "/links/{url_id}"]
    assert resp.json["paths"]["/stats/export/clicks"] == load_document()["paths"][ROUTE + "/clicks"]


def test_the_link_route_takes_the_main_parameters_but_scope_and_short_code(document):
    link = document["paths"][ROUTE + "/links/{url_id}"]["get"]
    names = [p["name"] for p in link["parameters"]]
    assert names[0] == "url_id" and link["parameters"][0]["in"] == "path" and link["parameters"][0]["required"]
    # domain is the domain dimension's comma parameter there (it picks the URL only with scope=anon)
    assert set(names[1:]) == PARAMETERS - {"scope", "short_code"}
    domain = next(p for p in link["parameters"] if p["name"] == "domain")
    assert "scope" not in domain["description"] and "`filters` with key `domain`" in domain["description"]
    assert link["responses"] == operation(document)["responses"]


def test_served_through_the_middleware_and_host_untouched(db):
    def host(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"host"]

    client = falcon.testing.TestClient(ExportMiddleware(host, ExportSettings(database=db)))
    resp = client.simulate_get(ROUTE + "/openapi.json")
    assert resp.status_code == 200 and resp.json["openapi"] == "3.1.0"
    assert client.simulate_get("/openapi.json").text == "host"
