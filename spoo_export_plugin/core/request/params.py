"""Turn query parameters into a validated, frozen :class:`ExportRequest`.

Works on a plain mapping (``str -> str | list[str]``) so it is testable without a web
framework. Every problem raises :class:`BadRequest` naming the parameter. Filter values
only ever leave here as plain strings, so nothing a client sends can become a MongoDB
operator.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from ..exceptions import BadRequest
from .dimensions import FIELD_DIMENSIONS, TIME, URL_ID
from .periods import COMPARISONS, PERIODS
from .query_values import (
    MAX_FILTER_VALUES,
    MAX_VALUE_LENGTH,
    QueryValue,
    is_object_id,
    is_text,
    read_bool,
    read_choice,
    read_date,
    read_domain,
    read_list,
    read_single,
)
from .timezones import resolve_timezone

SCOPES = ("all", "anon")
#: The scope of a per-link export (``<route>/links/<url_id>``), set by the route, never sent.
LINK_SCOPE = "link"
#: Dimensions every app has; a host may declare more (settings.extra_dimensions).
DIMENSIONS = (TIME,) + FIELD_DIMENSIONS
#: Dimensions read from a click field: filters, exclusions and their comma parameters.
FILTER_DIMENSIONS = FIELD_DIMENSIONS
#: The query parameter that, with ``scope=anon``, picks the URL by its custom domain; with any other scope
#: (and on the per-link route) it is the ``domain`` dimension's comma parameter, like ``browser``.
DOMAIN = "domain"
METRICS = ("clicks", "unique_clicks", "share")
DEFAULT_METRICS = ("clicks", "unique_clicks")
GRANULARITIES = ("minute", "10min", "hour", "day", "week", "month")


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
    #: A preset range (``last_month``...), computed in ``timezone`` when the export runs; None with dates.
    period: str | None = None
    #: ``previous_period`` or ``previous_year``: the same figures for an earlier range; None for none.
    compare: str | None = None

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
    fmt = read_choice(params, "format", tuple(formats), default=None)
    scope = read_choice(params, "scope", SCOPES, default="all")
    short_codes = read_list(params, "short_code")
    if scope == "anon":
        if not short_codes:
            raise BadRequest("short_code is required when scope=anon", "short_code")
        if len(short_codes) > 1:
            raise BadRequest("scope=anon takes exactly one short_code", "short_code")
    # With scope=anon ``domain`` picks the URL (and filters no click: clicks from before mid-2026 carry no
    # meta.domain); with scope=all it is the domain dimension's comma parameter, read with the filters.
    domain = read_domain(params) if scope == "anon" else None

    tz_name = read_single(params, "timezone") or "UTC"
    try:
        tz_name = resolve_timezone(tz_name)
    except LookupError:
        raise BadRequest(
            f"unknown timezone {tz_name[:64]!r}; use an IANA name such as America/New_York", "timezone"
        ) from None
    start = read_date(params, "start_date", tz_name)
    end = read_date(params, "end_date", tz_name, last_instant=True)
    if start is not None and end is not None and start > end:
        raise BadRequest("start_date is after end_date", "start_date")
    period = read_choice(params, "period", PERIODS, default="") or None
    if period is not None and (start is not None or end is not None):
        raise BadRequest("period replaces start_date and end_date; send one or the other", "period")
    compare = read_choice(params, "compare", COMPARISONS, default="") or None

    field_dims = FILTER_DIMENSIONS + tuple(extra_dimensions)
    dimensions = (TIME,) + field_dims
    group_by = read_list(params, "group_by") or [TIME]
    for dim in group_by:
        if dim not in dimensions:
            raise BadRequest(
                f"unknown group_by dimension {dim[:64]!r}; expected some of {', '.join(dimensions)}", "group_by"
            )
    if scope == "anon" and "short_code" in group_by:
        raise BadRequest("group_by=short_code is only available with scope=all", "group_by")

    metrics = read_list(params, "metrics") or list(DEFAULT_METRICS)
    for metric in metrics:
        if metric not in METRICS:
            raise BadRequest(f"unknown metric {metric[:64]!r}; expected some of {', '.join(METRICS)}", "metrics")

    granularity = read_choice(params, "granularity", GRANULARITIES, default="")
    exclude_bots = read_bool(params, "exclude_bots")
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
        period=period,
        compare=compare,
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
    # The url_id parameter was refused above: one here came in the filters or exclude JSON, which is named.
    for name, selection in (("filters", request.filters), ("exclude", request.exclude)):
        if any(dim == URL_ID for dim, _ in selection):
            raise BadRequest("url_id is not a filter of the per-link route: the link is in the path", name)
    return dataclasses.replace(request, scope=LINK_SCOPE)


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

    raw = read_single(params, name)
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
            if not all(is_text(v) for v in values):  # "\ud800" decodes from JSON; no driver can send it
                raise BadRequest(f"a value of {name}.{dim} is not valid Unicode text", name)
            # A blank value names nothing (blank clicks show as Unknown/Direct), as in a comma list.
            add(dim, [v for v in values if v != ""])
    # With scope=anon a url_id sent in this JSON object is refused naming the object's parameter; one sent
    # only as the url_id parameter, naming that parameter.
    sent_in_json = bool(merged.get(URL_ID))
    if name == "filters":
        for dim in tuple(field_dims) + (URL_ID,):
            if dim == "short_code" or (dim == DOMAIN and scope == "anon"):
                continue  # the short_code parameter is read separately; with scope=anon domain picks the URL
            values = read_list(params, dim)
            if values:
                add(dim, values)

    if URL_ID in merged:
        if scope == "anon" and merged[URL_ID]:
            what = "filter" if name == "filters" else "exclusion"
            raise BadRequest(f"a url_id {what} is only available with scope=all", name if sent_in_json else URL_ID)
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
