"""``report_max_bytes``: how much one report's rows may hold in memory, shared by its breakdowns.

``row_cap`` bounds each breakdown, not the report: 23 breakdowns of 100,000 rows with
100-character labels held 1.1 GB in one web worker, with 4 such exports per worker. The budget
bounds the sum. A row is estimated at :data:`ROW_BYTES` (its place in the list, its tuple, its
counts) plus the size of its text cells in memory (``sys.getsizeof``: a label of n ASCII
characters is 49 + n bytes); time buckets are shared per report and not counted.

How the budget is shared: rows arrive in report order, breakdown after breakdown. Each is kept
while the total fits; when a row takes the total past the budget, the breakdown holding the
most bytes gives up its last rows until the total fits again, and keeps no row it is offered
later. So a breakdown always keeps its top rows, small breakdowns are kept whole, and the cut
ones end level with each other (within a row): the budget goes to the long breakdowns equally,
whatever order they come in.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import Any

#: Estimated bytes of one report row besides its labels (CPython, 64-bit): a list slot (8), a tuple
#: of 3-5 cells (64-80), two or three counts past the small-int cache (28 each) or a share (24).
ROW_BYTES = 160

Row = tuple[Any, ...]


def row_bytes(cells: Iterable[Any]) -> int:
    """The estimated memory of a row with these cells."""
    return ROW_BYTES + sum(sys.getsizeof(cell) for cell in cells if isinstance(cell, str))


class RowBudget:
    """The rows a report keeps: at most ``row_cap`` per breakdown, at most ``max_bytes`` (None: no
    limit) in all, shared as the module says. :attr:`rows` holds each breakdown's kept rows."""

    def __init__(self, names: Sequence[str], *, row_cap: int, max_bytes: int | None, extra_row_bytes: int = 0):
        self.rows: dict[str, list[Row]] = {name: [] for name in names}
        self.row_cap = row_cap
        self.max_bytes = max_bytes
        self.total = 0
        self._bytes = dict.fromkeys(names, 0)
        self._closed: set[str] = set()
        #: Added to each row's estimate: what a compared row holds besides (``compare=``, :mod:`.comparison`).
        self.extra_row_bytes = extra_row_bytes

    def offer(self, name: str, row: Row) -> None:
        """The next row of ``name`` in its order: kept, or not (then no later one of it is)."""
        kept = self.rows[name]
        if len(kept) >= self.row_cap or name in self._closed:
            return
        kept.append(row)
        if self.max_bytes is None:
            return
        size = row_bytes(row) + self.extra_row_bytes
        self._bytes[name] += size
        self.total += size
        while self.total > self.max_bytes:
            self._shed()

    def _shed(self) -> None:
        """The breakdown holding most gives up its last row and takes no more."""
        largest = max(self._bytes, key=self._bytes.__getitem__)
        size = row_bytes(self.rows[largest].pop()) + self.extra_row_bytes
        self._bytes[largest] -= size
        self.total -= size
        self._closed.add(largest)
