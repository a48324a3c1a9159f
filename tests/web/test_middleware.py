"""Mounting the plugin into host apps.

A real Flask host wrapped with ``ExportMiddleware``: the export route reaches the plugin and
every other request reaches the host untouched (compared byte for byte with the bare host,
and at the WSGI level: same environ, same start_response, same iterable, close() included).
A real Falcon host mounts ``ExportResource`` with ``app.add_route``.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import falcon
import falcon.testing
import flask
import pytest
from bson import ObjectId
from werkzeug.test import Client, EnvironBuilder

from spoo_export_plugin import ExportError, ExportMiddleware, ExportResource, ExportSettings
from spoo_export_plugin.web.errors import handle_export_error
from spoo_export_plugin.web.guard import ExportGuard

from ..factories import ROUTE, add_api_key, add_url, make_click

# --------------------------------------------------------------------------------------
# A Flask host app
# --------------------------------------------------------------------------------------


def make_host(log: list[str]) -> flask.Flask:
    """A small but varied Flask app; ``log`` records every request it sees and stream events."""
    app = flask.Flask("host")
    app.secret_key = "host-secret"

    @app.before_request
    def seen() -> None:
        log.append(f"host {flask.request.method} {flask.request.path}")

    @app.get("/")
    def home() -> flask.Response:
        resp = flask.make_response("<h1>host home</h1>")
        resp.headers["X-Host"] = "flask"
        resp.set_cookie("host_cookie", "v1", httponly=True, samesite="Lax", path="/")
        resp.set_cookie("second", "two", max_age=60)
        return resp

    @app.get("/status/<int:code>")
    def status(code: int) -> Any:
        return f"status {code}", code, {"X-Custom": f"c-{code}", "Cache-Control": "no-cache"}

    @app.get("/redirect")
    def redirect() -> Any:
        return flask.redirect("/status/201")

    @app.get("/args")
    def args() -> Any:
        return {"args": flask.request.args.to_dict(flat=False), "raw": flask.request.query_string.decode("latin-1")}

    @app.get("/cookies")
    def cookies() -> Any:
        return {"cookies": flask.request.cookies.to_dict()}

    @app.route("/echo/raw", methods=["POST", "PUT"])
    def echo_raw() -> Any:
        data = flask.request.get_data()
        return {
            "len": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "content_type": flask.request.content_type,
            "method": flask.request.method,
        }

    @app.post("/echo/form")
    def echo_form() -> Any:
        files = {name: [f.filename, hashlib.sha256(f.read()).hexdigest()] for name, f in flask.request.files.items()}
        return {"form": flask.request.form.to_dict(flat=False), "files": files}

    @app.get("/stream")
    def stream() -> flask.Response:
        def chunks() -> Iterable[str]:
            try:
                for i in range(3):
                    log.append(f"yield {i}")
                    yield f"chunk-{i};"
            finally:
                log.append("generator closed")

        resp = flask.Response(chunks(), mimetype="text/plain")
        resp.call_on_close(lambda: log.append("response closed"))
        return resp

    @app.errorhandler(404)
    def not_found(exc: Exception) -> Any:
        return "<p>the host's own 404 page</p>", 404, {"X-Host-404": "yes"}

    return app


@pytest.fixture
def seeded(db: Any) -> dict[str, Any]:
    owner = ObjectId()
    key = add_api_key(db, owner)
    add_url(db, "abc", owner, created_at=datetime(2025, 3, 1))
    db.clicks.insert_many(
        [
            make_click("abc", owner, datetime(2025, 3, 9, 6), ip_address="1.1.1.1", browser="Chrome"),
            make_click("abc", owner, datetime(2025, 3, 9, 7), ip_address="1.1.1.1", browser="Firefox"),
            make_click("abc", owner, datetime(2025, 3, 10, 7), ip_address="1.1.1.2", browser="Firefox"),
        ]
    )
    return {"key": key, "owner": owner}


@pytest.fixture
def export_settings(db: Any) -> ExportSettings:
    return ExportSettings(database=db, anonymous_limits="1000/minute", authenticated_limits="1000/minute")


@pytest.fixture
def hosts(export_settings: ExportSettings) -> dict[str, Any]:
    """The same host twice: bare, and wrapped the way the README says."""
    bare_log: list[str] = []
    wrapped_log: list[str] = []
    bare = make_host(bare_log)
    wrapped = make_host(wrapped_log)
    wrapped.wsgi_app = ExportMiddleware(wrapped.wsgi_app, export_settings)  # type: ignore[method-assign]
    return {"bare": bare, "wrapped": wrapped, "bare_log": bare_log, "wrapped_log": wrapped_log}


EXPORT_QUERY = {
    "format": "json",
    "scope": "all",
    "start_date": "2025-03-09",
    "end_date": "2025-03-10T23:59:59Z",
    "granularity": "day",
    "group_by": "time,browser",
}


def test_export_route_reaches_the_plugin(hosts, seeded):
    client = Client(hosts["wrapped"])
    resp = client.get(ROUTE, query_string=EXPORT_QUERY, headers={"Authorization": f"Bearer {seeded['key']}"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    body = json.loads(resp.get_data())
    assert body["summary"]["total_clicks"] == 3
    assert body["summary"]["unique_clicks"] == 2
    assert body["breakdowns"]["time"] == [
        {"time": "2025-03-09", "clicks": 2, "unique_clicks": 1},
        {"time": "2025-03-10", "clicks": 1, "unique_clicks": 1},
    ]
    assert body["breakdowns"]["browser"] == [
        {"browser": "Firefox", "clicks": 2, "unique_clicks": 2},
        {"browser": "Chrome", "clicks": 1, "unique_clicks": 1},
    ]
    assert hosts["wrapped_log"] == []  # the host never saw it


def test_export_route_errors_are_the_plugins_json(hosts, seeded):
    client = Client(hosts["wrapped"])
    resp = client.get(ROUTE, query_string={"format": "pdf"})
    assert resp.status_code == 400
    assert resp.headers["Content-Type"] == "application/json"
    assert json.loads(resp.get_data()) == {"error": json.loads(resp.get_data())["error"], "param": "format"}
    resp = client.get(ROUTE, query_string={"format": "json", "scope": "anon", "short_code": "nope"})
    assert resp.status_code == 404
    assert json.loads(resp.get_data())["param"] == "short_code"
    resp = client.get(ROUTE, query_string={"format": "json"}, headers={"Authorization": "Bearer spoo_wrong"})
    assert resp.status_code == 401
    resp = client.post(ROUTE, data=b"x")
    assert resp.status_code == 405
    assert resp.headers["Content-Type"] == "application/json"
    assert set(json.loads(resp.get_data())) == {"error", "param"}
    assert hosts["wrapped_log"] == []


def _same_response(hosts: dict[str, Any], method: str, path: str, **kwargs: Any) -> Any:
    """Send one request to the bare and the wrapped host; the answers must be identical."""
    answers = []
    for name in ("bare", "wrapped"):
        client = Client(hosts[name])
        client.set_cookie("incoming", "cookie-value")
        resp = client.open(path, method=method, **kwargs)
        answers.append((resp.status, sorted(resp.headers.items()), resp.get_data()))
    assert answers[0] == answers[1]
    assert hosts["bare_log"] == hosts["wrapped_log"]
    return answers[1]


def test_home_headers_and_cookies_untouched(hosts):
    status, headers, body = _same_response(hosts, "GET", "/")
    assert status == "200 OK"
    assert body == b"<h1>host home</h1>"
    assert ("X-Host", "flask") in headers
    cookies = [value for name, value in headers if name == "Set-Cookie"]
    assert len(cookies) == 2
    assert "host_cookie=v1; HttpOnly; Path=/; SameSite=Lax" in cookies
    assert any(c.startswith("second=two; Expires=") and "Max-Age=60" in c for c in cookies)
    assert hosts["wrapped_log"] == ["host GET /"]


@pytest.mark.parametrize("code", [200, 201, 204, 301, 400, 403, 418, 429, 500, 503])
def test_status_codes_untouched(hosts, code):
    status, headers, body = _same_response(hosts, "GET", f"/status/{code}")
    assert int(status.split()[0]) == code
    assert ("X-Custom", f"c-{code}") in headers


def test_redirect_untouched(hosts):
    status, headers, _ = _same_response(hosts, "GET", "/redirect")
    assert status == "302 FOUND"
    assert ("Location", "/status/201") in headers


def test_incoming_cookies_reach_the_host(hosts):
    _, _, body = _same_response(hosts, "GET", "/cookies")
    assert json.loads(body) == {"cookies": {"incoming": "cookie-value"}}


def test_query_strings_untouched(hosts):
    query = "a=1&a=2&b=%F0%9F%94%A5&c=&format=json&scope=anon&d=x%2By+z"
    _, _, body = _same_response(hosts, "GET", "/args?" + query)
    assert json.loads(body) == {
        "args": {"a": ["1", "2"], "b": ["🔥"], "c": [""], "format": ["json"], "scope": ["anon"], "d": ["x+y z"]},
        "raw": query,
    }


def test_post_bodies_untouched(hosts):
    payload = bytes(range(256)) * 4096  # 1 MiB of every byte value
    _, _, body = _same_response(
        hosts, "POST", "/echo/raw", data=payload, headers={"Content-Type": "application/octet-stream"}
    )
    assert json.loads(body) == {
        "len": len(payload),
        "sha256": hashlib.sha256(payload).hexdigest(),
        "content_type": "application/octet-stream",
        "method": "POST",
    }
    _, _, body = _same_response(hosts, "PUT", "/echo/raw", json={"k": ["v", 1]})
    assert json.loads(body)["content_type"] == "application/json"


def test_form_data_and_uploads_untouched(hosts):
    def form() -> dict[str, Any]:  # a fresh one per request: the upload stream is consumed
        return {"name": "Zoë", "tags": ["a", "b"], "upload": (io.BytesIO(b"file,contents\n1,2\n"), "data.csv")}

    answers = []
    for name in ("bare", "wrapped"):
        resp = Client(hosts[name]).post("/echo/form", data=form())
        answers.append((resp.status_code, json.loads(resp.get_data())))
    assert answers[0] == answers[1]
    assert answers[1] == (
        200,
        {
            "form": {"name": ["Zoë"], "tags": ["a", "b"]},
            "files": {"upload": ["data.csv", hashlib.sha256(b"file,contents\n1,2\n").hexdigest()]},
        },
    )


@pytest.mark.parametrize(
    "path", ["/nope", ROUTE + "/", ROUTE + "s", ROUTE + "/more", ROUTE.upper(), "/api/v1", "/api/v1/export.json"]
)
def test_host_404_stays_the_hosts_page(hosts, path):
    status, headers, body = _same_response(hosts, "GET", path)
    assert status == "404 NOT FOUND"
    assert body == b"<p>the host's own 404 page</p>"
    assert ("X-Host-404", "yes") in headers
    assert hosts["wrapped_log"] == [f"host GET {path}"]


def test_streamed_body_chunks_and_close(hosts):
    """Raw WSGI: chunks arrive lazily through the middleware and close() reaches the host's generator."""
    log = hosts["wrapped_log"]
    calls: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[..., Any]:
        calls.append((status, headers))
        return lambda data: None

    environ = EnvironBuilder(path="/stream").get_environ()
    body = hosts["wrapped"](environ, start_response)
    assert calls[0][0] == "200 OK"
    assert ("Content-Type", "text/plain; charset=utf-8") in calls[0][1]
    chunks = iter(body)
    assert next(chunks) == b"chunk-0;"
    assert log == ["host GET /stream", "yield 0"]  # not buffered: one chunk produced so far
    assert next(chunks) == b"chunk-1;"
    assert "generator closed" not in log and "response closed" not in log
    body.close()  # the server stops early (client went away)
    assert log == ["host GET /stream", "yield 0", "yield 1", "generator closed", "response closed"]


def test_streamed_body_read_to_the_end(hosts):
    environ = EnvironBuilder(path="/stream").get_environ()
    statuses: list[str] = []
    body = hosts["wrapped"](environ, lambda status, headers, exc_info=None: statuses.append(status))
    assert list(body) == [b"chunk-0;", b"chunk-1;", b"chunk-2;"]
    assert "response closed" not in hosts["wrapped_log"]
    body.close()
    assert hosts["wrapped_log"][-2:] == ["generator closed", "response closed"]
    assert statuses == ["200 OK"]


class Spy:
    """A WSGI app that records what it was given and returns an iterable with a recorded close()."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict, Any]] = []
        self.closed = 0
        self.returned: Any = None

    def __call__(self, environ: dict, start_response: Any) -> Any:
        self.calls.append((environ, start_response))
        start_response("207 Multi-Status", [("X-Spy", "1")])
        spy = self

        class Body:
            def __iter__(self) -> Any:
                return iter([b"a", b"", b"b"])

            def close(self) -> None:
                spy.closed += 1

        self.returned = Body()
        return self.returned


def test_environ_start_response_and_iterable_passed_straight_through(export_settings):
    spy = Spy()
    app = ExportMiddleware(spy, export_settings)
    environ = EnvironBuilder(
        path="/anything", method="DELETE", query_string="x=1", data=b"body", headers={"X-Req": "r"}
    ).get_environ()
    snapshot = dict(environ)

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        pass

    result = app(environ, start_response)
    assert spy.calls == [(environ, start_response)]
    assert spy.calls[0][0] is environ and spy.calls[0][1] is start_response
    assert environ == snapshot  # not a single key added, removed or changed
    assert result is spy.returned  # the host's own iterable, close() and all
    assert list(result) == [b"a", b"", b"b"]
    result.close()
    assert spy.closed == 1


def test_export_route_never_calls_the_host(export_settings, seeded):
    spy = Spy()
    app = ExportMiddleware(spy, export_settings)
    statuses: list[str] = []
    environ = EnvironBuilder(path=ROUTE, query_string="format=xml&scope=anon&short_code=missing").get_environ()
    body = b"".join(app(environ, lambda status, headers, exc_info=None: statuses.append(status)))
    assert statuses == ["404 Not Found"]
    assert json.loads(body)["param"] == "short_code"
    assert spy.calls == []


def test_custom_route(db, seeded):
    spy = Spy()
    settings = ExportSettings(database=db, route="/stats/download")
    app = Client(ExportMiddleware(spy, settings))
    resp = app.get(
        "/stats/download",
        query_string={
            "format": "json",
            "scope": "anon",
            "short_code": "abc",
            "start_date": "2025-03-09",
            "end_date": "2025-03-11",
        },
    )
    assert resp.status_code == 200
    assert json.loads(resp.get_data())["summary"]["total_clicks"] == 3
    assert spy.calls == []
    assert app.get(ROUTE).status_code == 207  # the default route now belongs to the host
    assert len(spy.calls) == 1


# --------------------------------------------------------------------------------------
# A Falcon host app
# --------------------------------------------------------------------------------------


class Hello:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"hello": req.get_param("name", default="world")}
        resp.set_header("X-Host", "falcon")


def make_falcon_host(settings: ExportSettings, **req_options: Any) -> falcon.App:
    """The README's recipe for a Falcon host."""
    app = falcon.App(middleware=[ExportGuard(settings)])
    for name, value in req_options.items():
        setattr(app.req_options, name, value)
    app.add_route("/hello", Hello())
    app.add_route(settings.route, ExportResource(settings))
    app.add_error_handler(ExportError, handle_export_error)
    return app


def test_falcon_host_serves_exports_and_its_own_routes(export_settings, seeded):
    client = falcon.testing.TestClient(make_falcon_host(export_settings))
    resp = client.simulate_get("/hello", params={"name": "host"})
    assert resp.status_code == 200 and resp.json == {"hello": "host"} and resp.headers["X-Host"] == "falcon"
    resp = client.simulate_get(ROUTE, params=EXPORT_QUERY, headers={"Authorization": f"Bearer {seeded['key']}"})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/json"
    assert resp.json["summary"]["total_clicks"] == 3
    assert [row["browser"] for row in resp.json["breakdowns"]["browser"]] == ["Firefox", "Chrome"]
    # The plugin's errors come out as its JSON through the host's error handler.
    resp = client.simulate_get(ROUTE, params={"format": "json", "scope": "anon"})
    assert resp.status_code == 400
    assert resp.json["param"] == "short_code"
    assert set(resp.json) == {"error", "param"}
    resp = client.simulate_get(ROUTE, params={"format": "json"})
    assert (resp.status_code, resp.json["param"]) == (401, "scope")
    # The host's own 404 is Falcon's, untouched.
    resp = client.simulate_get("/nope")
    assert resp.status_code == 404
    assert "error" not in resp.json


@pytest.mark.parametrize("options", [{}, {"auto_parse_qs_csv": True}, {"keep_blank_qs_values": False}])
def test_falcon_host_query_options_do_not_change_parsing(export_settings, seeded, options):
    """The resource reads the query string itself, so host-wide Falcon options cannot split a filters JSON."""
    client = falcon.testing.TestClient(make_falcon_host(export_settings, **options))
    # Commas left unencoded, as curl users write them.
    query = (
        "format=json&scope=all&start_date=2025-03-09&end_date=2025-03-10T23:59:59Z&granularity=day"
        '&group_by=time,browser&filters={"browser":["Chrome","Firefox"],"os":["Windows"]}'
    )
    resp = client.simulate_get(ROUTE, query_string=query, headers={"Authorization": f"Bearer {seeded['key']}"})
    assert resp.status_code == 200, resp.text
    assert resp.json["filters"] == {"browser": ["Chrome", "Firefox"], "os": ["Windows"]}
    assert resp.json["group_by"] == ["time", "browser"]
    assert resp.json["summary"]["total_clicks"] == 3
    # An empty required parameter is still "required", whatever keep_blank_qs_values says.
    resp = client.simulate_get(ROUTE, query_string="format=&scope=all")
    assert (resp.status_code, resp.json["param"]) == (400, "format")


def test_falcon_host_gets_the_concurrency_cap(db, seeded):
    """With ExportGuard in the host's middleware, a streamed export holds its slot until the body closes."""
    settings = ExportSettings(database=db, max_concurrent_exports=1, retry_after_seconds=7)
    app = make_falcon_host(settings)
    query = "format=json&scope=anon&short_code=abc&start_date=2025-03-09&end_date=2025-03-11"

    def call() -> tuple[list[str], list[tuple[str, str]], Any]:
        seen: list[Any] = []
        environ = EnvironBuilder(path=ROUTE, query_string=query).get_environ()
        body = app(environ, lambda status, headers, exc_info=None: seen.extend([status, headers]))
        return seen[0], seen[1], body

    status, _, first = call()
    assert status == "200 OK"
    status, headers, busy = call()  # the first body is not sent yet: its slot is taken
    assert status == "503 Service Unavailable"
    assert ("Retry-After", "7") in [(k.title(), v) for k, v in headers]
    busy_body = json.loads(b"".join(busy))
    assert set(busy_body) == {"error", "param"} and busy_body["param"] is None
    assert json.loads(b"".join(first))["summary"]["total_clicks"] == 3
    first.close()
    status, _, third = call()
    assert status == "200 OK"
    third.close()
