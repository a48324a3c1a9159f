"""The worker's compiled row stages give the rows the engine's ``$project`` gives.

The worker executor has the database run the ``$match`` and send only the fields the row stages
read, and evaluates those stages itself (``core/engine/worker/expressions.py``). Here the same stages run both
ways over the same clicks and the rows must be equal, row for row: generated scenarios (DST
zones, every granularity, declared dimensions, odd field types) and hand-made documents whose
fields hold what a real collection may hold (arrays, documents, booleans, Decimal128, a string
where a document is expected). The SecantusDB twin: integration/test_executors_secantus.py.
"""

from __future__ import annotations

import os
import traceback
from datetime import datetime
from decimal import Decimal
from typing import Any

import mongomock
import pytest
from bson import Decimal128, ObjectId
from hypothesis import HealthCheck, given, settings

from spoo_export_plugin import ExportError, ExportSettings
from spoo_export_plugin.core.engine.pipeline import QuerySpec, breakdown_names, build_row_stages
from spoo_export_plugin.core.engine.worker.bson_values import number, sum_numbers
from spoo_export_plugin.core.engine.worker.expressions import (
    MISSING,
    compile_expression,
    compile_projection,
    fields_read,
)
from spoo_export_plugin.core.engine.worker.grouping import split_row_stages
from spoo_export_plugin.core.request.params import parse_export_request
from spoo_export_plugin.core.service import Exporter
from spoo_export_plugin.formats import FORMATS

from ..scenarios import EXTRA, OWNER_A, Scenario, load, scenarios

_DB = mongomock.MongoClient().get_database("expressions")
EXAMPLES = int(os.environ.get("ORACLE_EXAMPLES", 60))


def spec_of(db: Any, scenario: Scenario) -> QuerySpec:
    exporter = Exporter(ExportSettings(database=db, extra_dimensions=EXTRA))
    request = parse_export_request(scenario.params, FORMATS, tuple(EXTRA))
    owner = OWNER_A if scenario.api_key else None
    return exporter.query_spec(request, owner, exporter.authorize(request, owner))


def assert_rows_equal(db: Any, spec: QuerySpec) -> list[dict[str, Any]]:
    """The engine's rows of the row stages == the worker's rows from the trimmed documents."""
    stages = build_row_stages(spec)
    engine_rows = list(db.clicks.aggregate(stages))
    match, projection, to_row = split_row_stages(stages)
    trimmed = list(db.clicks.find(match, projection))
    worker_rows = [to_row(document) for document in trimmed]
    assert worker_rows == engine_rows, spec
    for worker, engine in zip(worker_rows, engine_rows, strict=True):  # and the same types: 1 == 1.0 == True hide
        assert _types(worker) == _types(engine), (worker, engine)
    return trimmed


def _types(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _types(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_types(item) for item in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "number"  # int and double are one BSON number class ($mod gives a double in mongomock)
    return type(value).__name__


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_compiled_row_stages_equal_the_engines_projection(scenario: Scenario) -> None:
    refused = scenario.resolved
    if refused is not None and refused.status != 200:  # scope=anon names no single URL: no row stages to run
        with pytest.raises(ExportError) as raised:
            spec_of(_DB, scenario)
        assert (raised.value.status, raised.value.param) == (refused.status, refused.param)
        return
    load(_DB, scenario.clicks)
    assert_rows_equal(_DB, spec_of(_DB, scenario))


#: Field values a collection may hold where a label is read: every BSON kind the stages can meet.
ODD_VALUES = (
    "Chrome",
    "",
    None,
    0,
    1,
    2.5,
    True,
    False,
    ["a", "b"],
    [],
    {"x": 1},
    ObjectId("650000000000000000000009"),
    datetime(2025, 1, 1),
    Decimal128("3.5"),
)


def odd_clicks(*, decimal_is_a_number: bool = True) -> list[dict[str, Any]]:
    """Clicks whose fields hold every kind of value.

    Left out where the in-process engines differ from MongoDB, which the worker follows: a path
    through an array (``$ua_info.device`` over ``[{device: ...}]`` is an array of the values in
    MongoDB, missing in mongomock 4.3 and SecantusDB 0.7; see the unit test below) and, for
    mongomock, ``$isNumber`` of a Decimal128 (true in MongoDB and SecantusDB, false in mongomock).
    """
    clicks = []
    for index, value in enumerate(ODD_VALUES):
        redirect_ms = value if decimal_is_a_number or not isinstance(value, Decimal128) else 3.5
        clicks.append(
            {
                "clicked_at": datetime(2025, 3, 9, 6, index, 30, 250_000),
                "meta": {"owner_id": OWNER_A, "short_code": value, "url_id": ObjectId()},
                "browser": value,
                "referrer": value,
                "ip_address": value,
                "user_agent": value,
                "redirect_ms": redirect_ms,
                # a document holding the value, one without it, and a string where a document belongs
                "ua_info": ({"device": value}, {"other": 1}, "not a document")[index % 3],
            }
        )
    return clicks


@pytest.mark.parametrize("granularity", ["minute", "10min", "hour", "day", "week", "month"])
@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Pacific/Chatham", "Asia/Kolkata"])
def test_odd_field_values_give_the_engines_rows(db: Any, granularity: str, zone: str) -> None:
    db.clicks.insert_many(odd_clicks(decimal_is_a_number=False))
    group_by = ("time", "browser", "referrer", "short_code", "platform")
    spec = QuerySpec(
        start=datetime(2025, 3, 1),
        end=datetime(2025, 3, 31),
        timezone=zone,
        granularity=granularity,
        breakdowns=breakdown_names(group_by),
        owner_id=OWNER_A,
        extra_dimensions=tuple(EXTRA.items()),
    )
    trimmed = assert_rows_equal(db, spec)
    assert len(trimmed) == len(ODD_VALUES)
    # only what the stages read crosses the wire: no url_id, no other click field
    assert all(
        set(doc) <= {"clicked_at", "ip_address", "user_agent", "redirect_ms", "browser", "referrer", "meta", "ua_info"}
        for doc in trimmed
    )
    assert all(set(doc.get("meta", {})) <= {"short_code"} for doc in trimmed)


def test_the_database_is_sent_the_match_and_an_inclusion_projection_only() -> None:
    spec = QuerySpec(
        start=datetime(2025, 3, 1),
        end=datetime(2025, 3, 31),
        timezone="Europe/Berlin",
        granularity="hour",
        breakdowns=breakdown_names(("time", "city")),
        owner_id=OWNER_A,
    )
    stages = build_row_stages(spec)
    match, projection, _ = split_row_stages(stages)
    assert match == stages[0]["$match"]  # the same indexed $match
    assert projection == {"_id": 0, "city": 1, "clicked_at": 1, "ip_address": 1, "redirect_ms": 1, "user_agent": 1}


# ---------------------------------------------------------------------------------- operator rules


def evaluate(expression: Any, doc: dict[str, Any]) -> Any:
    return compile_expression(expression)(doc)


def test_a_field_path_through_arrays_collects_the_values_found() -> None:
    doc = {"a": [{"b": 1}, {"c": 2}, "x", {"b": [3]}, [{"b": 4}]]}
    assert evaluate("$a.b", doc) == [1, [3], [4]]
    assert evaluate("$a.b", {"a": "text"}) is MISSING
    assert evaluate("$missing", {}) is MISSING


def test_if_null_treats_missing_and_null_alike_and_keeps_empty_and_zero() -> None:
    assert evaluate({"$ifNull": ["$a", "x"]}, {}) == "x"
    assert evaluate({"$ifNull": ["$a", "x"]}, {"a": None}) == "x"
    assert evaluate({"$ifNull": ["$a", "x"]}, {"a": ""}) == ""
    assert evaluate({"$ifNull": ["$a", "x"]}, {"a": 0}) == 0


def test_cond_reads_bson_truthiness() -> None:
    for value, truthy in (
        (0, False),
        (0.0, False),
        (None, False),
        (False, False),
        (Decimal128("0"), False),
        ("", True),
        ([], True),
        ({}, True),
        (1, True),
        ("0", True),
    ):
        assert evaluate({"$cond": ["$v", "yes", "no"]}, {"v": value}) == ("yes" if truthy else "no"), value
    assert evaluate({"$cond": ["$v", "yes", "no"]}, {}) == "no"


def test_eq_compares_numbers_by_value_and_nothing_else_across_types() -> None:
    assert evaluate({"$eq": ["$v", 1]}, {"v": 1.0}) is True
    assert evaluate({"$eq": ["$v", 1]}, {"v": True}) is False
    assert evaluate({"$eq": ["$v", ""]}, {"v": 0}) is False
    assert evaluate({"$eq": ["$v", None]}, {"v": None}) is True
    assert evaluate({"$eq": ["$v", None]}, {}) is False  # missing is not null
    assert evaluate({"$eq": ["$v", "$w"]}, {}) is True


def test_mod_keeps_the_dividends_sign_as_mongodb_does() -> None:
    assert evaluate({"$mod": [-7, 3]}, {}) == -1
    assert evaluate({"$mod": [7, -3]}, {}) == 1
    assert evaluate({"$mod": [7.5, 2]}, {}) == 1.5


def test_a_decimal_makes_the_arithmetic_decimal_as_mongodb_does() -> None:
    """With a Decimal128 operand the result is a Decimal128 computed in decimal, a double operand read
    to 15 significant digits first (the server's mixed-mode rule: 0.3 - 0.1 is exactly 0.2, where
    the double 0.1 read in full would leave 0.19999999999999999444...); ``$mod`` keeps the sign."""
    doc = {"v": Decimal128("0.3"), "w": Decimal128("-7.5"), "x": Decimal128("2.5")}
    for expression, expected in (
        ({"$subtract": ["$v", 0.1]}, "0.2"),
        ({"$multiply": ["$v", 3]}, "0.9"),
        ({"$add": ["$x", 1, 0.5]}, "4"),
        ({"$mod": ["$w", 2]}, "-1.5"),
        ({"$mod": [7, "$x"]}, "2"),
    ):
        result = evaluate(expression, doc)
        assert type(result) is Decimal128 and result.to_decimal() == Decimal(expected), (expression, result)
    assert evaluate({"$eq": [{"$add": ["$v", 0.2]}, 0.5]}, doc) is True
    assert evaluate({"$eq": ["$v", 0.3]}, doc) is False  # the double 0.3 is not the decimal 0.3
    assert evaluate({"$eq": ["$x", 2.5]}, doc) is True and evaluate({"$isNumber": "$x"}, doc) is True


def test_a_decimal_in_a_sum_makes_the_sum_decimal_as_mongodb_does() -> None:
    """``$sum``: ints and doubles add as numbers; once a decimal is in, the total is a decimal in 34
    digits (ties to even), a double joining it read to 34 digits. The expected totals are the
    ones SecantusDB's ``$sum`` gives for the same values."""
    cases = (
        ([Decimal128("0.01"), Decimal128("0.16"), Decimal128("0.28")], Decimal128("0.45")),
        ([1, Decimal128("2.5")], Decimal128("3.5")),
        ([0.1, Decimal128("0.2")], Decimal128("0.3000000000000000055511151231257827")),
        (
            [Decimal128("1234567890123456789012345678901234"), Decimal128("0.5")],
            Decimal128("1234567890123456789012345678901234"),
        ),
        ([7, 7.5, 12.25], 26.75),
    )
    for values, expected in cases:
        total: Any = 0
        for value in values:
            total = sum_numbers(total, value)
        assert (Decimal128(total) if isinstance(total, Decimal) else total) == expected, values
        assert type(total) is (Decimal if type(expected) is Decimal128 else float)
    assert number(Decimal128("0.1")) == Decimal("0.1") and number(2.5) == 2.5


def test_arithmetic_on_null_or_missing_is_null() -> None:
    assert evaluate({"$add": [1, "$x"]}, {}) is None
    assert evaluate({"$subtract": ["$x", 1]}, {"x": None}) is None
    assert evaluate({"$year": {"date": "$x", "timezone": "UTC"}}, {}) is None


def test_date_parts_are_local_to_the_zone() -> None:
    doc = {"at": datetime(2025, 3, 9, 7, 30)}  # 03:30 EDT, an hour after New York springs forward
    parts = {
        op: evaluate({op: {"date": "$at", "timezone": "America/New_York"}}, doc)
        for op in ("$year", "$month", "$dayOfMonth", "$hour", "$minute", "$dayOfWeek")
    }
    assert parts == {"$year": 2025, "$month": 3, "$dayOfMonth": 9, "$hour": 3, "$minute": 30, "$dayOfWeek": 1}


def test_a_projection_leaves_out_missing_values_and_keeps_included_fields() -> None:
    project = compile_projection({"_id": 0, "ip": 1, "k": {"a": "$x", "b": "$y"}})
    assert project({"_id": 5, "ip": "1.2.3.4", "y": 2}) == {"ip": "1.2.3.4", "k": {"b": 2}}
    assert project({"_id": 5}) == {"k": {}}


def test_a_repeated_expression_is_evaluated_once_per_document() -> None:
    calls = []
    doc_class = type(
        "Doc", (dict,), {"get": lambda self, key, default=None: calls.append(key) or dict.get(self, key, default)}
    )
    time_key = {"$dateFromParts": {"year": "$y", "month": 1, "day": 1}}
    project = compile_projection({"a": {"t": time_key}, "b": {"t": time_key}, "c": {"t": time_key}})
    first, second = doc_class(y=2025), doc_class(y=2026)
    assert project(first) == {name: {"t": datetime(2025, 1, 1)} for name in "abc"}
    assert project(second) == {name: {"t": datetime(2026, 1, 1)} for name in "abc"}
    assert calls == ["y", "y"]


def test_an_array_holds_null_where_an_element_is_missing() -> None:
    assert evaluate(["$nope", 1, "$a"], {"a": 2}) == [None, 1, 2]


def test_a_projection_refuses_exclusions_it_would_misread() -> None:
    with pytest.raises(ValueError):
        compile_projection({"x": 0, "y": 1})


def test_fields_read_names_each_path_once_and_the_outer_of_nested_ones() -> None:
    stage = {"_id": 0, "a": "$meta.short_code", "b": {"$ifNull": ["$meta", "$x.y"]}, "c": 1, "d": "$$ROOT"}
    assert fields_read(stage) == ["c", "meta", "x.y"]


@pytest.mark.parametrize(
    "expression",
    [
        {"$toUpper": "$a"},
        "$$ROOT",
        {"$dateFromParts": {"year": 1, "timezone": "X"}},
        {"$cond": ["$a", 1]},
        {"$isNumber": ["$a", "$b"]},
        {"$cond": [{"$gt": ["$a", 1]}, 1, 0]},
        {"k": [{"$ifNull": [{"$x": 1}, 0]}]},
    ],
)
def test_an_operator_the_worker_does_not_know_fails_when_compiling(expression: Any) -> None:
    with pytest.raises(ValueError):
        compile_expression(expression)


#: Names and texts that would be Python, or close a string, if they were ever written into code.
HOSTILE_NAMES = ("__import__('os')", "'); raise SystemExit('", '"""', "{doc}", "_c", "doc", "shared", "\\\n", "é")


def test_names_and_literals_from_the_stages_are_only_ever_data() -> None:
    stage = {
        name: {"text": {"$ifNull": ["$absent", name]}, "read": "$" + name, "same": {"$eq": ["$" + name, name]}}
        for name in HOSTILE_NAMES
    }
    project = compile_projection(stage)
    assert project({name: name for name in HOSTILE_NAMES}) == {
        name: {"text": name, "read": name, "same": True} for name in HOSTILE_NAMES
    }
    assert project({}) == {name: {"text": name, "same": False} for name in HOSTILE_NAMES}


def test_an_error_while_evaluating_is_traced_to_the_modules_own_lines() -> None:
    """No generated source: every frame of a traceback is a line of a real file."""
    evaluate_year = compile_expression({"$dateFromParts": {"year": "$y"}})
    with pytest.raises(TypeError) as error:
        evaluate_year({"y": "2025"})
    frames = traceback.extract_tb(error.value.__traceback__)
    assert all(os.path.isfile(frame.filename) for frame in frames), [frame.filename for frame in frames]
    assert any(frame.filename.endswith(os.path.join("core", "engine", "worker", "expressions.py")) for frame in frames)
