"""Fixtures shared by the web layer's tests."""

from __future__ import annotations

import datetime as dt
import time
import types
from typing import Any

import mongomock
import openpyxl.packaging.core
import openpyxl.writer.excel
import pytest

from spoo_export_plugin.core.service import Exporter

#: The instant ``frozen_clock`` stops every clock at.
FROZEN = dt.datetime(2026, 2, 3, 4, 5, 6, 789_000, tzinfo=dt.timezone.utc)


@pytest.fixture
def aggregations(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every query of the clicks sent to the database during the test: a pipeline (the database
    executor), or ``("find", filter)`` (the worker executor's query)."""
    sent: list[Any] = []
    aggregate, find = mongomock.collection.Collection.aggregate, mongomock.collection.Collection.find
    inside_aggregate = []  # mongomock's aggregate reads the collection through its own find

    def counting_aggregate(self: Any, pipeline: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
        sent.append(pipeline)
        inside_aggregate.append(True)
        try:
            return aggregate(self, pipeline, *args, **kwargs)
        finally:
            inside_aggregate.pop()

    def counting_find(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self.name == "clicks" and not inside_aggregate:  # URL and key lookups read other collections
            sent.append(("find", args[0] if args else kwargs.get("filter")))
        return find(self, *args, **kwargs)

    monkeypatch.setattr(mongomock.collection.Collection, "aggregate", counting_aggregate)
    monkeypatch.setattr(mongomock.collection.Collection, "find", counting_find)
    return sent


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> dt.datetime:
    """Every clock an answer shows, stopped at :data:`FROZEN`."""
    defaults = list(Exporter.__init__.__defaults__ or ())
    assert len(defaults) == 3, "Exporter(settings, store=None, clock=..., timer=...): its clock moved"
    defaults[1] = lambda: FROZEN
    monkeypatch.setattr(Exporter.__init__, "__defaults__", tuple(defaults))
    monkeypatch.setattr(time, "time", FROZEN.timestamp)

    class FrozenDatetime(dt.datetime):
        @classmethod
        def now(cls, tz: dt.tzinfo | None = None) -> dt.datetime:  # type: ignore[override]
            return FROZEN.astimezone(tz) if tz is not None else FROZEN.astimezone().replace(tzinfo=None)

    frozen_module = types.SimpleNamespace(**{**vars(dt), "datetime": FrozenDatetime})
    monkeypatch.setattr(openpyxl.packaging.core, "datetime", frozen_module)  # the xlsx's created
    monkeypatch.setattr(openpyxl.writer.excel, "datetime", frozen_module)  # and modified (set when saved)
    return FROZEN
