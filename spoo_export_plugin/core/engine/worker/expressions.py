"""The row stages' ``$project`` expressions, compiled once per export into Python closures.

The worker executor (:mod:`.grouping`) asks the database for the indexed ``$match`` and the
fields the row stages read (:func:`fields_read`), then runs those same stages here
(:func:`compile_projection`): every label, time key and DST rule is still written once, as the
pipeline data :func:`.pipeline.build_row_stages` returns; this module only evaluates it, with
MongoDB's rules for values (:mod:`.bson_values`). Why: an in-process engine (mongomock,
SecantusDB) interprets each expression per document through a generic parser, re-reading the
operator names every time; here each expression node is read once, when compiling, into a
closure of its compiled operands, and a document only runs the closures.

No source text is generated and nothing is ``exec``'d: a value from the stages can only ever be
data held by a closure, a traceback names this module's lines, and a reviewer reads plain
functions. Only the operators the row stages use are known; anything else is refused when
compiling, so a new operator in the pipeline fails loudly in tests, never quietly in
production. An operator expression that occurs more than once in a stage (the time key in
every time breakdown) is evaluated once per document, before the stage's fields.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .bson_values import (
    DATE_PARTS,
    MISSING,
    LocalTime,
    add,
    arithmetic,
    arithmetic_many,
    bson_equal,
    date_from_parts,
    get_path,
    is_number,
    mod,
    product,
    subtract,
    truthy,
)

__all__ = ["MISSING", "compile_expression", "compile_projection", "fields_read"]

Document = Mapping[str, Any]
#: A compiled expression: its value in a document, given the values of the stage's shared
#: (repeated) expressions, computed before it.
Evaluate = Callable[[Document, list[Any]], Any]

_BOOLEAN_OPERATORS = frozenset({"$eq", "$isNumber"})
_DATE_FIELDS = {"year": None, "month": 1, "day": 1, "hour": 0, "minute": 0, "second": 0}  # name: default


def _is_inclusion(value: Any) -> bool:
    return value is True or (type(value) is int and value == 1)


def _is_boolean(expression: Any) -> bool:
    """Whether an expression's value is always true or false (a test needing no truthiness)."""
    return isinstance(expression, Mapping) and len(expression) == 1 and set(expression) <= _BOOLEAN_OPERATORS


def _literal(value: Any) -> Evaluate:
    return lambda doc, shared: value


class _Compiler:
    """Compiles the expressions of one stage; remembers its shared expressions and zones."""

    def __init__(self, stage: Any):
        self.repeated: set[str] = set()
        _repeated_operators(stage, set(), self.repeated)
        self.shared_index: dict[str, int] = {}
        self.shared_steps: list[Evaluate] = []
        self.local_times: dict[str, LocalTime] = {}  # one per zone: a date's parts convert it once

    def function(self, evaluate: Evaluate) -> Callable[[Document], Any]:
        """The stage's function of a document: its shared values first, in dependency order."""
        steps = tuple(self.shared_steps)

        def run(doc: Document) -> Any:
            shared: list[Any] = []
            for step in steps:
                shared.append(step(doc, shared))
            return evaluate(doc, shared)

        return run

    def expression(self, expression: Any) -> Evaluate:
        """``expression``'s closure; its value is MISSING where MongoDB's is missing."""
        if isinstance(expression, str) and expression.startswith("$"):
            return self.path(expression)
        if isinstance(expression, Mapping):
            if len(expression) == 1 and next(iter(expression)).startswith("$"):
                return self.operator_once(expression)
            return self.object(expression)
        if isinstance(expression, list):  # an array holds null where an element is missing
            items = _values([self.expression(item) for item in expression])
            return lambda doc, shared: [None if value is MISSING else value for value in items(doc, shared)]
        return _literal(expression)

    def path(self, expression: str) -> Evaluate:
        if expression.startswith("$$"):
            raise ValueError(f"variables are not supported: {expression!r}")
        parts = tuple(expression[1:].split("."))
        if len(parts) == 1:
            name = parts[0]
            return lambda doc, shared: doc.get(name, MISSING)
        if len(parts) == 2:  # the common a.b: straight through a document, else the general rule
            outer, inner = parts
            return lambda doc, shared: (
                value.get(inner, MISSING) if type(value := doc.get(outer, MISSING)) is dict else get_path(doc, parts)
            )
        return lambda doc, shared: get_path(doc, parts)

    def fields(self, fields: Mapping[str, Any]) -> list[tuple[str, Evaluate]]:
        return [(name, self.expression(value)) for name, value in fields.items()]

    def object(self, fields: Mapping[str, Any]) -> Evaluate:
        """An expression object: a missing value leaves its field out."""
        compiled = self.fields(fields)

        def evaluate(doc: Document, shared: list[Any]) -> dict[str, Any]:
            result = {}
            for name, item in compiled:  # a loop, not a comprehension: no frame of its own (Python < 3.12)
                if (value := item(doc, shared)) is not MISSING:
                    result[name] = value
            return result

        return evaluate

    def operator_once(self, expression: Mapping[str, Any]) -> Evaluate:
        key = repr(expression)
        index = self.shared_index.get(key)
        if index is None:
            ((operator, argument),) = expression.items()
            evaluate = self.operator(operator, argument)
            if key not in self.repeated:
                return evaluate
            index = self.shared_index[key] = len(self.shared_steps)
            self.shared_steps.append(evaluate)  # after the shared expressions inside it
        position = index
        return lambda doc, shared: shared[position]

    def arguments(self, argument: Any, count: int, operator: str) -> list[Evaluate]:
        if not isinstance(argument, list) or len(argument) != count:
            raise ValueError(f"{operator} takes {count} arguments")
        return [self.expression(item) for item in argument]

    def operator(self, operator: str, argument: Any) -> Evaluate:
        if operator in DATE_PARTS:
            return self.date_part(operator, argument)
        if operator == "$cond":
            test, then, otherwise = self.arguments(argument, 3, operator)
            if not _is_boolean(argument[0]):
                test = _truthy(test)
            return lambda doc, shared: then(doc, shared) if test(doc, shared) else otherwise(doc, shared)
        if operator == "$ifNull":
            count = len(argument) if isinstance(argument, list) and len(argument) >= 2 else 2
            *candidates, fallback = self.arguments(argument, count, operator)
            return _if_null(candidates, fallback)
        if operator == "$eq":
            left, right = self.arguments(argument, 2, operator)
            text = argument[1]
            if isinstance(text, str) and not text.startswith("$"):  # == a string: a string equal to it
                return lambda doc, shared: type(value := left(doc, shared)) is str and value == text
            return lambda doc, shared: bson_equal(left(doc, shared), right(doc, shared))
        if operator == "$isNumber":
            (value,) = self.arguments(argument if isinstance(argument, list) else [argument], 1, operator)
            return lambda doc, shared: is_number(value(doc, shared))
        if operator in ("$subtract", "$mod"):
            left, right = self.arguments(argument, 2, operator)
            two = subtract if operator == "$subtract" else mod
            return lambda doc, shared: arithmetic(two, left(doc, shared), right(doc, shared))
        if operator in ("$add", "$multiply"):
            if not isinstance(argument, list):
                raise ValueError(f"{operator} takes a list")
            items, many = _values([self.expression(item) for item in argument]), add if operator == "$add" else product
            return lambda doc, shared: arithmetic_many(many, items(doc, shared))
        if operator == "$dateFromParts":
            if not isinstance(argument, Mapping) or not set(argument) <= set(_DATE_FIELDS) or "year" not in argument:
                raise ValueError("$dateFromParts takes year, month, day, hour, minute, second")
            parts = _values(
                [
                    self.expression(argument[name]) if name in argument else _literal(default)
                    for name, default in _DATE_FIELDS.items()
                ]
            )
            return lambda doc, shared: date_from_parts(*parts(doc, shared))
        raise ValueError(f"the worker executor does not evaluate {operator}")

    def date_part(self, operator: str, argument: Any) -> Evaluate:
        if not isinstance(argument, Mapping) or "date" not in argument or not set(argument) <= {"date", "timezone"}:
            raise ValueError(f"{operator} takes {{date, timezone}}")
        zone_name = argument.get("timezone", "UTC")
        if not isinstance(zone_name, str):
            raise ValueError(f"{operator}: the timezone must be a constant")
        if zone_name not in self.local_times:
            self.local_times[zone_name] = LocalTime(zone_name)
        local, part, date = self.local_times[zone_name], DATE_PARTS[operator], self.expression(argument["date"])
        return lambda doc, shared: (
            None if (value := date(doc, shared)) is None or value is MISSING else part(local(value))
        )


def _values(items: list[Evaluate]) -> Callable[[Document, list[Any]], list[Any]]:
    """The values of ``items``, in a list."""

    def evaluate(doc: Document, shared: list[Any]) -> list[Any]:
        values = []
        for item in items:
            values.append(item(doc, shared))
        return values

    return evaluate


def _truthy(value: Evaluate) -> Evaluate:
    return lambda doc, shared: truthy(value(doc, shared))


def _if_null(candidates: list[Evaluate], fallback: Evaluate) -> Evaluate:
    """``$ifNull``: the first candidate neither null nor missing, else the fallback."""
    if len(candidates) == 1:
        (first,) = candidates
        return lambda doc, shared: (
            value if (value := first(doc, shared)) is not None and value is not MISSING else fallback(doc, shared)
        )

    def evaluate(doc: Document, shared: list[Any]) -> Any:
        for candidate in candidates:
            value = candidate(doc, shared)
            if value is not None and value is not MISSING:
                return value
        return fallback(doc, shared)

    return evaluate


def _repeated_operators(expression: Any, seen: set[str], repeated: set[str]) -> None:
    if isinstance(expression, Mapping):
        if len(expression) == 1 and next(iter(expression)).startswith("$"):
            key = repr(expression)
            if key in seen:
                repeated.add(key)
                return
            seen.add(key)
        for value in expression.values():
            _repeated_operators(value, seen, repeated)
    elif isinstance(expression, list):
        for item in expression:
            _repeated_operators(item, seen, repeated)


def compile_expression(expression: Any) -> Callable[[Document], Any]:
    """A function of a document that evaluates ``expression`` as MongoDB's aggregation would."""
    compiler = _Compiler(expression)
    return compiler.function(compiler.expression(expression))


def compile_projection(stage: Mapping[str, Any]) -> Callable[[Document], dict[str, Any]]:
    """A ``$project`` stage's function: ``_id: 0`` dropped, ``name: 1`` kept, expressions evaluated."""
    compiler = _Compiler(dict(stage))
    kept = [] if stage.get("_id", 1) in (0, False) else ["_id"]
    computed: dict[str, Any] = {}
    for name, value in stage.items():
        if name == "_id" and value in (0, False):
            continue
        if value is False or (type(value) is int and value == 0):
            raise ValueError(f"exclusion of {name!r} is not supported (only of _id)")
        if _is_inclusion(value):
            if "." in name:
                raise ValueError(f"inclusion of a nested path is not supported: {name!r}")
            kept.append(name)
        else:
            computed[name] = value
    kept_names, fields = tuple(kept), compiler.fields(computed)

    def project(doc: Document, shared: list[Any]) -> dict[str, Any]:
        row = {name: doc[name] for name in kept_names if name in doc}
        for name, item in fields:
            if (value := item(doc, shared)) is not MISSING:
                row[name] = value
        return row

    return compiler.function(project)


def fields_read(stage: Mapping[str, Any]) -> list[str]:
    """The document fields a ``$project`` stage reads: what the database must send for it."""
    paths: set[str] = set()
    for name, value in stage.items():
        if name == "_id":
            continue
        if _is_inclusion(value):
            paths.add(name)
        else:
            paths.update(_paths_in(value))
    # A path and one inside it (``a`` and ``a.b``) would be a projection collision: keep the outer.
    return sorted(p for p in paths if not any(p.startswith(other + ".") for other in paths))


def _paths_in(expression: Any) -> Iterable[str]:
    if isinstance(expression, str) and expression.startswith("$") and not expression.startswith("$$"):
        yield expression[1:]
    elif isinstance(expression, Mapping):
        for value in expression.values():
            yield from _paths_in(value)
    elif isinstance(expression, list):
        for item in expression:
            yield from _paths_in(item)
