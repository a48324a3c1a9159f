"""Every pipeline the builder can emit runs on MongoDB 5.0 and mongomock 4.3, safely.

Walks the pipelines of all granularities, many group_by combinations, filters (hostile
ones included), exclude_bots and both scopes, and fails on any ``$``-operator outside a
hand-written allowlist of operators that MongoDB 5.0 documents *and* mongomock 4.3 runs.
Also: the first stage is an index-friendly ``$match``; no per-group visitor arrays; each
aggregation carries ``allowDiskUse`` and ``maxTimeMS``; client values stay plain strings.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from bson import ObjectId

from spoo_export_plugin.core.engine.pipeline import (
    QuerySpec,
    breakdown_names,
    build_export_pipeline,
    build_first_click_pipeline,
)
from spoo_export_plugin.core.request.params import GRANULARITIES, ExportRequest, parse_export_request
from spoo_export_plugin.formats import FORMATS

from ..factories import ROUTE, add_api_key, add_url, make_click
from ..scenarios import make_client


def parse(query: dict) -> ExportRequest:
    """The core parser with the registry's format names, as the web and CLI layers call it."""
    return parse_export_request(query, FORMATS)


UTC = timezone.utc
OWNER = ObjectId("650000000000000000000009")

#: Aggregation stages of MongoDB 5.0 that mongomock 4.3 also runs.
STAGES = {
    "$match",
    "$project",
    "$addFields",
    "$set",
    "$unset",
    "$unwind",
    "$group",
    "$sort",
    "$limit",
    "$skip",
    "$count",
    "$facet",
    "$replaceRoot",
    "$lookup",
    "$bucket",
}
#: Query and expression operators of MongoDB 5.0 that mongomock 4.3 also runs.
#: Deliberately absent: $dateTrunc, $dateAdd, $dateDiff, $dateSubtract, $isoWeek,
#: $isoDayOfWeek, $isoWeekYear, $dateToString/$dateFromString (timezone unsupported in
#: mongomock), $sortByCount, $setWindowFields and its window operators, $densify, $fill,
#: $getField, $setField, $top/$bottom/$firstN (5.2+), $addToSet and $push (visitor arrays).
OPERATORS = {
    # query
    "$in",
    "$nin",
    "$eq",
    "$ne",
    "$gt",
    "$gte",
    "$lt",
    "$lte",
    "$exists",
    "$type",
    "$and",
    "$or",
    # expressions: logic, comparison, arithmetic
    "$cond",
    "$ifNull",
    "$not",
    "$switch",
    "$add",
    "$subtract",
    "$multiply",
    "$divide",
    "$mod",
    "$isNumber",
    "$floor",
    "$ceil",
    "$abs",
    "$literal",
    "$concat",
    "$toString",
    "$size",
    # dates (parts accept "timezone" in both)
    "$year",
    "$month",
    "$dayOfMonth",
    "$hour",
    "$minute",
    "$second",
    "$millisecond",
    "$dayOfWeek",
    "$dayOfYear",
    "$dateFromParts",
    # documents
    "$objectToArray",
    "$arrayToObject",
    # accumulators
    "$sum",
    "$min",
    "$max",
    "$first",
    "$last",
    "$avg",
}
FORBIDDEN = {
    "$addToSet",
    "$push",
    "$dateTrunc",
    "$sortByCount",
    "$setWindowFields",
    "$where",
    "$function",
    "$accumulator",
    "$expr",
    "$regex",
    "$isoWeek",
    "$isoDayOfWeek",
}
assert not FORBIDDEN & (STAGES | OPERATORS)

DIMS = ("time", "browser", "os", "country", "city", "referrer", "short_code")  # group_by sets walked
# (UTM and declared dimensions take the same path as these: see test_every_kind_of_dimension_labels_alike)
HOSTILE = (
    '{"$ne": null}',
    "$where",
    "$gt",
    "{'$regex': '.*'}",
    "this.ip == 1",
    "$ne",
    "Unknown",
    "Direct",
    "a.b",
    "$$ROOT",
)


def _group_bys() -> Iterator[tuple[str, ...]]:
    for size in range(1, len(DIMS) + 1):
        yield from itertools.combinations(DIMS, size)
    yield ("browser", "time")
    yield ("short_code", "city", "time", "os")
    yield tuple(reversed(DIMS))


EXTRA = (("platform", "ua_info.device"),)
URL = "650000000000000000000abc"
Selection = tuple[tuple[str, tuple[str, ...]], ...]


def _filter_sets() -> Iterator[tuple[Selection, Selection]]:
    """(filters, exclude) pairs."""
    yield (), ()
    yield (("browser", ("Chrome", "Unknown")),), ()
    yield (("referrer", ("Direct",)), ("country", ("India", "Unknown"))), (("referrer", ("Direct",)),)
    yield (("os", ("Linux",)), ("city", ("Berlin",)), ("short_code", ("a1", "b2"))), (("city", ("Unknown",)),)
    yield (
        tuple((dim, HOSTILE) for dim in ("browser", "os", "country", "city", "referrer", "short_code")),
        tuple((dim, HOSTILE) for dim in ("utm_source", "device", "domain", "platform", "country")),
    )
    yield (
        (
            ("utm_campaign", ("spring",)),
            ("device", ("unknown",)),
            ("platform", ("mobile", "Unknown")),
            ("url_id", (URL,)),
        ),
        (("url_id", (URL,)), ("utm_medium", ("email",)), ("domain", ("Unknown",))),
    )


def all_specs() -> Iterator[QuerySpec]:
    start, end = datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 31, tzinfo=UTC)
    for granularity in GRANULARITIES:  # every one the parser accepts, minute and 10min included
        for group_by in _group_bys():
            # scope=all (the owner), scope=anon on a urlsV2 URL (its id) or on a legacy one (its code)
            selections = ((OWNER, None, None), (None, None, ObjectId(URL)), (None, "a1", None))
            for (filters, exclude), exclude_bots, (owner, code, url) in itertools.product(
                _filter_sets(), (False, True), selections
            ):
                if owner is None and any(dim in ("short_code", "url_id") for dim, _ in filters + exclude):
                    continue  # scope=anon takes no short_code or url_id filter
                yield QuerySpec(
                    start=start,
                    end=end,
                    timezone="Australia/Lord_Howe",
                    granularity=granularity,
                    breakdowns=breakdown_names(group_by),
                    owner_id=owner,
                    short_code=code,
                    url_id=url,
                    filters=filters,
                    exclude=exclude,
                    exclude_bots=exclude_bots,
                    extra_dimensions=EXTRA,
                )


def all_pipelines() -> Iterator[tuple[QuerySpec, list[dict[str, Any]]]]:
    for spec in all_specs():
        yield spec, build_export_pipeline(spec)
        yield spec, build_first_click_pipeline(spec)


def operators(node: Any) -> Iterator[tuple[str, Any]]:
    """Every ``$``-key (stage, query or expression operator) anywhere in a pipeline."""
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(key, str) and key.startswith("$"):
                yield key, value
            yield from operators(value)
    elif isinstance(node, (list, tuple)):
        for item in node:
            yield from operators(item)


def test_the_walk_covers_every_shape() -> None:
    specs = list(all_specs())
    assert len(specs) > 4 * 127 * 10
    seen = {op for _, pipeline in all_pipelines() for op, _ in operators(pipeline)}
    assert {"$objectToArray", "$unwind", "$dateFromParts", "$dayOfWeek", "$in"} <= seen


def test_only_mongodb50_and_mongomock_operators() -> None:
    for spec, pipeline in all_pipelines():
        for stage in pipeline:
            assert len(stage) == 1, stage
            (name,) = stage
            assert name in STAGES, (name, spec)
        for op, value in operators(pipeline):
            assert op in STAGES | OPERATORS, (op, spec)
            assert op not in FORBIDDEN, (op, spec)
            if op == "$dateFromParts":
                assert "timezone" not in value, "mongomock ignores timezone in $dateFromParts"


def test_two_conditions_on_one_field_both_hold() -> None:
    """A declared dimension reading a built-in field, and exclude_bots with a bot_name filter."""
    spec = QuerySpec(
        start=datetime(2025, 1, 1, tzinfo=UTC),
        end=datetime(2025, 2, 1, tzinfo=UTC),
        timezone="UTC",
        granularity="day",
        breakdowns=("browser",),
        owner_id=OWNER,
        filters=(("browser", ("Chrome",)), ("platform", ("Firefox",)), ("bot", ("Googlebot",))),
        exclude=(("browser", ("Safari",)), ("platform", ("Edge",))),
        exclude_bots=True,
        extra_dimensions=(("platform", "browser"), ("bot", "bot_name"), ("owner", "meta.owner_id")),
    )
    match = build_export_pipeline(spec)[0]["$match"]
    assert match["meta.owner_id"] == OWNER
    assert match["$and"] == [
        {"browser": {"$in": ["Chrome"]}},
        {"browser": {"$in": ["Firefox"]}},
        {"bot_name": {"$in": ["Googlebot"]}},
        {"browser": {"$nin": ["Safari"]}},
        {"browser": {"$nin": ["Edge"]}},
        {"bot_name": {"$in": [None, ""]}},
    ]
    owner_filter = dataclasses.replace(spec, filters=(("owner", ("someone-else",)),), exclude=())
    match = build_export_pipeline(owner_filter)[0]["$match"]
    assert match["meta.owner_id"] == OWNER  # a filter never replaces the owner


def test_first_stage_is_an_index_friendly_match() -> None:
    for spec, pipeline in all_pipelines():
        first = pipeline[0]
        assert list(first) == ["$match"], spec
        match = first["$match"]
        keys = list(match)
        if spec.owner_id is not None:
            assert keys[0] == "meta.owner_id" and match["meta.owner_id"] == spec.owner_id
        elif spec.url_id is not None:  # one URL: its id, never its short code
            assert keys[0] == "meta.url_id" and match["meta.url_id"] == spec.url_id
            assert "meta.short_code" not in keys
        else:  # a legacy URL: its code, on clicks of no urlsV2 URL
            assert keys[0] == "meta.short_code" and match["meta.short_code"] == spec.short_code
            assert match["meta.url_id"] is None
        assert "clicked_at" in keys  # key order inside $match does not matter to the planner
        assert set(match["clicked_at"]) <= {"$gte", "$lte"} and "$lte" in match["clicked_at"]
        assert not any(stage.get("$match") for stage in pipeline[1:]), "one match, first"


def test_export_pipeline_groups_twice_and_builds_no_visitor_arrays() -> None:
    for _spec, pipeline in all_pipelines():
        ops = [op for op, _ in operators(pipeline)]
        assert "$addToSet" not in ops and "$push" not in ops
        if "$group" in ops:
            assert [next(iter(s)) for s in pipeline].count("$group") == 2
            assert [next(iter(s)) for s in pipeline][-1] == "$sort"


def _strings_with_parents(node: Any, parent_key: Any = None) -> Iterator[tuple[Any, str, Any]]:
    """(container, string, key under which the container sits) for every string."""
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str):
                yield node, value, key
            else:
                yield from _strings_with_parents(value, key)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, str):
                yield node, item, parent_key
            else:
                yield from _strings_with_parents(item, parent_key)


@pytest.mark.parametrize("value", HOSTILE[:6])
def test_hostile_filter_values_only_reach_in_as_plain_strings(value: str) -> None:
    import json

    params = {
        "format": "json",
        "scope": "all",
        "browser": value.replace(",", ""),
        "filters": json.dumps({"os": [value], "referrer": [value], "city": value}),
        "short_code": value.replace(",", ""),
    }
    request = parse(params)
    spec = QuerySpec(
        start=datetime(2025, 1, 1, tzinfo=UTC),
        end=datetime(2025, 2, 1, tzinfo=UTC),
        timezone="UTC",
        granularity="day",
        breakdowns=breakdown_names(DIMS),
        owner_id=OWNER,
        filters=request.filters,
        exclude_bots=True,
    )
    for pipeline in (build_export_pipeline(spec), build_first_click_pipeline(spec)):
        match = pipeline[0]["$match"]
        hits = [
            (container, key)
            for container, text, key in _strings_with_parents(pipeline)
            if text in (value, value.replace(",", ""))
        ]
        assert len(hits) == 5  # browser, os, referrer, city, short_code
        for container, key in hits:
            assert isinstance(container, list) and key == "$in", (container, key)
        clauses = {field: ops for clause in match["$and"] for field, ops in clause.items()}
        for field in ("browser", "os", "referrer", "city", "meta.short_code"):
            assert set(clauses[field]) == {"$in"}
        assert clauses["bot_name"] == {"$in": [None, ""]}  # exclude_bots: its own clause, kept
        assert all(not str(k).startswith("$") or k in OPERATORS for k, _ in operators(match))
        keys = {k for k, _ in operators(pipeline)}
        assert value not in keys


class _Recording:
    """A collection proxy that records each aggregate call's keyword arguments."""

    def __init__(self, inner: Any, calls: list[dict[str, Any]]):
        self._inner, self._calls = inner, calls

    def aggregate(self, pipeline: list[dict[str, Any]], **kwargs: Any) -> Any:
        self._calls.append({"pipeline": pipeline, **kwargs})
        return self._inner.aggregate(pipeline, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _RecordingDatabase:
    def __init__(self, inner: Any):
        self._inner, self.calls = inner, []

    def __getitem__(self, name: str) -> _Recording:
        return _Recording(self._inner[name], self.calls)

    def get_collection(self, name: str, **kwargs: Any) -> _Recording:
        return _Recording(self._inner.get_collection(name, **kwargs), self.calls)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@pytest.mark.parametrize("with_start", [True, False])
def test_every_aggregation_carries_disk_use_and_time_budget(db: Any, with_start: bool) -> None:
    key = add_api_key(db, OWNER)
    db.clicks.insert_many(
        [
            make_click("a1", OWNER, datetime(2025, 3, 9, 6, 30)),
            make_click("a1", OWNER, datetime(2025, 3, 9, 7, 30), browser="$where"),
        ]
    )
    recording = _RecordingDatabase(db)
    client = make_client(recording, max_time_ms=12_345)
    params = {
        "format": "json",
        "scope": "all",
        "end_date": "2025-03-10T00:00:00Z",
        "group_by": ",".join(DIMS),
        "browser": "$where",
    }
    if with_start:
        params["start_date"] = "2025-03-08T00:00:00Z"
    resp = client.simulate_get(ROUTE, params=params, headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 200, resp.text
    assert resp.json["summary"]["total_clicks"] == 1
    assert len(recording.calls) == (1 if with_start else 2)  # no URL: the first click sets start
    for call in recording.calls:
        assert call["allowDiskUse"] is True
        assert call["maxTimeMS"] == 12_345
        assert list(call["pipeline"][0]) == ["$match"]


def test_a_value_that_looks_like_an_operator_matches_only_itself(db: Any) -> None:
    """Through the app: '{"$ne": null}' is a browser name, not a query."""
    key = add_api_key(db, OWNER)
    add_url(db, "a1", OWNER, created_at=datetime(2025, 3, 1))
    db.clicks.insert_many(
        [
            make_click("a1", OWNER, datetime(2025, 3, 9, 6, 30), browser='{"$ne": null}'),
            make_click("a1", OWNER, datetime(2025, 3, 9, 6, 31), browser="Chrome"),
            make_click("a1", OWNER, datetime(2025, 3, 9, 6, 32), browser="$where"),
        ]
    )
    client = make_client(db)
    for value, expected in (('{"$ne": null}', 1), ("$where", 1), ("$gt", 0), ("{'$exists': true}", 0)):
        import json

        resp = client.simulate_get(
            ROUTE,
            params={
                "format": "json",
                "scope": "all",
                "start_date": "2025-03-09",
                "end_date": "2025-03-10",
                "filters": json.dumps({"browser": [value]}),
                "group_by": "browser",
            },
            headers={"Authorization": f"Bearer {key}"},
        )
        assert resp.status_code == 200, resp.text
        assert resp.json["summary"]["total_clicks"] == expected, value
        assert resp.json["breakdowns"]["browser"] == (
            [{"browser": value, "clicks": 1, "unique_clicks": 1}] if expected else []
        )
