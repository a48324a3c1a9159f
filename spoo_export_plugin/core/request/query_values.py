"""One query parameter read and checked: a single value, a comma list, a choice, a boolean, a date,
a domain, an object id.

The readers :mod:`.params` builds an :class:`~.params.ExportRequest` from; each problem raises
:class:`BadRequest` naming the parameter, and every value leaves here as plain text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from ..exceptions import BadRequest
from .dates import DATE_ONLY, day_bounds, parse_datetime

MAX_FILTER_VALUES = 1_000
MAX_VALUE_LENGTH = 2_048
MAX_DOMAIN_LENGTH = 253  # a DNS name
_OBJECT_ID = re.compile(r"[0-9a-fA-F]{24}", re.ASCII)
_TRUE = {"true", "1"}
_FALSE = {"false", "0"}

QueryValue = str | Sequence[str]


def is_text(value: str) -> bool:
    """Whether a string can be encoded as UTF-8 (a lone surrogate cannot)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_object_id(value: str) -> bool:
    """24 hexadecimal digits, as an ObjectId prints: a URL's id, or an owner id that is one.

    The one pattern every layer reads ids with (``fullmatch``: a trailing newline is not part of one).
    """
    return bool(_OBJECT_ID.fullmatch(value))


def read_single(params: Mapping[str, QueryValue], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        values = [v for v in value if v != ""]
        if len(set(values)) > 1:
            raise BadRequest(f"{name} was given more than once", name)
        value = values[0] if values else ""
    value = value.strip()
    if len(value) > MAX_VALUE_LENGTH:
        raise BadRequest(f"{name} is too long", name)
    return value


def read_domain(params: Mapping[str, QueryValue]) -> str | None:
    """The URL's domain as given: None when absent; ``""`` (``domain=``) the main domain if the alias is shared."""
    value = params.get("domain")
    if value is None:
        return None
    if not isinstance(value, str) and not (isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)):
        raise BadRequest("domain must be text: a host name such as links.example.com", "domain")
    domain = read_single(params, "domain") or ""
    if (
        len(domain) > MAX_DOMAIN_LENGTH
        or not is_text(domain)
        or any(c.isspace() or not c.isprintable() for c in domain)
    ):
        raise BadRequest(f"domain must be a host name of at most {MAX_DOMAIN_LENGTH} characters", "domain")
    return domain


def read_choice(params: Mapping[str, QueryValue], name: str, allowed: Sequence[str], default: str | None) -> Any:
    value = read_single(params, name)
    if not value:
        if default is None:
            raise BadRequest(f"{name} is required; expected one of {', '.join(allowed)}", name)
        return default
    if value not in allowed:
        raise BadRequest(f"invalid {name} {value[:64]!r}; expected one of {', '.join(allowed)}", name)
    return value


def read_list(params: Mapping[str, QueryValue], name: str) -> list[str]:
    """A comma list (repeating the parameter adds to it); blanks dropped, order kept, deduplicated."""
    raw = params.get(name)
    if raw is None:
        return []
    chunks = [raw] if isinstance(raw, str) else list(raw)
    items: dict[str, None] = {}  # an ordered set: linear de-duplication, whatever the length
    for chunk in chunks:
        for item in chunk.split(","):
            item = item.strip()
            if not item:
                continue
            if len(item) > MAX_VALUE_LENGTH:
                raise BadRequest(f"a value of {name} is too long", name)
            items[item] = None
            if len(items) > MAX_FILTER_VALUES:  # refused as soon as it is known, not after the whole list
                raise BadRequest(f"{name} lists too many values (at most {MAX_FILTER_VALUES})", name)
    return list(items)


def read_bool(params: Mapping[str, QueryValue], name: str) -> bool:
    value = (read_single(params, name) or "false").lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise BadRequest(f"{name} must be true, false, 1 or 0", name)


def read_date(params: Mapping[str, QueryValue], name: str, tz_name: str, last_instant: bool = False) -> datetime | None:
    """An instant, or for a date alone the first (or, as an end, the last) millisecond of that day."""
    value = read_single(params, name)
    if not value:
        return None
    try:
        if DATE_ONLY.fullmatch(value):
            parsed = day_bounds(date.fromisoformat(value), tz_name)[1 if last_instant else 0]
        else:
            parsed = parse_datetime(value)
    except (ValueError, OverflowError):
        raise BadRequest(
            f"{name} must be an ISO 8601 date-time, a date or Unix seconds, got {value[:64]!r}", name
        ) from None
    if not 1970 <= parsed.year <= 9998:
        raise BadRequest(f"{name} is out of range (years 1970 to 9998)", name)
    return parsed
