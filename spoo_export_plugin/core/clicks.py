"""Raw clicks (``GET <route>/clicks``): one row per matched click, streamed and pseudonymous.

- The clicks are chosen exactly as for the statistics: the same parameters
  (:func:`parse_clicks_request` wraps :func:`~.params.parse_export_request`), the same
  defaults (:meth:`~.service.Exporter.query_spec`) and the same ``$match``
  (:func:`~.pipeline.build_match`); ``group_by``, ``metrics`` and ``granularity`` are a 400.
- Labels are the statistics' own: the database computes each column with the pipeline's
  Unknown/Direct expression, so a row says ``Unknown`` exactly where a breakdown would.
- One cursor, sorted by ``clicked_at`` after the ``$match``: with equality on the owner (or
  the URL's id, or a legacy URL's short code) the index ``{meta.owner_id: 1, clicked_at: 1}``
  (``{meta.url_id: 1, clicked_at: 1}``, ``{meta.short_code: 1, clicked_at: 1}``) gives the order,
  so no sort stage holds the result. Rows are formatted
  as the cursor yields them; nothing holds the whole result.
- Before the rows, one count with the same ``$match`` gives ``total_clicks``; the cursor is
  limited to ``min(total_clicks, raw_row_cap)`` rows, so the summary written before the rows
  (``truncated`` = more matched than the file holds) is true of the file that follows.
- ``visitor`` is the first 16 hex digits of HMAC-SHA256(key, ip + "\\n" + user agent), a
  missing value read as empty text; the key is ``visitor_id_secret`` when set, else random
  per export. The IP address and user agent are read to compute it and go nowhere else.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import itertools
import secrets
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from datetime import timezone
from typing import Any

# The statistics' label expression (Unknown/Direct for absent, null or empty): one rule for both.
from .engine.pipeline import QuerySpec, build_match, label_expr
from .engine.store import UrlInfo
from .exceptions import BadRequest, Forbidden, Unauthorized
from .report.click_rows import ClickExport
from .request.dimensions import STAMPED, UTM, unknown_label
from .request.params import ExportRequest, parse_export_request
from .request.query_values import QueryValue
from .request.timezones import get_zone
from .service import Exporter, resolve_url

__all__ = [
    "REFUSED_PARAMETERS",
    "ClickExport",
    "ClickExporter",
    "VisitorIds",
    "build_clicks_pipeline",
    "build_count_pipeline",
    "click_columns",
    "parse_clicks_request",
]

#: Parameters of the statistics that mean nothing for single clicks: a 400 naming them.
REFUSED_PARAMETERS = ("group_by", "metrics", "granularity", "compare")
#: Columns read from a click field and labelled as the statistics label them, before the declared ones.
_FIELD_COLUMNS = ("short_code", "browser", "os", "country", "city", "referrer") + UTM + STAMPED
_UTC = timezone.utc
#: Documents per cursor batch: what the driver holds at once (~1 MB of BSON), not a 16 MB batch
#: (or, on SecantusDB, the whole rest of the result in one getMore).
CURSOR_BATCH = 2_000


def click_columns(extra_dimensions: Sequence[str] = ()) -> tuple[str, ...]:
    """``time, short_code, browser, os, country, city, referrer``, UTM, ``device, domain``, declared,
    ``bot_name, visitor``."""
    return ("time",) + _FIELD_COLUMNS + tuple(extra_dimensions) + ("bot_name", "visitor")


def parse_clicks_request(
    params: Mapping[str, QueryValue], formats: Collection[str], extra_dimensions: Sequence[str] = ()
) -> ExportRequest:
    """The main route's click-choosing parameters; ``group_by``, ``metrics``, ``granularity``: 400.

    ``formats`` are the formats that can render raw clicks (another one is a 400 naming ``format``).
    """
    for name in REFUSED_PARAMETERS:
        if name in params:
            raise BadRequest(
                f"{name} is not a parameter of the raw-click export (one row per click, nothing grouped)", name
            )
    request = parse_export_request(params, formats, extra_dimensions)
    return dataclasses.replace(request, group_by=(), metrics=())


class VisitorIds:
    """``visitor`` pseudonyms: HMAC-SHA256(key, ip + "\\n" + user agent), first 16 hex digits.

    ``secret`` (the ``visitor_id_secret`` setting) makes ids stable across exports; without it the
    key is 32 random bytes, new for each instance (one per export). The key is never exposed.
    """

    __slots__ = ("_mac",)

    def __init__(self, secret: str | None = None):
        key = secret.encode("utf-8", "surrogatepass") if secret else secrets.token_bytes(32)
        self._mac = hmac.new(key, digestmod=hashlib.sha256)

    def __repr__(self) -> str:
        return "VisitorIds(<key hidden>)"

    def __call__(self, ip: Any, user_agent: Any) -> str:
        mac = self._mac.copy()
        mac.update(f"{_text(ip)}\n{_text(user_agent)}".encode("utf-8", "surrogatepass"))
        return mac.hexdigest()[:16]


def _text(value: Any) -> str:
    """An IP address or user agent as hashed: absent or null is empty text."""
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def build_count_pipeline(spec: QuerySpec) -> list[dict[str, Any]]:
    """How many clicks the export matches: the rows' ``$match``, counted."""
    return [{"$match": build_match(spec)}, {"$count": "n"}]


def build_clicks_pipeline(spec: QuerySpec, limit: int) -> list[dict[str, Any]]:
    """The matched clicks oldest first, at most ``limit``, each as ``{at, ip, ua, bot, l0, l1, ...}``.

    ``l<i>`` is the label of the i-th field column (:func:`click_columns` without time, bot_name
    and visitor), computed by the statistics' own expression. ``ip`` and ``ua`` only feed the
    visitor pseudonym.
    """
    f = spec.fields
    shaped: dict[str, Any] = {
        "_id": 0,
        "at": "$" + f.clicked_at,
        "ip": {"$ifNull": ["$" + f.ip_address, None]},
        "ua": {"$ifNull": ["$" + f.user_agent, None]},
        "bot": {"$ifNull": ["$" + f.bot_name, ""]},
    }
    for index, dim in enumerate(_FIELD_COLUMNS + tuple(name for name, _ in spec.extra_dimensions)):
        shaped[f"l{index}"] = label_expr(spec.field(dim), unknown_label(dim))
    return [
        {"$match": build_match(spec)},
        {"$sort": {f.clicked_at: 1}},  # the index's order after the equality on owner, URL id or short code
        {"$limit": int(limit)},
        {"$project": shaped},
    ]


def click_rows(
    docs: Iterable[dict[str, Any]], timezone_name: str, labels: int, visitor: VisitorIds
) -> Iterator[tuple[str, ...]]:
    """The pipeline's documents as row tuples (every cell text), in the cursor's order."""
    zone = get_zone(timezone_name)
    keys = [f"l{i}" for i in range(labels)]
    for doc in docs:
        at = doc["at"]
        if at.tzinfo is None:  # pymongo returns naive UTC unless the client is tz_aware
            at = at.replace(tzinfo=_UTC)
        cells = [at.astimezone(zone).isoformat(timespec="milliseconds")]
        for key in keys:
            value = doc.get(key)
            cells.append(value if isinstance(value, str) else str(value))  # as the statistics show it
        bot = doc.get("bot")
        cells.append(bot if isinstance(bot, str) else str(bot))
        cells.append(visitor(doc.get("ip"), doc.get("ua")))
        yield tuple(cells)


class ClickExporter:
    """Access, the count and the streamed rows of a raw-click export, over an :class:`Exporter`."""

    def __init__(self, exporter: Exporter):
        self.exporter = exporter
        self.settings = exporter.settings
        self.store = exporter.store

    @staticmethod
    def require_owner(owner_id: Any) -> None:
        """401 without credentials, whatever else was asked (statistics may be public; clicks never are)."""
        if owner_id is None:
            raise Unauthorized(
                "the raw-click export needs the owner's credentials: send Authorization: Bearer spoo_<key>",
                "Authorization",
            )

    def authorize(self, request: ExportRequest, owner_id: Any) -> UrlInfo | None:
        """The owner's credentials, always: 401 without; ``scope=anon`` the caller's own URL, resolved as
        for the statistics (403 for another's, public or not; 404 unknown; 400 naming ``domain`` when
        the alias is on several domains). Returns the URL for ``scope=anon``."""
        self.require_owner(owner_id)
        if request.scope == "all":
            return None
        url = resolve_url(self.store, request.short_codes[0], request.domain)
        if not url.owned_by(owner_id):
            raise Forbidden("the raw clicks of a URL are only for its owner", "short_code")
        return url

    def query_spec(self, request: ExportRequest, owner_id: Any, url: UrlInfo | None) -> QuerySpec:
        """Which clicks: the statistics' resolution of dates and selection (no breakdown)."""
        return self.exporter.query_spec(dataclasses.replace(request, group_by=()), owner_id, url)

    def export(self, request: ExportRequest, spec: QuerySpec, *, with_rows: bool = True) -> ClickExport:
        """The export's header and its rows as a lazy iterator over one cursor.

        The count and the first batch of rows are read here (a database error is still an error
        answer, not a cut file); the rest is read as the file is written. ``with_rows=False``
        (``HEAD``) queries nothing: the header says 0 clicks.
        """
        zone = get_zone(spec.timezone)
        extra = tuple(name for name, _ in spec.extra_dimensions)
        total = self.count(spec) if with_rows else 0
        limit = min(total, self.settings.raw_row_cap)
        rows: Iterable[tuple[str, ...]] = ()
        if limit:
            docs = iter(self.store.aggregate(build_clicks_pipeline(spec, limit), batch_size=CURSOR_BATCH))
            first = next(docs, None)
            if first is not None:
                docs = itertools.chain((first,), docs)
            rows = click_rows(
                docs, spec.timezone, len(_FIELD_COLUMNS) + len(extra), VisitorIds(self.settings.visitor_id_secret)
            )
        return ClickExport(
            scope=request.scope,
            short_code=request.short_code,
            url_id=request.url_id,
            timezone=request.timezone,
            start=spec.start.astimezone(zone),
            end=spec.end.astimezone(zone),
            period=request.period,
            filters=request.filter_dict(),
            exclude=request.exclude_dict(),
            exclude_bots=request.exclude_bots,
            generated_at=self.exporter.clock().astimezone(zone),
            total_clicks=total,
            row_count=limit,
            columns=click_columns(extra),
            rows=rows,
        )

    def count(self, spec: QuerySpec) -> int:
        found = next(iter(self.store.aggregate(build_count_pipeline(spec))), None)
        return int(found["n"]) if found else 0
