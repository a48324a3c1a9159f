"""The oracle property tests over a real TCP connection (SecantusDB, MongoDB wire protocol).

Same scenarios as ``tests/test_properties.py``; one database for the test, its
collections emptied before each example.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from ..scenarios import Scenario, check, freeze, make_client, period_scenarios, scenarios

pytestmark = pytest.mark.integration


#: ORACLE_EXAMPLES=1000 for a longer hunt.
EXAMPLES = int(os.environ.get("ORACLE_EXAMPLES", 60))


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(scenario=scenarios())
def test_export_matches_oracle_over_tcp(mongo_db: Any, scenario: Scenario) -> None:
    """A server's default (auto) is the database executor: the full count; the worker one a third."""
    check(make_client(mongo_db), mongo_db, scenario)


@settings(
    max_examples=max(EXAMPLES // 3, 1),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(scenario=scenarios())
def test_export_matches_oracle_over_tcp_grouping_in_the_worker(mongo_db: Any, scenario: Scenario) -> None:
    check(make_client(mongo_db, aggregation="worker"), mongo_db, scenario)


@settings(
    max_examples=max(EXAMPLES // 3, 1),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(scenario=scenarios(row_cap=3))
def test_row_cap_matches_oracle_over_tcp(mongo_db: Any, scenario: Scenario) -> None:
    check(make_client(mongo_db, row_cap=3), mongo_db, scenario)


@settings(
    max_examples=max(EXAMPLES // 9, 1),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(scenario=scenarios(row_cap=3))
def test_row_cap_matches_oracle_over_tcp_grouping_in_the_worker(mongo_db: Any, scenario: Scenario) -> None:
    check(make_client(mongo_db, row_cap=3, aggregation="worker"), mongo_db, scenario)


@settings(
    max_examples=max(EXAMPLES // 3, 1),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(scenario=scenarios(compare=True))
def test_comparison_matches_oracle_over_tcp(mongo_db: Any, scenario: Scenario) -> None:
    """compare= on the server's executor (the database's): the earlier range's one query over TCP."""
    check(make_client(mongo_db), mongo_db, scenario)


@settings(
    max_examples=max(EXAMPLES // 6, 1),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(scenario=period_scenarios())
def test_periods_and_comparisons_match_oracle_over_tcp(mongo_db: Any, scenario: Scenario) -> None:
    check(freeze(make_client(mongo_db), scenario.now), mongo_db, scenario)
