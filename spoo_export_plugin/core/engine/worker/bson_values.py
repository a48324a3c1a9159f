"""How MongoDB's aggregation reads values, for the worker's evaluation of the row stages.

Missing is not null; a field path through an array collects what the array's documents hold;
truthiness, equality and numbers follow BSON (a bool is not a number, ``""`` is true, 1 equals
1.0); ``$mod`` keeps the dividend's sign; a date minus a date is milliseconds; date parts are
read in an IANA time zone. :mod:`.expressions` compiles the row stages into calls of these.
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from bson import Decimal128
from bson.decimal128 import create_decimal128_context

__all__ = [
    "DATE_PARTS",
    "MISSING",
    "LocalTime",
    "add",
    "arithmetic",
    "arithmetic_many",
    "bson_equal",
    "date_from_parts",
    "get_path",
    "is_nullish",
    "is_number",
    "mod",
    "number",
    "product",
    "subtract",
    "sum_numbers",
    "truthy",
]


class _Missing:
    """A field that is not there (MongoDB's "missing", not null)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


# ----------------------------------------------------------------------------------- field paths


def get_path(value: Any, parts: tuple[str, ...]) -> Any:
    """``$a.b.c`` on a document: through an array, the values found in its documents, as an array."""
    for index, part in enumerate(parts):
        if isinstance(value, Mapping):
            value = value.get(part, MISSING)
        elif isinstance(value, list):
            found = [get_path(item, parts[index:]) for item in value if isinstance(item, (Mapping, list))]
            return [item for item in found if item is not MISSING]
        else:
            return MISSING
        if value is MISSING:
            return MISSING
    return value


# ------------------------------------------------------------------------------------- semantics


def is_nullish(value: Any) -> bool:
    return value is None or value is MISSING


def truthy(value: Any) -> bool:
    """BSON truthiness: false, null, missing and zero are false; everything else (``""`` too) true."""
    if is_nullish(value) or value is False:
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value != 0
    if isinstance(value, Decimal128):
        return value.to_decimal() != 0
    return True


def is_number(value: Any) -> bool:
    """``$isNumber``: int, long, double and decimal (Decimal128); a bool is not a number in BSON."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) or isinstance(value, Decimal128)


#: Decimal128 arithmetic: 34 digits, ties to even, no traps (an overflow is Infinity, as on the server).
_DECIMAL128 = create_decimal128_context()
#: A double meeting a decimal in ``$add``, ``$subtract``, ``$multiply`` or ``$mod`` is read to 15
#: significant digits first (the server's mixed-mode conversion); ``$sum`` reads it to 34.
_MIXED_MODE = decimal.Context(prec=15, rounding=decimal.ROUND_HALF_EVEN)


def number(value: Any) -> Any:
    """A BSON number as Python computes with it: a Decimal128 is the exact :class:`~decimal.Decimal` it holds.

    Never a float: MongoDB computes with a decimal in decimal (``$sum``, ``$avg``, ``$add``...
    of a decimal give a decimal), so reading one as a double would round what the server does not.
    """
    return value.to_decimal() if type(value) is Decimal128 else value


def _as_decimal(value: Any, doubles: decimal.Context = _DECIMAL128) -> Any:
    """An operand joining decimal arithmetic: a double rounded in ``doubles``, as the server converts
    it, an int or a decimal exactly; a date stays a date."""
    if type(value) is float:
        return doubles.create_decimal_from_float(value)
    if type(value) in (int, Decimal128, decimal.Decimal):
        return _DECIMAL128.create_decimal(number(value))
    return value


def _bson(value: Any) -> Any:
    """A result of decimal arithmetic as the server holds it: a Decimal128."""
    return Decimal128(value) if isinstance(value, decimal.Decimal) else value


def sum_numbers(total: Any, value: Any) -> Any:
    """One step of ``$sum`` over numbers: ints and doubles add as Python adds them; once a decimal
    is in, the total is a Decimal in Decimal128 arithmetic (what the server's total then is)."""
    if type(value) is Decimal128 or type(total) is decimal.Decimal:
        return _DECIMAL128.add(_as_decimal(total), _as_decimal(value))
    return total + value


def bson_equal(left: Any, right: Any) -> bool:
    """``$eq`` for the values the stages compare: numbers by value, otherwise same type and value."""
    if left is MISSING or right is MISSING:  # missing equals only missing (it sorts below null)
        return left is right
    if is_number(left) and is_number(right):
        return bool(number(left) == number(right))
    return type(left) is type(right) and bool(left == right)


def mod(dividend: Any, divisor: Any) -> Any:
    """``$mod``: the remainder takes the dividend's sign (C's ``fmod``, not Python's ``%``)."""
    if isinstance(dividend, int) and isinstance(divisor, int):
        remainder = abs(dividend) % abs(divisor)
        return remainder if dividend >= 0 else -remainder
    if isinstance(dividend, decimal.Decimal) or isinstance(divisor, decimal.Decimal):
        return dividend % divisor  # a Decimal's remainder keeps the dividend's sign too
    return math.fmod(dividend, divisor)


_UTC = timezone.utc


def _naive_utc(value: Any) -> Any:
    """Dates as naive UTC, as pymongo returns them by default (a tz-aware client's dates too)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(_UTC).replace(tzinfo=None)
    return value


def subtract(left: Any, right: Any) -> Any:
    """Date - date = milliseconds; date - number = an earlier date; number - number."""
    left, right = _naive_utc(left), _naive_utc(right)
    if isinstance(left, datetime):
        if isinstance(right, datetime):
            return (left - right) // timedelta(milliseconds=1)
        return left - timedelta(milliseconds=right)
    return left - right


def add(values: list[Any]) -> Any:
    values = [_naive_utc(v) for v in values]
    dates = [v for v in values if isinstance(v, datetime)]
    if dates:  # one date plus milliseconds
        return dates[0] + timedelta(milliseconds=sum(v for v in values if not isinstance(v, datetime)))
    return sum(values)


class LocalTime:
    """A date's local wall time in a zone, remembered for the next part of the same date.

    The last (date, local time) pair is one attribute, replaced whole: threads sharing a
    compiled function never see one date with another's local time.
    """

    def __init__(self, zone_name: str):
        self.zone = ZoneInfo(zone_name)
        self._last: tuple[datetime | None, datetime] = (None, datetime.min)

    def __call__(self, date: datetime) -> datetime:
        last_date, local = self._last
        if date is not last_date:
            aware = date.replace(tzinfo=_UTC) if date.tzinfo is None else date
            local = aware.astimezone(self.zone)
            self._last = (date, local)
        return local


DATE_PARTS: dict[str, Callable[[datetime], int]] = {
    "$year": lambda d: d.year,
    "$month": lambda d: d.month,
    "$dayOfMonth": lambda d: d.day,
    "$hour": lambda d: d.hour,
    "$minute": lambda d: d.minute,
    "$second": lambda d: d.second,
    "$millisecond": lambda d: d.microsecond // 1000,
    "$dayOfWeek": lambda d: d.isoweekday() % 7 + 1,  # 1 = Sunday ... 7 = Saturday
}


def arithmetic(function: Callable[[Any, Any], Any], left: Any, right: Any) -> Any:
    """A two-operand operator: null when either operand is null or missing."""
    if left is None or left is MISSING or right is None or right is MISSING:
        return None
    if type(left) is Decimal128 or type(right) is Decimal128:  # a decimal makes it decimal arithmetic
        with decimal.localcontext(_DECIMAL128):
            return _bson(function(_as_decimal(left, _MIXED_MODE), _as_decimal(right, _MIXED_MODE)))
    return function(left, right)


def arithmetic_many(function: Callable[[list[Any]], Any], values: list[Any]) -> Any:
    """``$add``/``$multiply``: null when any operand is null or missing."""
    for value in values:
        if value is None or value is MISSING:
            return None
    if any(type(value) is Decimal128 for value in values):
        with decimal.localcontext(_DECIMAL128):
            return _bson(function([_as_decimal(value, _MIXED_MODE) for value in values]))
    return function(values)


def product(values: list[Any]) -> Any:
    return math.prod(values)


def date_from_parts(year: Any, month: Any = 1, day: Any = 1, hour: Any = 0, minute: Any = 0, second: Any = 0) -> Any:
    """``$dateFromParts`` in UTC, parts out of range carried over (month 13 is January next year)."""
    for value in (year, month, day, hour, minute, second):
        if value is None or value is MISSING:
            return None
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return datetime(year, month, 1) + timedelta(days=day - 1, hours=hour, minutes=minute, seconds=second)
