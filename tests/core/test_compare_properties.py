"""``compare=`` against the oracle (``tests/oracle.py``'s own earlier ranges, by brute force): the
``comparison`` block and every ``previous_*`` and ``clicks_change`` cell, for both comparisons, on
both executors (mongomock), over the scenarios' zones and DST changes, ranges of whole local days
and months (SPEC's first two rules) and any other (the third), a row cap that cuts the current
breakdowns, and period presets at a frozen instant. SecantusDB: ``integration/test_oracle_secantus.py``.
"""

from __future__ import annotations

import os

import mongomock
from hypothesis import HealthCheck, given, settings

from ..scenarios import Scenario, check, make_client, period_scenarios, scenarios

_DB = mongomock.MongoClient().get_database("oracle_compare")
_CLIENTS = {aggregation: make_client(_DB, aggregation=aggregation) for aggregation in ("worker", "database")}
_CAPPED = {aggregation: make_client(_DB, row_cap=3, aggregation=aggregation) for aggregation in ("worker", "database")}

#: ORACLE_EXAMPLES=1000 for a longer hunt.
EXAMPLES = int(os.environ.get("ORACLE_EXAMPLES", 150))
_SETTINGS = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}


@settings(max_examples=EXAMPLES // 2, **_SETTINGS)
@given(scenarios(compare=True))
def test_comparison_matches_oracle(scenario: Scenario) -> None:
    check(_CLIENTS["worker"], _DB, scenario)


@settings(max_examples=EXAMPLES // 3, **_SETTINGS)
@given(scenarios(compare=True))
def test_comparison_matches_oracle_grouping_in_the_database(scenario: Scenario) -> None:
    check(_CLIENTS["database"], _DB, scenario)


@settings(max_examples=EXAMPLES // 5, **_SETTINGS)
@given(scenarios(compare=True, row_cap=3))
def test_comparison_of_capped_breakdowns_matches_oracle(scenario: Scenario) -> None:
    """Rows cut to three: each kept row's earlier figures are still exact (looked up by label in the
    earlier range's whole grouping, which no cap cuts)."""
    check(_CAPPED["worker"], _DB, scenario)


@settings(max_examples=EXAMPLES // 9, **_SETTINGS)
@given(scenarios(compare=True, row_cap=3))
def test_comparison_of_capped_breakdowns_matches_oracle_grouping_in_the_database(scenario: Scenario) -> None:
    check(_CAPPED["database"], _DB, scenario)


@settings(max_examples=EXAMPLES // 3, **_SETTINGS)
@given(period_scenarios())
def test_periods_and_their_comparisons_match_oracle(scenario: Scenario) -> None:
    """A preset at a frozen instant (the oracle's range by brute force), with or without compare."""
    check(scenario.client(_DB, "worker"), _DB, scenario)


@settings(max_examples=EXAMPLES // 6, **_SETTINGS)
@given(period_scenarios())
def test_periods_and_their_comparisons_match_oracle_grouping_in_the_database(scenario: Scenario) -> None:
    check(scenario.client(_DB, "database"), _DB, scenario)
