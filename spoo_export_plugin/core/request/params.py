"""Turn query parameters into a validated, frozen :class:`ExportRequest`.

Works on a plain mapping (``str -> str | list[str]``) so it is testable without a web
framework. Every problem raises :class:`BadRequest` naming the parameter. Filter values
only ever leave here as plain strings, so nothing a client sends can become a MongoDB
operator.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ..exceptions import BadRequest
from .dates import DATE_ONLY, day_bounds, parse_datetime
from .dimensions import BUILTIN, TIME, URL_ID, UTM
from .timezones import resolve_timezone

SCOPES = ("all", "anon")
#: The scope of a per-link export (``<route>/links/<url_id>``), set by the route, never sent.
LINK_SCOPE = "link"
#: Dimensions every app has; a host may declare more (settings.extra_dimensions).
DIMENSIONS = (TIME,) + BUILTIN + UTM
#: Dimensions read from a click field: filters, exclusions and their comma parameters.
FILTER_DIMENSIONS = BUILTIN + UTM
METRICS = ("clicks", "unique_clicks", "share")
DEFAULT_METRICS = ("clicks", "unique_clicks")
GRANULARITIES = ("minute", "10min", "hour", "day", "week", "month")

MAX_FILTER_VALUES = 1_000
MAX_VALUE_LENGTH = 2_048
MAX_DOMAIN_LENGTH = 253  # a DNS name
_OBJECT_ID = re.compile(r"[0-9a-fA-F]{24}", re.ASCII)
_TRUE = {"true", "1"}
_FALSE = {"false", "0"}

QueryValue = str | Sequence[str]


@dataclass(frozen=True)
class ExportRequest:
    """What the caller asked for, validated. Dates are aware UTC datetimes or None."""

    format: str
    scope: str = "all"
    short_codes: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    group_by: tuple[str, ...] = ("time",)
    metrics: tuple[str, ...] = DEFAULT_METRICS
    timezone: str = "UTC"
    granularity: str | None = None
    exclude_bots: bool = False
    #: ``((dimension, (value, ...)), ...)`` in dimension order, ``url_id`` last.
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: Clicks with one of these values are left out; same shape, wins over ``filters``.
    exclude: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: The URL of a per-link export (``scope="link"``), set once the caller may read it.
    url_id: str | None = None
    #: ``scope=anon``: the URL's custom domain; ``""`` the main domain; None not given (any domain).
    domain: str | None = None

    @property
    def short_code(self) -> str | None:
        """The short code as shown in reports (comma-joined for several)."""
        return ",".join(self.short_codes) if self.short_codes else None

    def filter_dict(self) -> dict[str, list[str]]:
        return {dim: list(values) for dim, values in self.filters}

    def exclude_dict(self) -> dict[str, list[str]]:
        return {dim: list(values) for dim, values in self.exclude}


def parse_export_request(
    params: Mapping[str, QueryValue], formats: Collection[str], extra_dimensions: Sequence[str] = ()
) -> ExportRequest:
    """Validate raw query parameters; raise :class:`BadRequest` naming the culprit.

    ``formats`` are the names the format registry holds and ``extra_dimensions`` the names the
    host declared: the web and CLI layers pass them, so the core never imports a format module.
    """
    fmt = _choice(params, "format", tuple(formats), default=None)
    scope = _choice(params, "scope", SCOPES, default="all")
    short_codes = _list(params, "short_code")
    if scope == "anon":
        if not short_codes:
            raise BadRequest("short_code is required when scope=anon", "short_code")
        if len(short_codes) > 1:
            raise BadRequest("scope=anon takes exactly one short_code", "short_code")
    domain = _domain(params)  # checked on every scope: a bad value is a 400 wherever it is sent
    if scope != "anon":
        domain = None  # it picks the URL: nothing to pick with scope=all

    tz_name = _single(params, "timezone") or "UTC"
    try:
        tz_name = resolve_timezone(tz_name)
    except LookupError:
        raise BadRequest(
            f"unknown timezone {tz_name[:64]!r}; use an IANA name such as America/New_York", "timezone"
        ) from None
    start = _date(params, "start_date", tz_name)
    end = _date(params, "end_date", tz_name, last_instant=True)
    if start is not None and end is not None and start > end:
        raise BadRequest("start_date is after end_date", "start_date")

    field_dims = FILTER_DIMENSIONS + tuple(extra_dimensions)
    dimensions = (TIME,) + field_dims
    group_by = _list(params, "group_by") or [TIME]
    for dim in group_by:
        if dim not in dimensions:
            raise BadRequest(
                f"unknown group_by dimension {dim[:64]!r}; expected some of {', '.join(dimensions)}", "group_by"
            )
    if scope == "anon" and "short_code" in group_by:
        raise BadRequest("group_by=short_code is only available with scope=all", "group_by")

    metrics = _list(params, "metrics") or list(DEFAULT_METRICS)
    for metric in metrics:
        if metric not in METRICS:
            raise BadRequest(f"unknown metric {metric[:64]!r}; expected some of {', '.join(METRICS)}", "metrics")

    granularity = _choice(params, "granularity", GRANULARITIES, default="")
    exclude_bots = _bool(params, "exclude_bots")
    filters = _selection(params, "filters", field_dims, scope, short_codes)
    exclude = _selection(params, "exclude", field_dims, scope, ())

    return ExportRequest(
        format=fmt,
        scope=scope,
        short_codes=tuple(short_codes),
        start=start,
        end=end,
        group_by=tuple(group_by),
        metrics=tuple(metrics),
        timezone=tz_name,
        granularity=granularity or None,
        exclude_bots=exclude_bots,
        filters=filters,
        exclude=exclude,
        domain=domain,
    )


def parse_link_request(
    params: Mapping[str, QueryValue], formats: Collection[str], extra_dimensions: Sequence[str] = ()
) -> ExportRequest:
    """The per-link route's parameters: the main route's, but the link is in the path.

    ``scope`` and ``short_code`` would contradict the path, so either is a 400.
    """
    for name in ("scope", "short_code", URL_ID):
        if name in params:
            raise BadRequest(f"{name} is not a parameter of the per-link route: the link is in the path", name)
    request = parse_export_request(params, formats, extra_dimensions)
    if any(dim == URL_ID for dim, _ in request.filters + request.exclude):
        raise BadRequest("url_id is not a filter of the per-link route: the link is in the path", URL_ID)
    return dataclasses.replace(request, scope=LINK_SCOPE)


def _is_text(value: str) -> bool:
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


def _single(params: Mapping[str, QueryValue], name: str) -> str | None:
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


def _domain(params: Mapping[str, QueryValue]) -> str | None:
    """The URL's domain as given: None when absent; ``""`` (``domain=``) the main domain if the alias is shared."""
    value = params.get("domain")
    if value is None:
        return None
    if not isinstance(value, str) and not (isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)):
        raise BadRequest("domain must be text: a host name such as links.example.com", "domain")
    domain = _single(params, "domain") or ""
    if (
        len(domain) > MAX_DOMAIN_LENGTH
        or not _is_text(domain)
        or any(c.isspace() or not c.isprintable() for c in domain)
    ):
        raise BadRequest(f"domain must be a host name of at most {MAX_DOMAIN_LENGTH} characters", "domain")
    return domain


def _choice(params: Mapping[str, QueryValue], name: str, allowed: Sequence[str], default: str | None) -> Any:
    value = _single(params, name)
    if not value:
        if default is None:
            raise BadRequest(f"{name} is required; expected one of {', '.join(allowed)}", name)
        return default
    if value not in allowed:
        raise BadRequest(f"invalid {name} {value[:64]!r}; expected one of {', '.join(allowed)}", name)
    return value


def _list(params: Mapping[str, QueryValue], name: str) -> list[str]:
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


def _bool(params: Mapping[str, QueryValue], name: str) -> bool:
    value = (_single(params, name) or "false").lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise BadRequest(f"{name} must be true, false, 1 or 0", name)


def _date(params: Mapping[str, QueryValue], name: str, tz_name: str, last_instant: bool = False) -> datetime | None:
    """An instant, or for a date alone the first (or, as an end, the last) millisecond of that day."""
    value = _single(params, name)
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


def _selection(
    params: Mapping[str, QueryValue], name: str, field_dims: Sequence[str], scope: str, short_codes: Sequence[str]
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``filters`` (with the single comma parameters) or ``exclude``, merged and validated.

    Within a dimension values are a union; a blank value names nothing; ``url_id`` values
    are ObjectIds (24 hex digits) and only make sense with ``scope=all``.
    """
    merged: dict[str, dict[str, None]] = {}  # ordered sets: linear de-duplication
    allowed = tuple(field_dims) + (URL_ID,)

    def add(dim: str, values: Sequence[str]) -> None:
        merged.setdefault(dim, {}).update(dict.fromkeys(values))

    raw = _single(params, name)
    if raw:
        example = '{"browser": ["Chrome"]}'
        try:
            decoded = json.loads(raw)
        except (ValueError, RecursionError):  # deeply nested arrays exhaust the decoder's stack
            raise BadRequest(f"{name} must be a JSON object such as {example}", name) from None
        if not isinstance(decoded, dict):
            raise BadRequest(f"{name} must be a JSON object such as {example}", name)
        for dim, values in decoded.items():
            if dim not in allowed:
                raise BadRequest(
                    f"unknown {name} dimension {str(dim)[:64]!r}; expected some of {', '.join(allowed)}", name
                )
            if isinstance(values, str):
                values = [values]
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise BadRequest(f"{name}.{dim} must be a list of strings", name)
            if any(len(v) > MAX_VALUE_LENGTH for v in values):
                raise BadRequest(f"a value of {name}.{dim} is too long", name)
            if not all(_is_text(v) for v in values):  # "\ud800" decodes from JSON; no driver can send it
                raise BadRequest(f"a value of {name}.{dim} is not valid Unicode text", name)
            # A blank value names nothing (blank clicks show as Unknown/Direct), as in a comma list.
            add(dim, [v for v in values if v != ""])
    if name == "filters":
        for dim in tuple(field_dims) + (URL_ID,):
            if dim == "short_code":
                continue  # the short_code parameter is read separately
            values = _list(params, dim)
            if values:
                add(dim, values)

    if URL_ID in merged:
        if scope == "anon" and merged[URL_ID]:
            raise BadRequest("a url_id filter is only available with scope=all", URL_ID)
        for value in merged[URL_ID]:
            if not is_object_id(value):
                raise BadRequest(f"url_id values are 24 hexadecimal digits, got {value[:64]!r}", URL_ID)
        merged[URL_ID] = dict.fromkeys(v.lower() for v in merged[URL_ID])
    if scope == "anon" and merged.get("short_code"):
        raise BadRequest(
            f"a short_code {'filter' if name == 'filters' else 'exclusion'} is only available with scope=all", name
        )
    if name == "filters" and scope == "all" and short_codes:
        add("short_code", short_codes)
    if sum(len(v) for v in merged.values()) > MAX_FILTER_VALUES:
        raise BadRequest(f"{name} list too many values (at most {MAX_FILTER_VALUES})", name)
    return tuple((dim, tuple(merged[dim])) for dim in allowed if merged.get(dim))
