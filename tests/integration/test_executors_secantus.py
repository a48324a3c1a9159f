"""The worker executor's report equals the database executor's over TCP (SecantusDB): the same
generated scenarios as ``core/test_executors.py``, with the database really grouping and sorting."""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from ..core.test_executors import assert_same_report
from ..scenarios import Scenario, scenarios

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("ORACLE_EXAMPLES", 30))


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(scenario=scenarios())
def test_worker_report_equals_database_report_over_tcp(mongo_db: Any, scenario: Scenario) -> None:
    assert_same_report(mongo_db, scenario)


@settings(
    max_examples=max(EXAMPLES // 3, 1),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(scenario=scenarios(row_cap=3))
def test_worker_report_equals_database_report_with_a_row_cap_over_tcp(mongo_db: Any, scenario: Scenario) -> None:
    assert_same_report(mongo_db, scenario, row_cap=3)


@pytest.mark.parametrize("granularity", ["minute", "10min", "hour", "week"])
@pytest.mark.parametrize("zone", ["America/New_York", "Pacific/Chatham"])
def test_odd_field_values_give_the_servers_rows(mongo_db: Any, granularity: str, zone: str) -> None:
    """The worker's compiled row stages against a server's own ``$project`` (Decimal128 included)."""
    from datetime import datetime

    from spoo_export_plugin.core.engine.pipeline import QuerySpec, breakdown_names

    from ..core.test_expressions import ODD_VALUES, assert_rows_equal, odd_clicks
    from ..scenarios import EXTRA, OWNER_A

    mongo_db.clicks.insert_many(odd_clicks())
    spec = QuerySpec(
        start=datetime(2025, 3, 1),
        end=datetime(2025, 3, 31),
        timezone=zone,
        granularity=granularity,
        breakdowns=breakdown_names(("time", "browser", "referrer", "short_code", "platform")),
        owner_id=OWNER_A,
        extra_dimensions=tuple(EXTRA.items()),
    )
    assert len(assert_rows_equal(mongo_db, spec)) == len(ODD_VALUES)


def test_decimal_redirect_times_give_the_servers_average(mongo_db: Any) -> None:
    """The server's ``$sum`` of decimals is a decimal; the worker's sum is too, so both averages agree."""
    from ..factories import ROUTE, decimal_redirect_clicks
    from ..scenarios import make_client

    headers = {"Authorization": f"Bearer {decimal_redirect_clicks(mongo_db)}"}
    params = {"format": "json", "scope": "all", "start_date": "2025-05-01", "end_date": "2025-05-02"}
    averages = {
        aggregation: make_client(mongo_db, aggregation=aggregation)
        .simulate_get(ROUTE, params=params, headers=headers)
        .json["summary"]["avg_redirect_ms"]
        for aggregation in ("database", "worker")
    }
    assert averages == {"database": 0.1, "worker": 0.1}
