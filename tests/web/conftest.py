"""Fixtures shared by the web layer's tests."""

from __future__ import annotations

from typing import Any

import mongomock
import pytest


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
