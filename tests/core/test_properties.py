"""Property tests: the endpoint's JSON equals the plain-Python oracle (mongomock tier).

Clicks cluster around DST changes of New York, Berlin, Lord Howe (30-minute DST) and
Chatham (+13:45 -> +12:45), a year end and Kolkata's midnight (+05:30); queries draw
filters, group_by, metrics, granularities, timezones and both scopes, on both executors (``aggregation``).
The same scenarios run over TCP against
SecantusDB in ``integration/test_oracle_secantus.py``.
"""

from __future__ import annotations

import os

import mongomock
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ..scenarios import Scenario, check, check_budgeted, make_client, scenarios

_DB = mongomock.MongoClient().get_database("oracle")
#: mongomock's default (auto) is the worker executor: it gets the full count, the database one a third.
_CLIENTS = {aggregation: make_client(_DB, aggregation=aggregation) for aggregation in ("worker", "database")}
_CAPPED = {aggregation: make_client(_DB, row_cap=3, aggregation=aggregation) for aggregation in ("worker", "database")}
#: report_max_bytes from nothing kept to most reports whole (a row is ~210 bytes here).
BUDGETS = (1, 700, 2_500, 6_000)
_BUDGETED = {
    (aggregation, budget): make_client(_DB, report_max_bytes=budget, aggregation=aggregation)
    for aggregation in ("worker", "database")
    for budget in BUDGETS
}


#: ORACLE_EXAMPLES=1000 for a longer hunt.
EXAMPLES = int(os.environ.get("ORACLE_EXAMPLES", 150))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_export_matches_oracle(scenario: Scenario) -> None:
    check(_CLIENTS["worker"], _DB, scenario)


@settings(max_examples=max(EXAMPLES // 3, 1), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_export_matches_oracle_grouping_in_the_database(scenario: Scenario) -> None:
    check(_CLIENTS["database"], _DB, scenario)


@settings(max_examples=max(EXAMPLES // 3, 1), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(row_cap=3))
def test_row_cap_matches_oracle(scenario: Scenario) -> None:
    """With row_cap=3 every breakdown keeps its first three rows and the summary names the cut ones."""
    check(_CAPPED["worker"], _DB, scenario)


@settings(max_examples=max(EXAMPLES // 9, 1), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(row_cap=3))
def test_row_cap_matches_oracle_grouping_in_the_database(scenario: Scenario) -> None:
    check(_CAPPED["database"], _DB, scenario)


@settings(max_examples=max(EXAMPLES // 3, 1), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.sampled_from(BUDGETS))
def test_report_max_bytes_keeps_the_oracles_top_rows(scenario: Scenario, budget: int) -> None:
    """A breakdown past its share of report_max_bytes holds the oracle's top rows and is named truncated."""
    check_budgeted(_BUDGETED[("worker", budget)], _DB, scenario, budget)


@settings(max_examples=max(EXAMPLES // 9, 1), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.sampled_from(BUDGETS))
def test_report_max_bytes_keeps_the_oracles_top_rows_grouping_in_the_database(scenario: Scenario, budget: int) -> None:
    check_budgeted(_BUDGETED[("database", budget)], _DB, scenario, budget)
