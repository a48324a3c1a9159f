"""Aggregation pipelines as plain data, built from a frozen :class:`QuerySpec`.

One export is one aggregation and one scan of the matched clicks:

1. ``$match`` on the owner (or one URL's id, or a legacy URL's short code) and the ``clicked_at``
   range first, so an index on ``meta.owner_id``/``meta.url_id``/``meta.short_code`` + ``clicked_at``
   serves it;
2. ``$project`` each click to its visitor (ip, user agent), its dimension labels and the
   local date parts of its time bucket;
3. fan each click out to one key per breakdown (``$objectToArray`` + ``$unwind``);
4. ``$group`` by (breakdown key, visitor), then ``$group`` by breakdown key: the first
   group's count sums to clicks, the number of first groups is the unique visitors. No
   per-group array of visitors is ever built, so no 16 MB document limit is in reach;
5. ``$sort`` so every breakdown arrives in report order and a row cap keeps the top rows
   (minute, 10-minute and hour buckets by real time, which a DST change can make differ
   from wall-clock order).

Only operators that MongoDB 5.0+ and mongomock 4.3 both run are used: date parts with
``timezone``, ``$dateFromParts`` without it, and ``$subtract`` of milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId

from ..request.dimensions import DIRECT, UNKNOWN, URL_ID, field_path, unknown_label
from ..rows import SUMMARY_KEY
from ..settings import ClickFields
from .time_stages import bucket_start_key, local_date_parts, sort_stages

__all__ = [
    "DIRECT",
    "UNKNOWN",
    "QuerySpec",
    "breakdown_names",
    "build_export_pipeline",
    "build_first_click_pipeline",
    "build_grouping_stages",
    "build_match",
    "build_row_stages",
    "label_expr",
    "sort_granularity",
    "unknown_label",
]


@dataclass(frozen=True)
class QuerySpec:
    """Which clicks, and which breakdowns of them. Dates are aware UTC datetimes."""

    start: datetime
    end: datetime
    timezone: str
    granularity: str
    #: Breakdown names: a dimension (``browser``) or ``time,<dimension>``.
    breakdowns: tuple[str, ...]
    owner_id: Any = None
    #: A legacy URL's clicks: this short code, and no ``meta.url_id`` (a renamed urlsV2 URL's clicks
    #: keep their old code). Never alone for a urlsV2 URL: that is ``url_id``.
    short_code: str | None = None
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: Left out when a value is listed; wins over ``filters``.
    exclude: tuple[tuple[str, tuple[str, ...]], ...] = ()
    exclude_bots: bool = False
    fields: ClickFields = ClickFields()
    #: The host's own dimensions: ``((name, field path), ...)``.
    extra_dimensions: tuple[tuple[str, str], ...] = ()
    #: One URL's clicks (``scope=anon``, the per-link route), matched on ``meta.url_id``: the URL's
    #: ``_id`` as stored (an ObjectId), read from the database, never from the request.
    url_id: Any = None

    def field(self, dimension: str) -> str:
        """The click field a dimension (or ``url_id``) reads."""
        if dimension == URL_ID:
            return self.fields.url_id
        return field_path(self.fields, dict(self.extra_dimensions), dimension)


def breakdown_names(group_by: tuple[str, ...]) -> tuple[str, ...]:
    """One breakdown per dimension, plus ``time,<dim>`` for each other dimension with time."""
    names = list(group_by)
    if "time" in group_by:
        names += [f"time,{dim}" for dim in group_by if dim != "time"]
    return tuple(names)


def _path(field: str) -> str:
    return "$" + field


def build_match(spec: QuerySpec, *, with_range: bool = True) -> dict[str, Any]:
    """The first stage: owner or short code, then the time range, then filters.

    Every client value is placed inside ``$in`` or as an equality on a string, so none
    can act as an operator.
    """
    fields = spec.fields
    match: dict[str, Any] = {}
    if spec.owner_id is not None:
        match[fields.owner_id] = spec.owner_id
    if spec.url_id is not None:  # one URL: its clicks carry its _id as stored (an ObjectId for spoo.me)
        match[fields.url_id] = spec.url_id if not isinstance(spec.url_id, dict) else {"$eq": spec.url_id}
    if spec.short_code is not None:  # a legacy URL (ownerless): its code, on ownerless clicks no urlsV2 URL claims
        match[fields.short_code] = str(spec.short_code)
        match[fields.url_id] = None
        match.setdefault(fields.owner_id, None)
    if with_range:
        match[fields.clicked_at] = {"$gte": spec.start, "$lte": spec.end}
    # Every filter, exclusion and the bot rule is its own clause: two of them on one field path
    # (a declared dimension reading a built-in field, exclude_bots with a bot_name filter) must
    # both hold, and none may replace the owner, link or short code above.
    clauses: list[dict[str, Any]] = []
    for dimension, values in spec.filters:
        field, wanted = spec.field(dimension), _match_values(dimension, values)
        if None in wanted:  # Unknown/Direct: also a path that ends in a non-document (mongomock needs it said)
            clauses.append({"$or": [{field: {"$in": wanted}}, {field: {"$exists": False}}]})
        else:
            clauses.append({field: {"$in": wanted}})
    for dimension, values in spec.exclude:
        field, unwanted = spec.field(dimension), _match_values(dimension, values)
        clauses.append({field: {"$nin": unwanted, **({"$exists": True} if None in unwanted else {})}})
    if spec.exclude_bots:
        clauses.append({fields.bot_name: {"$in": [None, ""]}})
    if clauses:
        match["$and"] = clauses
    return match


def _match_values(dimension: str, values: tuple[str, ...]) -> list[Any]:
    """Values as stored: strings, ObjectIds for ``url_id``; ``Unknown``/``Direct`` also names absent ones.

    ``$in``/``$nin`` with ``None`` match an absent field as well as a null one.
    """
    if dimension == URL_ID:
        return [ObjectId(v) for v in values]
    wanted: list[Any] = [str(v) for v in values]
    if unknown_label(dimension) in wanted:  # short_code too: it is labelled Unknown when absent
        wanted += [None, ""]
    return wanted


def label_expr(field: str, missing: str) -> dict[str, Any]:
    """A click's label in one dimension: the field's value, or ``missing`` when it is absent, null
    or empty (the statistics' and the raw clicks' one rule)."""
    return {"$cond": [{"$eq": [{"$ifNull": [_path(field), ""]}, ""]}, missing, _path(field)]}


def build_export_pipeline(spec: QuerySpec) -> list[dict[str, Any]]:
    """The one aggregation of an export: summary plus every breakdown, as sorted rows.

    Each output document is ``{"_id": {"b": breakdown, "t": bucket, "o": offset_ms,
    "d": label}, "clicks": n, "uniques": n, "first": date, "last": date}`` (``t``/``o``/``d``
    only where they apply; ``first``/``last`` only on the summary row).
    """
    return build_row_stages(spec) + build_grouping_stages(spec)


def _uses_time(spec: QuerySpec) -> bool:
    return any(name.split(",")[0] == "time" for name in spec.breakdowns)


def sort_granularity(spec: QuerySpec) -> str | None:
    """The granularity the report order depends on: None when no breakdown has time."""
    return spec.granularity if _uses_time(spec) else None


def build_row_stages(spec: QuerySpec) -> list[dict[str, Any]]:
    """The stages that turn each matched click into one row ``{"ip", "ua", "k": {breakdown: key}}``.

    Everything a label or a time bucket means (Unknown/Direct, the local wall time ``t``, the
    offset ``o``, DST) is decided here, by the database, for both executors: the worker executor
    (:mod:`.worker.grouping`) only counts these rows.
    """
    fields = spec.fields
    dimensions = sorted({dim for name in spec.breakdowns for dim in name.split(",") if dim != "time"})
    uses_time = _uses_time(spec)

    redirect = _path(fields.redirect_ms)
    shaped: dict[str, Any] = {
        "_id": 0,
        "at": _path(fields.clicked_at),
        "ip": {"$ifNull": [_path(fields.ip_address), None]},
        "ua": {"$ifNull": [_path(fields.user_agent), None]},
        # redirect time where it is a number (anything else counts as absent)
        "rm": {"$cond": [{"$isNumber": redirect}, redirect, None]},
    }
    for dim in dimensions:
        shaped["l_" + dim] = label_expr(spec.field(dim), unknown_label(dim))
    if uses_time:
        shaped.update(local_date_parts(_path(fields.clicked_at), spec.granularity, spec.timezone))

    keys: dict[str, Any] = {SUMMARY_KEY: {"at": "$at", "rm": "$rm"}}
    time_key = bucket_start_key(spec.granularity) if uses_time else {}
    for name in spec.breakdowns:
        key: dict[str, Any] = {}
        for dim in name.split(","):
            if dim == "time":
                key.update(time_key)
            else:
                key["d"] = "$l_" + dim
        keys[name] = key

    return [
        {"$match": build_match(spec)},
        {"$project": shaped},
        {"$project": {"ip": 1, "ua": 1, "k": keys}},  # (rm only on the summary key)
    ]


def build_grouping_stages(spec: QuerySpec) -> list[dict[str, Any]]:
    """The database executor's fan-out, two groupings and report order over the row stages' rows.

    What comes out is one :class:`~..rows.GroupRow` per breakdown key, as the worker's
    ``group_rows`` gives them.
    """
    stages: list[dict[str, Any]] = [
        {"$project": {"ip": 1, "ua": 1, "k": {"$objectToArray": "$k"}}},
        {"$unwind": "$k"},
        {
            "$group": {
                "_id": {"b": "$k.k", "t": "$k.v.t", "o": "$k.v.o", "d": "$k.v.d", "ip": "$ip", "ua": "$ua"},
                "n": {"$sum": 1},
                "first": {"$min": "$k.v.at"},
                "last": {"$max": "$k.v.at"},
                "rs": {"$sum": "$k.v.rm"},
                "rn": {"$sum": {"$cond": [{"$isNumber": "$k.v.rm"}, 1, 0]}},
            }
        },
        {
            "$group": {
                "_id": {"b": "$_id.b", "t": "$_id.t", "o": "$_id.o", "d": "$_id.d"},
                "clicks": {"$sum": "$n"},
                "uniques": {"$sum": 1},
                "first": {"$min": "$first"},
                "last": {"$max": "$last"},
                "redirect_ms_sum": {"$sum": "$rs"},
                "redirect_ms_count": {"$sum": "$rn"},
            }
        },
    ]
    return stages + sort_stages(spec.timezone, sort_granularity(spec))


def build_first_click_pipeline(spec: QuerySpec) -> list[dict[str, Any]]:
    """When no start date is known: the earliest matching click up to the end date."""
    match = build_match(spec, with_range=False)
    match[spec.fields.clicked_at] = {"$lte": spec.end}
    return [
        {"$match": match},
        {"$sort": {spec.fields.clicked_at: 1}},
        {"$limit": 1},
        {"$project": {"_id": 0, "at": _path(spec.fields.clicked_at)}},
    ]
