"""The dimensions a report can be grouped, filtered and excluded by.

Four kinds, one behaviour: the built-in ones (spoo.me's click fields), the UTM ones (click
fields of the same names by default), ``device`` and ``domain`` (fields spoo.me stamps since
mid-2026: ``device`` and ``meta.domain``) and any the host declares
(``extra_dimensions={"platform": "device_type"}``). Each maps a name to a click field path;
``time`` is the only dimension that is not a field. ``url_id`` is a filter, not a
dimension: it selects clicks by the id of their URL and never labels a row.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..exceptions import ConfigurationError

TIME = "time"
BUILTIN = ("browser", "os", "country", "city", "referrer", "short_code")
UTM = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
#: Built in since spoo.me stamps them (mid-2026); listed after the UTM ones, as in the raw-click columns.
#: A host may have declared dimensions of these names before: its start-up error says they are built in now.
STAMPED = ("device", "domain")
#: Every built-in dimension read from a click field, in report order.
FIELD_DIMENSIONS = BUILTIN + UTM + STAMPED
URL_ID = "url_id"
#: Label of clicks with no value; ``Direct`` for the referrer.
UNKNOWN = "Unknown"
DIRECT = "Direct"

NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
#: Query parameters of the routes: a declared dimension gets its own comma parameter, so it
#: may not take one of these names.
RESERVED = frozenset(
    {
        TIME,
        URL_ID,
        "format",
        "scope",
        "short_code",
        "start_date",
        "end_date",
        "group_by",
        "metrics",
        "timezone",
        "granularity",
        "period",
        "compare",
        "exclude_bots",
        "filters",
        "exclude",
        "summary",
        "clicks",
        "visitor",
        "bot_name",
        "share",
        "unique_clicks",
    }
) | frozenset(FIELD_DIMENSIONS)
#: Click fields (names in ClickFields) no export ever shows: raw clicks promise it, and only the
#: ``visitor`` pseudonym and the unique counts are made from them.
PRIVATE_FIELDS = ("ip_address", "user_agent")
#: The click fields of :data:`STAMPED` by default (``ClickFields``), named in the error for a declared one.
_STAMPED_DEFAULTS = {"device": "device", "domain": "meta.domain"}


def unknown_label(dimension: str) -> str:
    """What a report shows for a click without a value in this dimension."""
    return DIRECT if dimension == "referrer" else UNKNOWN


def parse_declared(value: Any) -> dict[str, str]:
    """``{"platform": "device_type"}`` or ``"platform=device_type,lang=language"``, validated.

    A name is ``[a-z][a-z0-9_]{0,31}`` and not a built-in dimension or parameter name; a
    path is a MongoDB field path (dotted, no part empty or starting with ``$``).
    """
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        pairs: list[tuple[str, str]] = []
        for item in value.split(","):
            if not item.strip():
                continue
            name, sep, path = item.partition("=")
            if not sep:
                raise ConfigurationError(
                    f"extra_dimensions: {item.strip()!r} is not name=field_path (e.g. platform=device_type)"
                )
            pairs.append((name.strip(), path.strip()))
    elif isinstance(value, Mapping):
        pairs = list(value.items())
    else:
        raise ConfigurationError("extra_dimensions must be a mapping {name: field_path} or 'name=path,...'")
    declared: dict[str, str] = {}
    for name, path in pairs:
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise ConfigurationError(
                f"extra_dimensions: {str(name)[:40]!r} is not a dimension name ([a-z][a-z0-9_]{{0,31}})"
            )
        if name in PRIVATE_FIELDS:
            raise ConfigurationError(
                f"extra_dimensions: {name!r} would name a column after a value exports never "
                "show (IP addresses and user agents); choose another name"
            )
        if name in STAMPED:
            raise ConfigurationError(
                f"extra_dimensions: {name!r} is a built-in dimension now (it reads the click field "
                f"{_STAMPED_DEFAULTS[name]!r} by default; another path goes in fields=ClickFields({name}=...)); "
                "remove the declaration, or give it another name"
            )
        if name in RESERVED:
            raise ConfigurationError(f"extra_dimensions: {name!r} is a built-in name; choose another")
        if name in declared:
            raise ConfigurationError(f"extra_dimensions: {name!r} is declared twice")
        if (
            not isinstance(path, str)
            or not path
            or "\x00" in path
            or any(part == "" or part.startswith("$") for part in path.split("."))
        ):
            raise ConfigurationError(f"extra_dimensions: {name}={str(path)[:60]!r} is not a field path")
        declared[name] = path
    return declared


def field_dimensions(declared: Mapping[str, str]) -> tuple[str, ...]:
    """Every dimension read from a click field, in report order: built-in, UTM, device, domain, declared."""
    return FIELD_DIMENSIONS + tuple(declared)


def field_path(fields: Any, declared: Mapping[str, str], dimension: str) -> str:
    """The click field a dimension reads (``fields`` is the settings' ClickFields)."""
    if dimension in declared:
        return declared[dimension]
    return str(getattr(fields, dimension))


def _overlap(path: str, other: str) -> bool:
    """Whether one field path holds the other (equal, a sub-path, or a parent document of it)."""
    return path == other or path.startswith(other + ".") or other.startswith(path + ".")


def check_no_private_dimension(fields: Any, declared: Mapping[str, str]) -> None:
    """No dimension may read the IP address or the user agent (at ``fields``' configured paths), a part
    of one, or a document holding one (``meta`` when the IP is at ``meta.ip``): its labels would show
    them in every breakdown and raw-click row. A :class:`ConfigurationError` naming the dimension."""
    private = [(name, str(getattr(fields, name))) for name in PRIVATE_FIELDS]
    for dimension in field_dimensions(declared):
        path = field_path(fields, declared, dimension)
        for name, private_path in private:
            if _overlap(path, private_path):
                where = "extra_dimensions" if dimension in declared else "fields"
                raise ConfigurationError(
                    f"{where}: dimension {dimension!r} reads {path!r}, which would show the clicks' {name} "
                    f"(at {private_path!r}); exports never show IP addresses or user agents"
                )
