"""The plugin's paths for any ``route`` (``/``, ``/x``, ``/x/``) and any mount (SCRIPT_NAME).

The OpenAPI document names the paths the app really serves (no ``//``), with a ``servers`` entry
holding the mount's prefix when mounted, so server URL + path reaches each route; and
``ExportMiddleware`` with ``route="/"`` sends the plugin only its own paths.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import falcon.testing
import flask
import pytest
from bson import ObjectId
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.test import Client

from spoo_export_plugin import ExportMiddleware, ExportSettings, create_app
from spoo_export_plugin.web.openapi import load_document

from ..factories import add_api_key, add_url, make_click

OWNER = ObjectId("650000000000000000000001")
QUERY = {"format": "json", "start_date": "2025-03-01", "end_date": "2025-03-10"}

# route -> the document's paths, in order; the OpenAPI document itself is served at the last one
EXPECTED = {
    "/": (["/", "/links/{url_id}", "/clicks"], "/openapi.json"),
    "/x": (["/x", "/x/links/{url_id}", "/x/clicks"], "/x/openapi.json"),
    "/x/": (["/x/", "/x/links/{url_id}", "/x/clicks"], "/x/openapi.json"),
    "/a/b": (["/a/b", "/a/b/links/{url_id}", "/a/b/clicks"], "/a/b/openapi.json"),
}


@pytest.fixture
def seeded(db: Any) -> dict[str, Any]:
    url_id = add_url(db, "abc", OWNER, created_at=datetime(2025, 3, 1))
    db.clicks.insert_many([make_click("abc", OWNER, datetime(2025, 3, day, 12)) for day in (2, 3, 3)])
    return {"db": db, "url_id": str(url_id), "auth": {"Authorization": f"Bearer {add_api_key(db, OWNER)}"}}


def settings_for(db: Any, route: str) -> ExportSettings:
    return ExportSettings(database=db, route=route, authenticated_limits="1000/minute")


def concrete(path: str, url_id: str) -> str:
    return path.replace("{url_id}", url_id)


def answered_by_the_export(status: int, body: bytes) -> dict[str, Any]:
    """A 200 JSON export of the three clicks (statistics or raw clicks; a path that missed the route is a 404)."""
    assert status == 200, body[:300]
    report = json.loads(body)
    assert report["summary"]["total_clicks"] == 3
    assert len(report["clicks"]) == 3 if "clicks" in report else report["summary"]["unique_clicks"] == 1
    return report


@pytest.mark.parametrize("route", list(EXPECTED))
def test_the_document_names_the_paths_the_app_serves(seeded, route):
    paths, document_path = EXPECTED[route]
    client = falcon.testing.TestClient(create_app(settings_for(seeded["db"], route)))
    resp = client.simulate_get(document_path)
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/json"
    assert list(resp.json["paths"]) == paths
    assert "servers" not in resp.json  # not mounted: the document as it always was
    assert resp.json == load_document(route)
    pytest.importorskip("openapi_spec_validator").validate(resp.json)
    for path in paths:
        answer = client.simulate_get(concrete(path, seeded["url_id"]), params=QUERY, headers=seeded["auth"])
        answered_by_the_export(answer.status_code, answer.content)


@pytest.mark.parametrize("root_path", ["/stats", "/stats/", "/a/b"])
def test_under_a_mount_the_document_has_the_prefix_as_its_server(seeded, root_path):
    client = falcon.testing.TestClient(create_app(settings_for(seeded["db"], "/")))
    resp = client.simulate_get("/openapi.json", root_path=root_path)
    assert resp.status_code == 200
    assert resp.json["servers"] == [{"url": root_path.rstrip("/")}]
    assert list(resp.json) == ["openapi", "info", "servers", "paths", "components"]
    assert {key: value for key, value in resp.json.items() if key != "servers"} == load_document("/")
    pytest.importorskip("openapi_spec_validator").validate(resp.json)
    head = client.simulate_head("/openapi.json", root_path=root_path)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(resp.content))
    unmounted = client.simulate_get("/openapi.json")  # the same app, another request: no servers
    assert "servers" not in unmounted.json


def test_a_mount_prefix_is_percent_encoded_in_the_server_url(db):
    client = falcon.testing.TestClient(create_app(settings_for(db, "/api")))
    resp = client.simulate_get("/api/openapi.json", root_path="/my stats/{x}")
    assert resp.json["servers"] == [{"url": "/my%20stats/%7Bx%7D"}]  # a raw { would be a server variable


@pytest.mark.parametrize("route", ["/", "/x", "/x/"])
def test_server_url_plus_path_reaches_each_route_under_a_real_mount(seeded, route):
    """A WSGI dispatcher mounts the plugin at /stats; a client reads the document and joins its URLs."""
    mounted = DispatcherMiddleware(flask.Flask("root"), {"/stats": create_app(settings_for(seeded["db"], route))})
    client = Client(mounted)
    document = json.loads(client.get("/stats" + EXPECTED[route][1]).get_data())
    (server,) = document["servers"]
    assert server == {"url": "/stats"}
    assert list(document["paths"]) == EXPECTED[route][0]
    for path in document["paths"]:
        resp = client.get(server["url"] + concrete(path, seeded["url_id"]), query_string=QUERY, headers=seeded["auth"])
        answered_by_the_export(resp.status_code, resp.get_data())


# --------------------------------------------------------------------------------------
# ExportMiddleware with route="/" around a Flask host
# --------------------------------------------------------------------------------------


def flask_host(seen: list[str]) -> flask.Flask:
    """A host answering every path itself, recording each one it sees."""
    app = flask.Flask("host")

    @app.route("/", defaults={"rest": ""})
    @app.route("/<path:rest>")
    def anything(rest: str) -> Any:
        seen.append(flask.request.path)
        return {"host": flask.request.path}

    return app


PLUGIN_PATHS = ["/", "/openapi.json", "/clicks", "/links/{url_id}"]
HOST_PATHS = [
    "/links",
    "/links/",
    "/links/{url_id}/more",
    "/clicks/",
    "/clicks/x",
    "/openapi.json/x",
    "/openapi.jsonx",
    "/about",
    "/x/clicks",
    "/api/v1/export",
    "//openapi.json",
]


@pytest.fixture
def wrapped(seeded) -> dict[str, Any]:
    seen: list[str] = []
    host = flask_host(seen)
    host.wsgi_app = ExportMiddleware(host.wsgi_app, settings_for(seeded["db"], "/"))  # type: ignore[method-assign]
    return {"client": Client(host), "seen": seen, **seeded}


@pytest.mark.parametrize("path", PLUGIN_PATHS)
def test_middleware_with_route_slash_sends_the_plugin_its_own_paths(wrapped, path):
    resp = wrapped["client"].get(concrete(path, wrapped["url_id"]), query_string=QUERY, headers=wrapped["auth"])
    if path == "/openapi.json":
        assert resp.status_code == 200 and list(json.loads(resp.get_data())["paths"]) == EXPECTED["/"][0]
    else:
        answered_by_the_export(resp.status_code, resp.get_data())
    assert wrapped["seen"] == []


@pytest.mark.parametrize("path", HOST_PATHS)
def test_middleware_with_route_slash_leaves_every_other_path_to_the_host(wrapped, path):
    raw = {"PATH_INFO": concrete(path, wrapped["url_id"])}  # as sent (the test client reads //x as a host)
    resp = wrapped["client"].get("/", query_string=QUERY, headers=wrapped["auth"], environ_overrides=raw)
    assert resp.status_code in (200, 308), resp.get_data()[:200]  # 308: Flask's own slash redirect
    assert len(wrapped["seen"]) == (resp.status_code == 200)
    if resp.status_code == 200:
        assert json.loads(resp.get_data()) == {"host": wrapped["seen"][0]}


def test_middleware_under_a_mount_serves_the_document_with_the_mount_as_server(wrapped):
    """The wrapped host mounted at /stats (SCRIPT_NAME): the plugin's routes are relative to it."""
    client = wrapped["client"]
    resp = client.get("/openapi.json", base_url="http://localhost/stats/")
    document = json.loads(resp.get_data())
    assert document["servers"] == [{"url": "/stats"}]
    for path in document["paths"]:
        url = concrete(path, wrapped["url_id"])
        answer = client.get(url, base_url="http://localhost/stats/", query_string=QUERY, headers=wrapped["auth"])
        answered_by_the_export(answer.status_code, answer.get_data())
    # the mount itself (an empty PATH_INFO) is "/", the plugin's route, as Falcon and Flask read it
    answer = client.get("", base_url="http://localhost/stats", query_string=QUERY, headers=wrapped["auth"])
    answered_by_the_export(answer.status_code, answer.get_data())
    assert wrapped["seen"] == []
