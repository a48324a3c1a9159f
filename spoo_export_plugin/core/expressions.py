"""The row stages' ``$project`` expressions, compiled once per export into one Python function.

The worker executor (:mod:`.grouping`) asks the database for the indexed ``$match`` and the
fields the row stages read (:func:`fields_read`), then runs those same stages here
(:func:`compile_projection`): every label, time key and DST rule is still written once, as the
pipeline data :func:`.pipeline.build_row_stages` returns; this module only evaluates it, with
MongoDB's rules for values (:mod:`.bson_values`). Why: an in-process engine (mongomock,
SecantusDB) interprets each expression per document through a generic parser; one function
generated for the export does the same work several times faster.

The function's source is generated like ``dataclasses`` and ``namedtuple`` generate theirs: no
value from the stages is ever written into it. Field names and literals are read from a table
of constants (``_c[3]``); the only names in the source are the generator's own. Only the
operators the row stages use are known; anything else is refused when compiling, so a new
operator in the pipeline fails loudly in tests, never quietly in production. An operator
expression that occurs more than once in a stage (the time key in every time breakdown) is
evaluated once per document.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

from . import bson_values as bv
from .bson_values import MISSING

__all__ = ["MISSING", "compile_expression", "compile_projection", "fields_read"]

Document = Mapping[str, Any]

_HELPERS: dict[str, Any] = {
    "_M": MISSING, "_path": bv.get_path, "_truthy": bv.truthy, "_eq": bv.bson_equal, "_num": bv.is_number,
    "_arith": bv.arithmetic, "_arith_n": bv.arithmetic_many, "_sub": bv.subtract, "_mod": bv.mod,
    "_add": bv.add, "_prod": bv.product, "_dfp": bv.date_from_parts,
}
_BOOLEAN_OPERATORS = frozenset({"$eq", "$isNumber"})
_DATE_FIELDS = ("year", "month", "day", "hour", "minute", "second")


def _is_inclusion(value: Any) -> bool:
    return value is True or (type(value) is int and value == 1)


class _Source:
    """Python source for one generated function, with its constants and helpers."""

    def __init__(self, repeated: set[str]):
        self.namespace: dict[str, Any] = dict(_HELPERS)
        self.constants: list[Any] = []
        self.lines: list[str] = []  # statements before the result: shared values
        self.shared: dict[str, str] = {}
        self.repeated = repeated
        self.temps = 0
        self.local_times: dict[str, str] = {}

    def constant(self, value: Any) -> str:
        self.constants.append(value)
        return f"_c[{len(self.constants) - 1}]"

    def helper(self, value: Any) -> str:
        name = f"_h{len(self.namespace)}"
        self.namespace[name] = value
        return name

    def temp(self) -> str:
        self.temps += 1
        return f"_t{self.temps}"

    def function(self, result: str) -> Callable[[Document], Any]:
        body = "".join(f"    {line}\n" for line in self.lines)
        source = f"def _generated(doc):\n{body}    return {result}\n"
        namespace = dict(self.namespace, _c=tuple(self.constants))
        exec(compile(source, "<spoo_export_plugin row stages>", "exec"), namespace)  # noqa: S102 - see module doc
        return namespace["_generated"]

    # ------------------------------------------------------------------------ expressions

    def expression(self, expression: Any) -> str:
        """A Python expression over ``doc`` evaluating ``expression`` (MISSING when missing)."""
        if isinstance(expression, str) and expression.startswith("$"):
            if expression.startswith("$$"):
                raise ValueError(f"variables are not supported: {expression!r}")
            parts = tuple(expression[1:].split("."))
            if len(parts) == 1:
                return f"doc.get({self.constant(parts[0])}, _M)"
            if len(parts) == 2:  # the common a.b: straight through a document, else the general rule
                outer = self.temp()
                return (f"({outer}.get({self.constant(parts[1])}, _M) if type({outer} := doc.get("
                        f"{self.constant(parts[0])}, _M)) is dict else _path(doc, {self.constant(parts)}))")
            return f"_path(doc, {self.constant(parts)})"
        if isinstance(expression, Mapping):
            if len(expression) == 1 and next(iter(expression)).startswith("$"):
                return self._operator_once(expression)
            return self.object(expression)
        if isinstance(expression, list):
            # an array holds null where an element is missing
            no_missing = self.helper(_null_for_missing)
            return f"{no_missing}([" + ", ".join(self.expression(item) for item in expression) + "])"
        return self.constant(expression)  # a literal

    def object(self, fields: Mapping[str, Any]) -> str:
        """An expression object: a missing value leaves its field out."""
        items = []
        for name, value in fields.items():
            code, key = self.expression(value), self.constant(name)
            if _may_be_missing(value):
                held = self.temp()
                items.append(f"**({{{key}: {held}}} if ({held} := {code}) is not _M else {{}})")
            else:
                items.append(f"{key}: {code}")
        return "{" + ", ".join(items) + "}"

    def nullish(self, code: str) -> tuple[str, str]:
        """(a test that ``code`` is null or missing, the name holding its value)."""
        value = self.temp()
        return f"(({value} := {code}) is None or {value} is _M)", value

    def _operator_once(self, expression: Mapping[str, Any]) -> str:
        key = repr(expression)
        if key in self.shared:
            return self.shared[key]
        (operator, argument), = expression.items()
        code = self._operator(operator, argument)
        if key in self.repeated:
            name = self.shared[key] = f"_s{len(self.shared)}"
            self.lines.append(f"{name} = {code}")
            return name
        return code

    def _arguments(self, argument: Any, count: int, operator: str) -> list[str]:
        if not isinstance(argument, list) or len(argument) != count:
            raise ValueError(f"{operator} takes {count} arguments")
        return [self.expression(item) for item in argument]

    def _operator(self, operator: str, argument: Any) -> str:  # noqa: C901 - one branch per operator
        if operator in bv.DATE_PARTS:
            return self._date_part(operator, argument)
        if operator == "$cond":
            test_ast = argument[0] if isinstance(argument, list) and argument else None
            test, then, otherwise = self._arguments(argument, 3, operator)
            boolean = isinstance(test_ast, Mapping) and set(test_ast) <= _BOOLEAN_OPERATORS and len(test_ast) == 1
            return f"({then} if {test if boolean else f'_truthy({test})'} else {otherwise})"
        if operator == "$ifNull":
            count = len(argument) if isinstance(argument, list) and len(argument) >= 2 else 2
            *candidates, fallback = self._arguments(argument, count, operator)
            code = fallback
            for candidate in reversed(candidates):
                test, value = self.nullish(candidate)
                code = f"({code} if {test} else {value})"
            return code
        if operator == "$eq":
            left, right = self._arguments(argument, 2, operator)
            if isinstance(argument[1], str) and not argument[1].startswith("$"):  # == a string: a string equal to it
                value = self.temp()
                return f"(type({value} := {left}) is str and {value} == {right})"
            return f"_eq({left}, {right})"
        if operator == "$isNumber":
            return f"_num({self.expression(argument[0] if isinstance(argument, list) else argument)})"
        if operator in ("$subtract", "$mod"):
            left, right = self._arguments(argument, 2, operator)
            return f"_arith({'_sub' if operator == '$subtract' else '_mod'}, {left}, {right})"
        if operator in ("$add", "$multiply"):
            if not isinstance(argument, list):
                raise ValueError(f"{operator} takes a list")
            values = ", ".join(self.expression(item) for item in argument)
            return f"_arith_n({'_add' if operator == '$add' else '_prod'}, [{values}])"
        if operator == "$dateFromParts":
            if not isinstance(argument, Mapping) or not set(argument) <= set(_DATE_FIELDS) or "year" not in argument:
                raise ValueError("$dateFromParts takes year, month, day, hour, minute, second")
            parts = ", ".join(f"{name}={self.expression(argument[name])}" for name in _DATE_FIELDS if name in argument)
            return f"_dfp({parts})"
        raise ValueError(f"the worker executor does not evaluate {operator}")

    def _date_part(self, operator: str, argument: Any) -> str:
        if not isinstance(argument, Mapping) or "date" not in argument or not set(argument) <= {"date", "timezone"}:
            raise ValueError(f"{operator} takes {{date, timezone}}")
        zone_name = argument.get("timezone", "UTC")
        if not isinstance(zone_name, str):
            raise ValueError(f"{operator}: the timezone must be a constant")
        if zone_name not in self.local_times:  # one per zone: the parts of one date convert it once
            self.local_times[zone_name] = self.helper(bv.LocalTime(zone_name))
        part = self.helper(bv.DATE_PARTS[operator])
        test, value = self.nullish(self.expression(argument["date"]))
        return f"(None if {test} else {part}({self.local_times[zone_name]}({value})))"


def _null_for_missing(values: list[Any]) -> list[Any]:
    return [None if value is MISSING else value for value in values]


def _may_be_missing(expression: Any) -> bool:
    """Whether an expression can evaluate to missing: a field path, or a branch that is one."""
    if isinstance(expression, str):
        return expression.startswith("$")
    if isinstance(expression, Mapping) and len(expression) == 1:
        (operator, argument), = expression.items()
        if operator == "$cond" and isinstance(argument, list):
            return any(_may_be_missing(branch) for branch in argument[1:])
        if operator == "$ifNull" and isinstance(argument, list) and argument:
            return _may_be_missing(argument[-1])
    return False


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
    repeated: set[str] = set()
    _repeated_operators(expression, set(), repeated)
    source = _Source(repeated)
    return source.function(source.expression(expression))


def compile_projection(stage: Mapping[str, Any]) -> Callable[[Document], dict[str, Any]]:
    """A ``$project`` stage's function: ``_id: 0`` dropped, ``name: 1`` kept, expressions evaluated."""
    repeated: set[str] = set()
    _repeated_operators(dict(stage), set(), repeated)
    source = _Source(repeated)
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
    source.lines.append(f"_kept = {{name: doc[name] for name in {source.constant(tuple(kept))} if name in doc}}")
    return source.function(f"{{**_kept, **{source.object(computed)}}}")


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
