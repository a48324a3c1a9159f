"""Mounting the plugin into ASGI hosts: ``ExportASGIMiddleware`` around a real FastAPI app.

Added in one line (``app.add_middleware(ExportASGIMiddleware, settings=settings)``), the plugin's
routes reach the plugin and answer as ``create_asgi_app`` does; every other ``http`` request, the
host's websocket and its lifespan events reach the host untouched (at the ASGI level: the same
scope, ``receive`` and ``send``); a mount prefix (``root_path``) is honoured.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import fastapi
import pytest
from bson import ObjectId
from starlette.testclient import TestClient

from spoo_export_plugin import ExportASGIMiddleware, ExportSettings, create_asgi_app

from ..factories import ROUTE, add_api_key, add_url, make_click, url_id_for
from ..scenarios import VISITOR_SECRET

OWNER = ObjectId("650000000000000000000019")
RANGE = {"start_date": "2025-03-08", "end_date": "2025-03-10T23:59:59"}
GENEROUS = {"anonymous_limits": "1000/minute", "authenticated_limits": "1000/minute"}


@pytest.fixture
def settings(db: Any) -> ExportSettings:
    add_url(db, "abc", OWNER, created_at=datetime(2025, 3, 1))
    db.clicks.insert_many([make_click("abc", OWNER, datetime(2025, 3, 9, hour)) for hour in range(5)])
    return ExportSettings(database=db, visitor_id_secret=VISITOR_SECRET, **GENEROUS)  # stable visitor ids


@pytest.fixture
def auth(db: Any, settings: ExportSettings) -> dict[str, str]:
    return {"Authorization": f"Bearer {add_api_key(db, OWNER)}"}


def make_host(settings: ExportSettings, events: list[str]) -> fastapi.FastAPI:
    """A small FastAPI app with a lifespan, plain and streamed routes, a websocket, and the plugin in one line."""

    @asynccontextmanager
    async def lifespan(app: fastapi.FastAPI) -> AsyncIterator[None]:
        events.append("startup")
        yield
        events.append("shutdown")

    app = fastapi.FastAPI(lifespan=lifespan)

    @app.get("/hello")
    async def hello(request: fastapi.Request) -> dict[str, Any]:
        return {
            "host": True,
            "path": request.url.path,
            "root_path": request.scope.get("root_path", ""),
            "query": dict(request.query_params),
            "header": request.headers.get("x-host-header"),
        }

    @app.post("/echo")
    async def echo(request: fastapi.Request) -> fastapi.Response:
        return fastapi.Response(await request.body(), media_type="application/octet-stream", headers={"X-Host": "1"})

    @app.websocket("/ws")
    async def websocket(socket: fastapi.WebSocket) -> None:
        await socket.accept()
        await socket.send_text("echo: " + await socket.receive_text())
        await socket.close()

    app.add_middleware(ExportASGIMiddleware, settings=settings)  # the one line a FastAPI host adds
    return app


def without_generated_at(body: bytes) -> dict[str, Any]:
    report = json.loads(body)
    report.pop("generated_at")
    return report


def test_plugin_routes_reach_the_plugin_and_answer_as_its_own_app(settings, auth):
    own = TestClient(create_asgi_app(settings))
    with TestClient(make_host(settings, [])) as client:
        for path, query in (
            (ROUTE, {**RANGE, "format": "json", "scope": "all"}),
            (f"{ROUTE}/links/{url_id_for('abc', OWNER)}", {**RANGE, "format": "json"}),
            (f"{ROUTE}/clicks", {**RANGE, "format": "json"}),
        ):
            mounted, alone = client.get(path, params=query, headers=auth), own.get(path, params=query, headers=auth)
            assert mounted.status_code == alone.status_code == 200, mounted.text
            assert mounted.headers["content-type"] == "application/json"
            assert mounted.headers["content-disposition"] == alone.headers["content-disposition"]
            assert without_generated_at(mounted.content) == without_generated_at(alone.content)
            assert json.loads(mounted.content)["summary"]["total_clicks"] == 5
        document = client.get(ROUTE + "/openapi.json")
        assert document.status_code == 200 and document.json()["openapi"].startswith("3.")
        refused = client.get(ROUTE, params={"format": "json", "scope": "all"})  # the plugin's error shape
        assert refused.status_code == 401 and refused.json()["param"] == "scope"
        assert refused.headers["www-authenticate"] == "Bearer"


def test_other_requests_reach_the_host_untouched(settings):
    with TestClient(make_host(settings, [])) as client:
        hello = client.get("/hello", params={"a": "1"}, headers={"X-Host-Header": "yes"})
        assert hello.status_code == 200
        assert hello.json() == {"host": True, "path": "/hello", "root_path": "", "query": {"a": "1"}, "header": "yes"}
        echoed = client.post("/echo", content=b"\x00body the host reads\xff")
        assert echoed.content == b"\x00body the host reads\xff" and echoed.headers["x-host"] == "1"
        # near the plugin's paths but not one of them: the host's own 404 (FastAPI's shape, not the plugin's)
        for path in (ROUTE + "/links/a/b", ROUTE + "x", ROUTE + "/clicks/more", "/api/v1"):
            missing = client.get(path)
            assert missing.status_code == 404 and missing.json() == {"detail": "Not Found"}, path


def test_at_the_asgi_level_the_host_gets_the_same_scope_receive_and_send(settings):
    seen: list[tuple[Any, Any, Any]] = []

    async def host(scope: Any, receive: Any, send: Any) -> None:
        seen.append((scope, receive, send))

    middleware = ExportASGIMiddleware(host, settings=settings)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        raise AssertionError("the host answers, not the plugin")

    scopes = [
        {"type": "http", "method": "GET", "path": "/elsewhere", "root_path": "", "headers": [], "query_string": b""},
        {"type": "websocket", "path": ROUTE, "root_path": "", "headers": [], "query_string": b""},
        {"type": "lifespan"},
    ]
    for scope in scopes:
        asyncio.run(middleware(scope, receive, send))
    assert [entry[0] for entry in seen] == scopes
    assert all(
        entry[0] is scope and entry[1] is receive and entry[2] is send
        for entry, scope in zip(seen, scopes, strict=True)
    )


def test_the_hosts_websocket_still_works(settings):
    with TestClient(make_host(settings, [])) as client, client.websocket_connect("/ws") as socket:
        socket.send_text("hi")
        assert socket.receive_text() == "echo: hi"


def test_the_hosts_lifespan_events_still_run(settings):
    events: list[str] = []
    with TestClient(make_host(settings, events)) as client:
        assert events == ["startup"]
        assert client.get("/hello").status_code == 200
    assert events == ["startup", "shutdown"]


def test_a_mount_prefix_is_honoured(settings, auth):
    """FastAPI's ``mount`` (the prefix in ``root_path`` and in ``path``, as the ASGI spec has it since 2023)."""
    events: list[str] = []
    outer = fastapi.FastAPI()
    outer.mount("/stats", make_host(settings, events))
    with TestClient(outer) as client:
        export = client.get("/stats" + ROUTE, params={**RANGE, "format": "json", "scope": "all"}, headers=auth)
        assert export.status_code == 200 and json.loads(export.content)["summary"]["total_clicks"] == 5
        link = client.get(
            f"/stats{ROUTE}/links/{url_id_for('abc', OWNER)}", params={**RANGE, "format": "json"}, headers=auth
        )
        assert link.status_code == 200, link.text
        hello = client.get("/stats/hello")
        assert hello.json()["path"] == "/stats/hello" and hello.json()["root_path"] == "/stats"
        assert client.get(ROUTE, params={"format": "json"}).status_code == 404  # not below the mount: not ours
        with client.websocket_connect("/stats/ws") as socket:
            socket.send_text("mounted")
            assert socket.receive_text() == "echo: mounted"


@pytest.mark.parametrize("path_has_prefix", [True, False], ids=["path-with-root_path", "path-without-root_path"])
def test_root_path_in_the_scope_is_honoured(settings, auth, path_has_prefix):
    """A server started with ``--root-path /stats`` behind a proxy: the prefix is in ``root_path``, and in
    ``path`` too (the ASGI spec since 2023) or not (older servers); the plugin answers both."""
    with TestClient(make_host(settings, []), root_path="/stats") as client:
        path = ("/stats" if path_has_prefix else "") + ROUTE
        export = client.get(path, params={**RANGE, "format": "json", "scope": "all"}, headers=auth)
        assert export.status_code == 200, export.text
        assert json.loads(export.content)["summary"]["total_clicks"] == 5
