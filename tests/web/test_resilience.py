"""Resilience: MongoDB down, queries past their time budget, the per-worker export cap,
read preference, and the one log line per export. Everything goes through the real app."""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import falcon.testing
import pymongo
import pytest
from bson import ObjectId
from pymongo import ReadPreference

from spoo_export_plugin import ExportSettings
from spoo_export_plugin.core.engine.store import Store

from ..doors import make_app, open_response
from ..factories import ROUTE, add_api_key, add_url, make_click

#: HTTP-level: each test runs through both doors (WSGI and ASGI, tests/doors.py).
pytestmark = pytest.mark.usefixtures("door")

ANON = {
    "format": "json",
    "scope": "anon",
    "short_code": "demo",
    "start_date": "2025-03-01",
    "end_date": "2025-03-31",
    "granularity": "day",
}
GENEROUS = {"anonymous_limits": "10000/minute", "authenticated_limits": "10000/minute"}


@pytest.fixture
def own_server() -> Any:
    """A SecantusDB server this test may stop (the session one is shared)."""
    secantus = pytest.importorskip("secantus", reason="secantusdb (test-only) is not installed")
    server = secantus.SecantusDBServer(host="127.0.0.1", port=0, storage_path=":memory:", replica_set_name=None)
    server.start()
    server.test_uri = server.uri if isinstance(server.uri, str) else server.uri()
    yield server
    try:
        server.stop()
    except Exception:  # already stopped by the test
        pass


def seed(db: Any, clicks: int = 3) -> tuple[Any, str]:
    owner = ObjectId()
    key = add_api_key(db, owner)
    add_url(db, "demo", owner, created_at=datetime(2025, 3, 1))
    base = datetime(2025, 3, 9, 6, 0)
    db.clicks.insert_many(
        [make_click("demo", owner, base + timedelta(seconds=i), ip_address=f"10.0.{i % 250}.1") for i in range(clicks)]
    )
    return owner, key


def assert_503(resp: falcon.testing.Result, *, mentions: str) -> None:
    assert resp.status_code == 503, resp.text
    assert resp.headers["content-type"] == "application/json"
    assert int(resp.headers["retry-after"]) >= 1
    body = resp.json
    assert set(body) == {"error", "param"}
    assert mentions in body["error"]
    assert "Traceback" not in resp.text


# --- MongoDB unreachable ---------------------------------------------------------------------------


@pytest.mark.integration
def test_mongodb_stopped_mid_run_answers_503_quickly(own_server):
    db = pymongo.MongoClient(own_server.test_uri).get_database("spoo")
    owner, key = seed(db)
    settings = ExportSettings(mongodb_uri=own_server.test_uri, database_name="spoo", **GENEROUS)
    client = falcon.testing.TestClient(make_app(settings))
    auth = {"Authorization": f"Bearer {key}"}
    assert client.simulate_get(ROUTE, params=ANON).status_code == 200
    assert client.simulate_get(ROUTE, params={**ANON, "scope": "all"}, headers=auth).status_code == 200

    own_server.stop()
    for params, headers in ((ANON, {}), ({**ANON, "scope": "all"}, auth)):
        started = time.monotonic()
        resp = client.simulate_get(ROUTE, params=params, headers=headers)
        elapsed = time.monotonic() - started
        assert_503(resp, mentions="unreachable")
        assert elapsed < 2.5, f"503 took {elapsed:.2f}s"


@pytest.mark.integration
def test_mongodb_never_reachable_answers_503_within_about_a_second(own_server):
    uri = own_server.test_uri
    own_server.stop()  # the port is now closed
    client = falcon.testing.TestClient(make_app(ExportSettings(mongodb_uri=uri, **GENEROUS)))
    started = time.monotonic()
    resp = client.simulate_get(ROUTE, params=ANON)
    elapsed = time.monotonic() - started
    assert_503(resp, mentions="unreachable")
    assert elapsed < 2.0, f"503 took {elapsed:.2f}s"


# --- query time budget -----------------------------------------------------------------------------


@pytest.mark.doors("wsgi")  # the database's time budget; the door's 503 is tested with mongomock
@pytest.mark.integration
@pytest.mark.parametrize("aggregation", ["database", "worker"])
def test_aggregation_past_max_time_ms_answers_503(own_server, aggregation):
    """A real budget overrun: 5,000 clicks cannot be aggregated (or found and sent) in 1 ms."""
    db = pymongo.MongoClient(own_server.test_uri).get_database("spoo")
    seed(db, clicks=5_000)
    settings = ExportSettings(
        mongodb_uri=own_server.test_uri, database_name="spoo", max_time_ms=1, aggregation=aggregation, **GENEROUS
    )
    client = falcon.testing.TestClient(make_app(settings))
    resp = client.simulate_get(ROUTE, params={**ANON, "group_by": "time,browser,os,country,city,referrer"})
    assert_503(resp, mentions="shorter date range or fewer group_by dimensions")
    # the same export with a normal budget works: it was the budget, not the query
    ok = falcon.testing.TestClient(make_app(settings.replace(max_time_ms=30_000)))
    resp = ok.simulate_get(ROUTE, params=ANON)
    assert resp.status_code == 200
    assert resp.json["summary"]["total_clicks"] == 5_000


@pytest.mark.doors("wsgi")  # the database's time budget; the door's 503 is tested with mongomock
@pytest.mark.integration
@pytest.mark.parametrize("aggregation", ["database", "worker"])
def test_max_time_always_time_out_failpoint_answers_503(own_server, aggregation):
    admin = pymongo.MongoClient(own_server.test_uri)
    seed(admin.get_database("spoo"))
    client = falcon.testing.TestClient(
        make_app(
            ExportSettings(mongodb_uri=own_server.test_uri, database_name="spoo", aggregation=aggregation, **GENEROUS)
        )
    )
    admin.admin.command("configureFailPoint", "maxTimeAlwaysTimeOut", mode="alwaysOn")
    try:
        resp = client.simulate_get(ROUTE, params=ANON)
    finally:
        admin.admin.command("configureFailPoint", "maxTimeAlwaysTimeOut", mode="off")
    assert_503(resp, mentions="time budget")
    assert client.simulate_get(ROUTE, params=ANON).status_code == 200


@pytest.mark.integration
def test_stage_past_the_server_memory_limit_answers_503(mongo_db, monkeypatch):
    """A real refusal: the server will not hold the fan-out of 40 clicks x 14 keys in one stage."""
    secantus_aggregate = pytest.importorskip("secantus.aggregate")
    seed(mongo_db, clicks=40)
    monkeypatch.setattr(secantus_aggregate, "MAX_PIPELINE_DOCS", 100)  # the in-process server's cap
    client = falcon.testing.TestClient(make_app(ExportSettings(database=mongo_db, **GENEROUS)))
    params = {**ANON, "group_by": "time,browser,os,country,city,referrer"}
    assert_503(client.simulate_get(ROUTE, params=params), mentions="fewer group_by dimensions")
    monkeypatch.undo()
    resp = client.simulate_get(ROUTE, params=params)
    assert resp.status_code == 200 and resp.json["summary"]["total_clicks"] == 40


@pytest.mark.parametrize("aggregation", ["database", "worker"])
@pytest.mark.parametrize("code, status, param", [(292, 503, None), (146, 503, None), (40485, 400, "timezone")])
def test_server_refusals_map_to_client_errors_not_500(db, monkeypatch, code, status, param, aggregation):
    seed(db)

    class Refusing(_TimingOutCollection):
        def aggregate(self, *args: Any, **kwargs: Any) -> Any:
            raise pymongo.errors.OperationFailure("refused", code)

        find = aggregate  # the worker executor's query

    monkeypatch.setattr(Store, "clicks", property(lambda self: Refusing(self.database.clicks)))
    settings = ExportSettings(database=db, aggregation=aggregation, **GENEROUS)
    resp = falcon.testing.TestClient(make_app(settings)).simulate_get(ROUTE, params=ANON)
    assert resp.status_code == status, resp.text
    assert resp.json["param"] == param
    assert ("retry-after" in resp.headers) == (status == 503)


class _TimingOutCollection:
    """Extra unit case: the driver's own ExecutionTimeout from a collection."""

    def __init__(self, real: Any):
        self._real = real

    def aggregate(self, *args: Any, **kwargs: Any) -> Any:
        raise pymongo.errors.ExecutionTimeout("operation exceeded time limit", 50)

    find = aggregate  # the worker executor's query

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


@pytest.mark.parametrize("aggregation", ["database", "worker"])
def test_execution_timeout_from_the_driver_is_503(db, monkeypatch, aggregation):
    seed(db)
    settings = ExportSettings(database=db, aggregation=aggregation, **GENEROUS)
    app = make_app(settings)
    monkeypatch.setattr(Store, "clicks", property(lambda self: _TimingOutCollection(self.database.clicks)))
    resp = falcon.testing.TestClient(app).simulate_get(ROUTE, params=ANON)
    assert_503(resp, mentions="time budget")


# --- the per-worker export cap ---------------------------------------------------------------------


def open_export(
    app: Any, params: dict[str, str], headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    """Send the request as a server would and keep the body open (not consumed; tests/doors.py)."""
    response = open_response(app, ROUTE, urlencode(params), headers)
    return response.status, response.headers, response


def test_export_cap_answers_503_until_a_running_export_finishes(db):
    seed(db)
    app = make_app(ExportSettings(database=db, max_concurrent_exports=2, retry_after_seconds=7, **GENEROUS))
    first = open_export(app, ANON)
    second = open_export(app, ANON)
    assert first[0] == second[0] == 200

    status, headers, body = open_export(app, ANON)
    assert status == 503
    assert headers["retry-after"] == "7"
    assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= set(headers)
    payload = json.loads(b"".join(body))
    assert payload["param"] is None and "too many exports" in payload["error"]

    # the first client reads its file to the end and the server closes it: a slot frees up
    report = json.loads(b"".join(first[2]))
    first[2].close()
    assert report["summary"]["total_clicks"] == 3
    status, _, body = open_export(app, ANON)
    assert status == 200
    assert json.loads(b"".join(body))["summary"]["total_clicks"] == 3
    body.close()

    # a client that goes away early (server closes the body unread) frees its slot too
    second[2].close()
    held = [open_export(app, ANON) for _ in range(2)]
    assert [h[0] for h in held] == [200, 200]
    assert open_export(app, ANON)[0] == 503
    for _, _, body in held:
        body.close()


def test_errors_do_not_hold_export_slots(db):
    seed(db)
    app = make_app(ExportSettings(database=db, max_concurrent_exports=1, **GENEROUS))
    for params in ({"format": "nope"}, {**ANON, "short_code": "missing"}, {"scope": "all", "format": "json"}):
        status, _, body = open_export(app, params)
        assert status in (400, 401, 404)
        body.close()
    status, _, body = open_export(app, ANON)
    assert status == 200
    body.close()


def test_bad_requests_get_their_own_error_while_every_slot_is_busy(db):
    """A full worker answers a bad key 401, bad input 400 and an unknown link 404, not 503."""
    seed(db)
    app = make_app(ExportSettings(database=db, max_concurrent_exports=1, **GENEROUS))
    status, _, running = open_export(app, ANON)
    assert status == 200
    for params, expected in (
        ({**ANON, "format": "nope"}, 400),
        ({**ANON, "short_code": "missing"}, 404),
        ({"scope": "all", "format": "json"}, 401),
    ):
        status, _, body = open_export(app, params)
        assert status == expected, json.loads(b"".join(body))
    status, _, body = open_export(app, ANON, {"Authorization": "Bearer spoo_not-a-key"})
    assert status == 401
    body.close()
    assert open_export(app, ANON)[0] == 503  # a valid export still waits for the slot
    running.close()


# --- read preference -------------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize(
    "mode, expected",
    [
        ("primary", ReadPreference.PRIMARY),
        ("secondaryPreferred", ReadPreference.SECONDARY_PREFERRED),
        ("nearest", ReadPreference.NEAREST),
        ("primaryPreferred", ReadPreference.PRIMARY_PREFERRED),
    ],
)
def test_read_preference_applies_to_clicks_but_api_keys_stay_on_primary(secantus_uri, mode, expected):
    store = Store(ExportSettings(mongodb_uri=secantus_uri, read_preference=mode))
    assert store.clicks.read_preference == expected
    assert store.collection("urlsV2").read_preference == expected
    assert store.database["api-keys"].read_preference == ReadPreference.PRIMARY


@pytest.mark.integration
def test_export_with_secondary_preferred_reads(mongo_db, secantus_uri):
    seed(mongo_db)
    settings = ExportSettings(
        mongodb_uri=secantus_uri, database_name=mongo_db.name, read_preference="secondaryPreferred", **GENEROUS
    )
    resp = falcon.testing.TestClient(make_app(settings)).simulate_get(ROUTE, params=ANON)
    assert resp.status_code == 200
    assert resp.json["summary"]["total_clicks"] == 3


# --- one structured log line per export ------------------------------------------------------------


def export_records(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "spoo_export_plugin.export"]


def test_one_log_line_per_export_without_personal_data(db, caplog):
    owner, key = seed(db)
    client = falcon.testing.TestClient(make_app(ExportSettings(database=db, trusted_proxies=1, **GENEROUS)))
    caplog.set_level(logging.INFO, logger="spoo_export_plugin.export")
    headers = {"Authorization": f"Bearer {key}", "X-Forwarded-For": "198.51.100.77"}
    ok = client.simulate_get(
        ROUTE,
        params={**ANON, "scope": "all", "short_code": "demo", "group_by": "time,browser"},
        headers=headers,
        remote_addr="192.0.2.55",
    )
    assert ok.status_code == 200
    bad = client.simulate_get(
        ROUTE, params={**ANON, "timezone": "Mars/Base"}, headers=headers, remote_addr="192.0.2.55"
    )
    assert bad.status_code == 400

    records = export_records(caplog)
    assert len(records) == 2
    first, second = records
    assert first["scope"] == "all" and first["format"] == "json" and first["owner"] == str(owner)
    assert first["status"] == 200 and first["outcome"] == "ok"
    assert first["bytes"] == len(ok.content)
    # rows: 31 days + one browser + one (day, browser) pair
    assert first["rows"] == 31 + 1 + 1
    assert isinstance(first["ms"], float) and first["ms"] >= 0
    assert second["status"] == 400 and second["outcome"] == "error" and second["rows"] == 0
    assert second["bytes"] == len(bad.content)
    text = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (key, key[len("spoo_") :], "198.51.100.77", "192.0.2.55", "10.0.0.1"):
        assert secret not in text


def test_log_line_for_an_export_closed_early_and_unknown_values(db, caplog, door):
    seed(db)
    app = make_app(ExportSettings(database=db, **GENEROUS))
    caplog.set_level(logging.INFO, logger="spoo_export_plugin.export")
    status, _, body = open_export(app, ANON)
    assert status == 200 and export_records(caplog) == []  # nothing logged until the body is done
    body.close()
    first_sent = body.sent
    status, _, body = open_export(app, {"format": "<script>", "scope": "x\ny"})
    assert status == 400
    records = export_records(caplog)
    assert [r["outcome"] for r in records] == ["aborted", "error"]
    # what had been handed to the server: nothing under WSGI (the body was never iterated); under ASGI
    # the app pushes its first chunk with the status line, so the client had that chunk when it left
    assert records[0]["bytes"] == first_sent
    assert first_sent == 0 if door == "wsgi" else first_sent > 0
    assert records[1]["format"] == "invalid" and records[1]["scope"] == "invalid"


@pytest.mark.integration
def test_server_that_stops_answering_mid_query_is_a_503_not_a_hang(own_server):
    """The socket timeout (max_time_ms + 2 s) is the backstop when the server overruns its budget;
    pymongo retries the read once, so the worst case is twice that."""
    admin = pymongo.MongoClient(own_server.test_uri)
    seed(admin.get_database("spoo"))
    client = falcon.testing.TestClient(
        make_app(ExportSettings(mongodb_uri=own_server.test_uri, database_name="spoo", max_time_ms=500, **GENEROUS))
    )
    admin.admin.command(
        "configureFailPoint",
        "failCommand",
        mode="alwaysOn",
        data={"failCommands": ["aggregate"], "blockConnection": True, "blockTimeMS": 5_500},
    )
    started = time.monotonic()
    try:
        resp = client.simulate_get(ROUTE, params=ANON)
        elapsed = time.monotonic() - started
    finally:
        admin.admin.command("configureFailPoint", "failCommand", mode="off")
        # let the server finish the blocked (retried) command before the fixture stops it
        time.sleep(max(0.0, started + 8.5 - time.monotonic()))
    assert_503(resp, mentions="time budget")
    assert 2.5 <= elapsed < 6.5, f"answered after {elapsed:.2f}s"
