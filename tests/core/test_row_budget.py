"""``report_max_bytes`` (core/report/row_budget.py) on generated breakdowns: what is kept, and how fairly.

The rule the docs state, checked from outside: every breakdown keeps its top rows; the kept rows
fit the budget; nothing is cut when everything fits, and little of the budget is left when
something is; the cut breakdowns end level with each other and no breakdown holds much more
than a cut one.
"""

from __future__ import annotations

import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from spoo_export_plugin.core.report.row_budget import RowBudget

ROW = 160  # docs/configuration.md: a row counts 160 bytes plus its labels' size in memory


def size(row: tuple) -> int:
    return ROW + sum(sys.getsizeof(cell) for cell in row if isinstance(cell, str))


breakdowns = st.lists(st.lists(st.text(max_size=60), max_size=40), min_size=1, max_size=6).map(
    lambda tables: {f"b{i}": [(label, 40 - n, 1) for n, label in enumerate(rows)] for i, rows in enumerate(tables)}
)


@settings(max_examples=300, deadline=None)
@given(breakdowns, st.integers(0, 12_000), st.integers(1, 50))
def test_the_budget_keeps_top_rows_within_it_fairly(tables, max_bytes, row_cap):
    budget = RowBudget(list(tables), row_cap=row_cap, max_bytes=max_bytes)
    for name, rows in tables.items():  # breakdown after breakdown, each in its order
        for row in rows:
            budget.offer(name, row)
    offered = {name: rows[:row_cap] for name, rows in tables.items()}
    kept = budget.rows
    held = {name: sum(map(size, rows)) for name, rows in kept.items()}
    assert all(kept[name] == rows[: len(kept[name])] for name, rows in offered.items())  # top rows
    assert sum(held.values()) == budget.total <= max_bytes
    cut = [name for name, rows in offered.items() if len(kept[name]) < len(rows)]
    everything = sum(size(row) for rows in offered.values() for row in rows)
    biggest = max((size(row) for rows in offered.values() for row in rows), default=0)
    if everything <= max_bytes:
        assert cut == []
    else:
        assert cut and budget.total > max_bytes - biggest  # the budget is used, to within one row
    for name in cut:  # nobody holds much more than a breakdown that was cut
        assert all(other <= held[name] + 2 * biggest for other in held.values()), (name, held)


def test_without_a_budget_only_the_row_cap_cuts():
    budget = RowBudget(["a"], row_cap=2, max_bytes=None)
    for row in [("x" * 1000, 3), ("y", 2), ("z", 1)]:
        budget.offer("a", row)
    assert budget.rows == {"a": [("x" * 1000, 3), ("y", 2)]} and budget.total == 0


def test_a_row_larger_than_the_budget_leaves_its_breakdown_empty_not_the_others():
    budget = RowBudget(["a", "b"], row_cap=10, max_bytes=1_000)
    budget.offer("a", ("x" * 5_000, 9))
    budget.offer("a", ("small", 1))  # after a cut, a breakdown keeps nothing more: its kept rows stay its top
    budget.offer("b", ("small", 1))
    assert budget.rows == {"a": [], "b": [("small", 1)]}
