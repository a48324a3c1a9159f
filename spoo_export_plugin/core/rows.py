"""The row the engine hands the report: one group document per breakdown key, in report order.

Both executors yield these rows: the database runs the export pipeline
(:func:`.engine.pipeline.build_grouping_stages`), the worker counts the same documents in
:func:`.engine.worker.grouping.group_rows`; :func:`.report.report.assemble_report` folds them
into a ``Report``. The contract lives here, beside neither, so the report reads it without
importing the engine (an import-linter contract in setup.cfg).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:  # the report room loads no BSON library for a type hint
    from bson import Decimal128

__all__ = ["SUMMARY_KEY", "GroupKey", "GroupRow"]

#: The breakdown name of the row that carries the whole range's totals (clicks, first/last, redirect).
SUMMARY_KEY = "summary"


class _GroupKeyName(TypedDict):
    b: str


class GroupKey(_GroupKeyName, total=False):
    """A row's ``_id``: the breakdown name ``b`` (or :data:`SUMMARY_KEY`) and what its key holds.

    ``t`` is a time bucket's local wall start (a naive datetime, read as if UTC), ``o`` the
    zone's offset then in milliseconds, ``d`` a dimension's label (a string, or whatever a
    host's field holds); each is absent when the breakdown has no such part.
    """

    t: datetime
    o: int
    d: Any


class _GroupCounts(TypedDict):
    _id: GroupKey
    clicks: int
    uniques: int
    #: Earliest and latest click: set on the summary row, None on the others.
    first: datetime | None
    last: datetime | None
    #: ``$sum`` of the numeric redirect times: a Decimal128 as soon as one of them is a decimal.
    redirect_ms_sum: int | float | Decimal128
    redirect_ms_count: int


class GroupRow(_GroupCounts, total=False):
    """One group document. ``s`` and ``r`` are the database's sort fields for minute, 10min and
    hour buckets (the bucket's real start, and 0 when its wall start is in force); the report
    does not read them, and the worker, which sorts with a Python key, does not add them."""

    s: datetime
    r: int
