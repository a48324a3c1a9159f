"""The two executors of ``aggregation`` give the same report: every row, its order, the summary.

Generated scenarios (DST zones, minute/10min/hour buckets, filters, exclusions, UTM, ``device``, ``domain``
and the declared ``platform`` dimension, row caps) run through the app twice over the same clicks; the JSON bodies
must be equal. The worker executor's own limits (``worker_max_clicks``, ``max_time_ms``) and the
choice ``auto`` makes are checked here too. The SecantusDB twin: integration/test_executors_secantus.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import mongomock
import pymongo
import pytest
from bson import Decimal128, ObjectId
from hypothesis import HealthCheck, given, settings

from spoo_export_plugin import ExportSettings
from spoo_export_plugin.core.engine.worker.grouping import TOO_MANY_CLICKS_MESSAGE, choose_executor, group_rows
from spoo_export_plugin.core.exceptions import TIMEOUT_MESSAGE, ConfigurationError, Unavailable
from spoo_export_plugin.core.request.params import parse_export_request
from spoo_export_plugin.core.rows import SUMMARY_KEY, GroupKey, GroupRow
from spoo_export_plugin.core.service import Exporter
from spoo_export_plugin.formats import FORMATS

from ..factories import ROUTE, add_api_key, decimal_redirect_clicks, make_click
from ..scenarios import Scenario, load, make_client, scenarios

_DB = mongomock.MongoClient().get_database("executors")
EXAMPLES = int(os.environ.get("ORACLE_EXAMPLES", 60))


def body_of(client: Any, scenario: Scenario, key: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"} if scenario.api_key else {}
    resp = client.simulate_get(ROUTE, params=scenario.params, headers=headers)
    refused = scenario.resolved
    if refused is not None and refused.status != 200:  # an alias on several domains, or not on the one asked for
        assert (resp.status_code, resp.json["param"]) == (refused.status, refused.param), resp.text
        return resp.json
    assert resp.status_code == 200, (resp.status_code, resp.text, scenario.params)
    body = resp.json
    del body["generated_at"]  # the one field that is the request's own moment
    return body


def assert_same_report(db: Any, scenario: Scenario, **settings: Any) -> None:
    """The worker's JSON equals the database's, key for key and row for row (order included)."""
    key = load(db, scenario.clicks)
    worker = body_of(make_client(db, aggregation="worker", **settings), scenario, key)
    database = body_of(make_client(db, aggregation="database", **settings), scenario, key)
    assert worker == database, (scenario.params, scenario.clicks)
    for name in database.get("breakdowns", ()):  # JSON equality above ignores nothing, this names the culprit
        assert worker["breakdowns"][name] == database["breakdowns"][name], name


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_worker_report_equals_database_report(scenario: Scenario) -> None:
    assert_same_report(_DB, scenario)


@settings(max_examples=max(EXAMPLES // 3, 1), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(row_cap=3))
def test_worker_report_equals_database_report_with_a_row_cap(scenario: Scenario) -> None:
    assert_same_report(_DB, scenario, row_cap=3)


def test_labels_of_every_type_sort_and_group_as_in_the_database(db: Any) -> None:
    """Numbers, strings, booleans, null, dates and documents as labels: MongoDB's type order and equality."""
    owner = ObjectId()
    key = add_api_key(db, owner)
    odd = [5, 5.0, "5", True, 1, None, "", "b", "B", "é", datetime(2025, 1, 1), {"x": 1}, [2, 1], 2.5, "Z"]
    for i, value in enumerate(odd * 2):
        db.clicks.insert_one(
            make_click("a1", owner, datetime(2025, 5, 1, 12, i % 50), browser=value, ip_address=f"10.0.0.{i % 4}")
        )
    params = {
        "format": "json",
        "scope": "all",
        "start_date": "2025-05-01",
        "end_date": "2025-05-02",
        "group_by": "browser,time",
        "granularity": "hour",
    }
    headers = {"Authorization": f"Bearer {key}"}
    bodies = []
    for aggregation in ("worker", "database"):
        resp = make_client(db, aggregation=aggregation).simulate_get(ROUTE, params=params, headers=headers)
        assert resp.status_code == 200, resp.text
        bodies.append({k: v for k, v in resp.json.items() if k != "generated_at"})
    assert bodies[0] == bodies[1]
    assert len(bodies[0]["breakdowns"]["browser"]) > 8


# ------------------------------------------------------------------ the worker executor's own limits


def _clicks(n: int) -> Any:
    db = mongomock.MongoClient().get_database("limits")
    owner = ObjectId()
    db.clicks.insert_many([make_click("a1", owner, datetime(2025, 5, 1, 12, i)) for i in range(n)])
    return db, add_api_key(db, owner)


_PARAMS = {"format": "json", "scope": "all", "start_date": "2025-05-01", "end_date": "2025-05-02"}


def test_past_worker_max_clicks_is_a_503_naming_the_other_executor() -> None:
    db, key = _clicks(3)
    headers = {"Authorization": f"Bearer {key}"}
    assert (
        make_client(db, worker_max_clicks=3, aggregation="worker")
        .simulate_get(ROUTE, params=_PARAMS, headers=headers)
        .status_code
        == 200
    )
    resp = make_client(db, worker_max_clicks=2, aggregation="worker").simulate_get(
        ROUTE, params=_PARAMS, headers=headers
    )
    assert resp.status_code == 503
    assert resp.json["param"] is None
    assert resp.json["error"] == TOO_MANY_CLICKS_MESSAGE
    assert "use aggregation=database" in TOO_MANY_CLICKS_MESSAGE
    assert int(resp.headers["retry-after"]) > 0
    # The database executor has no such limit.
    assert (
        make_client(db, worker_max_clicks=2, aggregation="database")
        .simulate_get(ROUTE, params=_PARAMS, headers=headers)
        .status_code
        == 200
    )


class _SteppingTimer:
    """A clock that moves ``step`` seconds each time it is read."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_worker_grouping_past_max_time_ms_is_the_database_timeout_503() -> None:
    db, _ = _clicks(5)
    settings = ExportSettings(database=db, aggregation="worker", max_time_ms=1000)
    request = parse_export_request({**_PARAMS, "group_by": "time"}, FORMATS)
    spec = Exporter(settings).query_spec(request, db.clicks.find_one()["meta"]["owner_id"], None)
    # 0.3 s per reading: the budget runs out on the fourth row.
    with pytest.raises(Unavailable) as raised:
        Exporter(settings, timer=_SteppingTimer(0.3)).run(request, spec)
    assert str(raised.value) == TIMEOUT_MESSAGE and raised.value.param is None
    assert Exporter(settings, timer=_SteppingTimer(0.1)).run(request, spec).summary.total_clicks == 5


def test_grouping_counts_rows_as_they_stream_and_stops_at_the_limit() -> None:
    """Past the limit the grouping stops reading: it never holds more than the limit."""
    read = 0

    def rows() -> Iterator[dict[str, Any]]:
        nonlocal read
        for _ in range(10):
            read += 1
            yield {"ip": None, "ua": None, "k": {"summary": {"at": datetime(2025, 1, 1), "rm": None}}}

    with pytest.raises(Unavailable, match="too many clicks"):
        group_rows(rows(), timezone="UTC", granularity=None, max_clicks=4, max_time_ms=1000, retry_after=5)
    assert read == 5


# ------------------------------------------------------------------ the row both executors hand the report


def _conforms(row: dict[str, Any]) -> None:
    """``row`` is a :class:`GroupRow`: its required keys, no key the contract does not name, and their types."""
    assert GroupRow.__required_keys__ <= set(row) <= GroupRow.__required_keys__ | GroupRow.__optional_keys__, row
    key = row["_id"]
    assert GroupKey.__required_keys__ <= set(key) <= GroupKey.__required_keys__ | GroupKey.__optional_keys__, key
    assert isinstance(key["b"], str) and isinstance(key.get("t", datetime.min), datetime)
    assert type(key.get("o", 0)) is int
    assert all(type(row[name]) is int and row[name] >= 1 for name in ("clicks", "uniques"))
    assert all(row[name] is None or isinstance(row[name], datetime) for name in ("first", "last"))
    assert (row["first"] is not None) is (key["b"] == SUMMARY_KEY)
    assert type(row["redirect_ms_count"]) is int and type(row["redirect_ms_sum"]) in (int, float, Decimal128)


@pytest.mark.parametrize("granularity", ["day", "10min"])  # 10min: the database adds its sort fields s and r
def test_both_executors_yield_group_rows_and_the_same_ones(granularity: str) -> None:
    db, _ = _clicks(4)
    db.clicks.update_one({}, {"$set": {"redirect_ms": 2.5, "browser": None}})
    owner = db.clicks.find_one()["meta"]["owner_id"]
    request = parse_export_request({**_PARAMS, "group_by": "time,browser,country", "granularity": granularity}, FORMATS)
    rows = {}
    for aggregation in ("database", "worker"):
        exporter = Exporter(ExportSettings(database=db, aggregation=aggregation))
        rows[aggregation] = list(exporter.grouped_rows(exporter.query_spec(request, owner, None)))
        for row in rows[aggregation]:
            _conforms(row)
    sort_fields = {"s", "r"} if granularity == "10min" else set()
    assert all(set(row) - set(GroupRow.__required_keys__) == sort_fields for row in rows["database"])
    assert [{k: v for k, v in row.items() if k not in sort_fields} for row in rows["database"]] == rows["worker"]
    assert {row["_id"]["b"] for row in rows["worker"]} >= {SUMMARY_KEY, "time", "browser", "time,browser"}


def test_the_worker_sums_decimal_redirect_times_in_decimal_as_the_server_does() -> None:
    db = mongomock.MongoClient().get_database("decimals")
    headers = {"Authorization": f"Bearer {decimal_redirect_clicks(db)}"}
    resp = make_client(db, aggregation="worker").simulate_get(ROUTE, params=_PARAMS, headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.json["summary"]["total_clicks"] == 4
    assert resp.json["summary"]["avg_redirect_ms"] == 0.1  # MongoDB: $sum 0.45 (decimal) / 3


# ------------------------------------------------------------------ the setting


def test_auto_groups_in_the_worker_for_mongomock_and_in_the_database_for_a_server() -> None:
    assert choose_executor(ExportSettings(database=mongomock.MongoClient().get_database("x"))) == "worker"
    assert choose_executor(ExportSettings(mongodb_uri="mongodb://localhost:27017")) == "database"
    server = pymongo.MongoClient("mongodb://localhost:27017", connect=False).get_database("x")
    assert choose_executor(ExportSettings(database=server)) == "database"
    assert choose_executor(ExportSettings(database=server, aggregation="worker")) == "worker"
    assert choose_executor(ExportSettings(mongodb_uri="mongodb://localhost:27017", aggregation="worker")) == "worker"
    in_process = mongomock.MongoClient().get_database("x")
    assert choose_executor(ExportSettings(database=in_process, aggregation="database")) == "database"


def test_aggregation_and_worker_max_clicks_are_checked_at_start_up() -> None:
    with pytest.raises(ConfigurationError, match="aggregation"):
        ExportSettings(mongodb_uri="mongodb://localhost", aggregation="python")
    with pytest.raises(ConfigurationError, match="worker_max_clicks"):
        ExportSettings(mongodb_uri="mongodb://localhost", worker_max_clicks=0)
    env = {
        "SPOO_EXPORT_MONGODB_URI": "mongodb://localhost",
        "SPOO_EXPORT_AGGREGATION": "worker",
        "SPOO_EXPORT_WORKER_MAX_CLICKS": "10",
    }
    settings = ExportSettings.from_env(env)
    assert (settings.aggregation, settings.worker_max_clicks, choose_executor(settings)) == ("worker", 10, "worker")
    with pytest.raises(ConfigurationError, match="aggregation"):
        ExportSettings.from_env({**env, "SPOO_EXPORT_AGGREGATION": "Worker"})
