"""The plugin reads no request body: a ``GET``/``HEAD`` announcing one is refused before anything runs.

(A client trickling a body must not get an export running, or a thread waiting, for it; under
``spoo-export serve`` the refusal also closes the connection: tests/ops/test_hostile_clients.py.)
"""

from __future__ import annotations

import json
import logging

import falcon
import falcon.testing
import pytest

from spoo_export_plugin import ExportError, ExportResource, ExportSettings
from spoo_export_plugin.web.errors import handle_export_error
from spoo_export_plugin.web.guard import NO_BODY, ExportGuard

from ..factories import ROUTE, add_url

#: HTTP-level: each test runs through both doors (WSGI and ASGI, tests/doors.py).
pytestmark = pytest.mark.usefixtures("door")

EXPORT = ROUTE + "?format=json&scope=anon&short_code=pub"


@pytest.fixture
def seeded_client(db, client):
    add_url(db, "pub")
    return client


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize(
    "path",
    [
        EXPORT,
        ROUTE + "/openapi.json",
        ROUTE + "/clicks?format=csv",
        ROUTE + "/links/665f1c2e9b1e8a3d4c5b6a80?format=json",
    ],
)
@pytest.mark.parametrize("headers", [{"Content-Length": "1000000"}, {"Transfer-Encoding": "chunked"}])
def test_a_request_announcing_a_body_is_refused_413(seeded_client, method, path, headers):
    resp = seeded_client.simulate_request(method, path, headers=headers)
    assert resp.status_code == 413, resp.text
    if method == "GET":
        assert resp.json == {"error": NO_BODY, "param": None}
    assert resp.headers["content-type"].startswith("application/json")


def test_no_body_or_an_empty_one_is_served(seeded_client):
    assert seeded_client.simulate_get(EXPORT).status_code == 200
    assert seeded_client.simulate_get(EXPORT, headers={"Content-Length": "0"}).status_code == 200
    assert seeded_client.simulate_head(ROUTE + "/openapi.json", headers={"Content-Length": "0"}).status_code == 200


def test_the_refusal_is_logged_like_any_refused_export(seeded_client, caplog):
    caplog.set_level(logging.INFO, logger="spoo_export_plugin.export")
    seeded_client.simulate_get(EXPORT, body=b"x" * 10)
    records = [json.loads(r.getMessage()) for r in caplog.records if r.name == "spoo_export_plugin.export"]
    assert [(r["status"], r["outcome"], r["rows"]) for r in records] == [(413, "error", 0)]


def test_other_methods_keep_their_answer(seeded_client):
    resp = seeded_client.simulate_post(ROUTE, body=b"x" * 10)
    assert resp.status_code == 405 and set(resp.json) == {"error", "param"}


@pytest.mark.doors("wsgi")  # a WSGI Falcon host of its own
def test_a_falcon_hosts_own_routes_may_take_bodies(db):
    """The guard is app-wide middleware in a Falcon host (mounted as docs/mounting.md says): it
    refuses bodies on the plugin's routes only."""

    class Echo:
        def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
            resp.text = req.bounded_stream.read().decode()

    add_url(db, "pub")
    settings = ExportSettings(database=db)
    app = falcon.App(middleware=[ExportGuard(settings)])
    app.add_route(ROUTE, ExportResource(settings))
    app.add_route("/host/search", Echo())
    app.add_error_handler(ExportError, handle_export_error)
    client = falcon.testing.TestClient(app)
    assert client.simulate_get("/host/search", body=b"query").text == "query"
    refused = client.simulate_get(EXPORT, body=b"query")
    assert refused.status_code == 413 and refused.json == {"error": NO_BODY, "param": None}
