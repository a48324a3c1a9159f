"""From a validated request and a caller to a :class:`Report`. No web framework here."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from typing import Any, cast

from .engine.pipeline import (
    QuerySpec,
    breakdown_names,
    build_export_pipeline,
    build_first_click_pipeline,
    build_row_stages,
    sort_granularity,
)
from .engine.store import Store, UrlInfo
from .engine.worker.grouping import choose_executor, group_rows, split_row_stages
from .exceptions import BadRequest, Forbidden, NotFound, Unauthorized
from .report.comparison import EarlierRange
from .report.report import Report, assemble_report
from .report.timebuckets import check_bucket_count, choose_granularity
from .request.params import ExportRequest
from .request.periods import period_range, previous_range
from .request.query_values import is_object_id
from .request.timezones import get_zone
from .rows import GroupRow
from .settings import ExportSettings

_MS = timedelta(milliseconds=1)


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _ceil_ms(value: datetime) -> datetime:
    """MongoDB keeps milliseconds: round an inclusive start up so no earlier click slips in."""
    floored = _floor_ms(value)
    return floored if floored == value else floored + _MS


def _floor_ms(value: datetime) -> datetime:
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def resolve_url(store: Store, short_code: str, domain: str | None) -> UrlInfo:
    """The one URL ``scope=anon`` reads: the alias on ``domain``, the URL's custom domain.

    Aliases are unique per domain, so several URLs (of several owners) may share one: then, with no
    ``domain``, a 400 naming it. ``domain=`` (empty) counts as absent, as every empty parameter does,
    except that for a shared alias it names the main domain (the URL without a custom domain). A
    legacy URL (ownerless) is on the main domain, unless a urlsV2 URL holds the alias there.
    Unknown, or not on that domain: 404. No message says who else uses the alias, nor where.
    """
    found = _candidates(store, short_code, None if domain == "" else domain)
    if domain == "" and len(found) > 1:
        found = _candidates(store, short_code, "")
    shown = repr(short_code[:64])
    if len(found) > 1:
        if domain is None and found[0].domain != found[1].domain:
            raise BadRequest(
                f"the short code {shown} is used on several domains; add domain=<the URL's domain> "
                "(domain= empty for the main domain)",
                "domain",
            )
        raise BadRequest(
            f"several URLs use the short code {shown} on one domain; their statistics cannot be told apart", "domain"
        )
    if not found:
        where = f" on {domain[:64]!r}" if domain else ""
        raise NotFound(f"no short URL {shown}{where}", "short_code")
    return found[0]


def _candidates(store: Store, short_code: str, domain: str | None) -> list[UrlInfo]:
    """The URLs with the alias on ``domain`` (None: any, ``""``: the main one): at most two urlsV2
    ones, and the legacy one when no urlsV2 URL holds the alias on the main domain."""
    urls = store.find_urls(short_code, domain)
    if domain or any(url.domain is None for url in urls):
        return urls
    legacy = store.find_legacy_url(short_code)
    return urls + [legacy] if legacy is not None else urls


class Exporter:
    """Checks access to the clicks asked for, resolves defaults, runs the one aggregation."""

    def __init__(
        self,
        settings: ExportSettings,
        store: Store | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        timer: Callable[[], float] = time.monotonic,
    ):
        self.settings = settings
        self.store = store or Store(settings)
        self.clock = clock
        #: Seconds, for the worker executor's time budget.
        self.timer = timer
        #: ``database`` or ``worker``, decided once (``auto`` looks at the engine).
        self.executor = choose_executor(settings)

    def authorize(self, request: ExportRequest, owner_id: Any) -> UrlInfo | None:
        """Who may read what: raise 401/403/404, return the URL for ``scope=anon``."""
        if request.scope == "all":
            if owner_id is None:
                raise Unauthorized("scope=all needs credentials: send Authorization: Bearer spoo_<key>", "scope")
            return None
        url = resolve_url(self.store, request.short_codes[0], request.domain)
        if url.private_stats:
            if owner_id is None:
                raise Unauthorized("this URL's statistics are private; send the owner's credentials", "short_code")
            if not url.owned_by(owner_id):
                raise Forbidden("this URL's statistics are private to its owner", "short_code")
        return url

    def authorize_link(self, url_id: str, owner_id: Any) -> UrlInfo:
        """The per-link route: the caller's own URL by id, else 401 (no credentials) or 404.

        A malformed id, an unknown one and another owner's all get the same 404, so ids
        cannot be probed. Checked before the parameters: credentials are always required here.
        """
        if owner_id is None:
            raise Unauthorized(
                "the per-link export needs credentials: send Authorization: Bearer spoo_<key>", "Authorization"
            )
        url = self.store.find_url_by_id(url_id) if is_object_id(url_id) else None
        if url is None or not url.owned_by(owner_id):
            raise NotFound("no such link among yours", "url_id")
        return url

    @staticmethod
    def for_link(request: ExportRequest, url: UrlInfo) -> ExportRequest:
        """The request naming its link: the alias as short code, and the id."""
        return dataclasses.replace(request, scope="link", short_codes=(url.short_code,), url_id=url.url_id)

    def query_spec(self, request: ExportRequest, owner_id: Any, url: UrlInfo | None) -> QuerySpec:
        """Resolve default dates and granularity; 400 when the range holds too many buckets."""
        zone = get_zone(request.timezone)
        if url is not None and not url.legacy and url.id is None:  # no id to match its clicks on: never all clicks
            raise NotFound("this short URL has no id its clicks could be matched on", "short_code")
        now = _floor_ms(self.clock().astimezone(timezone.utc))
        asked_start, asked_end = request.start, request.end
        if request.period is not None:  # a preset is computed at the request's instant, in its zone
            asked_start, asked_end = period_range(request.period, now, request.timezone)
        end = min(_floor_ms(asked_end), now) if asked_end is not None else now  # no future buckets
        spec = QuerySpec(
            start=end,  # placeholder until the default start is known
            end=end,
            timezone=request.timezone,
            granularity="day",
            breakdowns=breakdown_names(request.group_by),
            # scope=all and a link read the caller's clicks (the owner index serves both); anon one URL's,
            # by its id (several owners' clicks may share a short code); a legacy URL's by its code
            owner_id=owner_id if request.scope in ("all", "link") else None,
            short_code=url.short_code if url is not None and request.scope == "anon" and url.legacy else None,
            url_id=url.id if url is not None and request.scope in ("anon", "link") else None,
            filters=request.filters,
            exclude=request.exclude,
            exclude_bots=request.exclude_bots,
            fields=self.settings.fields,
            extra_dimensions=tuple(self.settings.extra_dimensions.items()),
        )
        start = asked_start
        if start is None:
            start = self._default_start(spec, url)
            start = min(start, end)
        start = _ceil_ms(_utc(start))
        if start > end:
            if request.start is not None and start > now:
                raise BadRequest("start_date is in the future", "start_date")
            start = end
        granularity = request.granularity or choose_granularity(start, end)
        if "time" in request.group_by:  # buckets only exist in time breakdowns
            check_bucket_count(start, end, granularity, zone, self.settings.max_buckets)
            if request.compare is not None:  # the earlier range may hold a bucket or two more (a longer month)
                earlier_start, earlier_end = previous_range(request.compare, start, end, request.timezone)
                check_bucket_count(earlier_start, earlier_end, granularity, zone, self.settings.max_buckets)
        return dataclasses.replace(spec, start=start, granularity=granularity)

    def _default_start(self, spec: QuerySpec, url: UrlInfo | None) -> datetime:
        created: datetime | None = None
        if url is not None:
            created = url.created_at
        elif spec.owner_id is not None:
            created = self.store.oldest_url_created(spec.owner_id)
        if created is not None:
            return _utc(created)
        first = next(iter(self.store.aggregate(build_first_click_pipeline(spec))), None)
        return _utc(first["at"]) if first else spec.end

    def export(self, request: ExportRequest, owner_id: Any = None) -> Report:
        """The whole report for a caller (``owner_id`` None = anonymous)."""
        url = self.authorize(request, owner_id)
        spec = self.query_spec(request, owner_id, url)
        return self.run(request, spec)

    def grouped_rows(self, spec: QuerySpec) -> Iterable[GroupRow]:
        """The sorted group documents of ``spec``, from the executor the settings choose.

        ``database`` runs the whole pipeline; ``worker`` has the database find the ``$match``'s
        clicks and send the fields the row stages read, evaluates those stages and groups the
        rows here (:mod:`.engine.worker.grouping`).
        """
        if self.executor == "database":
            return cast(Iterable[GroupRow], self.store.aggregate(build_export_pipeline(spec)))
        s = self.settings
        match, projection, to_row = split_row_stages(build_row_stages(spec))
        rows = map(to_row, self.store.find(match, projection))
        return group_rows(
            rows,
            timezone=spec.timezone,
            granularity=sort_granularity(spec),
            max_clicks=s.worker_max_clicks,
            max_time_ms=s.max_time_ms,
            retry_after=s.retry_after_seconds,
            clock=self.timer,
        )

    def earlier(self, request: ExportRequest, spec: QuerySpec) -> EarlierRange | None:
        """``compare=``: the earlier range (SPEC's three rules) and its one query, holding only ``time``
        and the single-dimension breakdowns (``time,<dim>`` series have no comparison); else None."""
        if request.compare is None:
            return None
        start, end = previous_range(request.compare, spec.start, spec.end, spec.timezone)
        earlier = dataclasses.replace(
            spec, start=start, end=end, breakdowns=tuple(name for name in spec.breakdowns if "," not in name)
        )
        return EarlierRange(request.compare, start, end, lambda: self.grouped_rows(earlier))

    def run(self, request: ExportRequest, spec: QuerySpec) -> Report:
        """The report of ``spec``: one query over its range, and with ``compare`` one more over the
        earlier range only (run by :func:`.report.report.assemble_report` once the current rows are kept)."""
        zone = get_zone(spec.timezone)
        generated_at = self.clock().astimezone(zone)
        return assemble_report(
            rows=self.grouped_rows(spec),
            breakdowns=spec.breakdowns,
            zone=zone,
            granularity=spec.granularity,
            start=spec.start,
            end=spec.end,
            metrics=request.metrics,
            row_cap=self.settings.row_cap,
            max_bytes=self.settings.report_max_bytes,
            earlier=self.earlier(request, spec),
            header={
                "scope": request.scope,
                "short_code": request.short_code,
                "url_id": request.url_id,
                "timezone": request.timezone,
                "period": request.period,
                "group_by": request.group_by,
                "filters": request.filter_dict(),
                "exclude": request.exclude_dict(),
                "exclude_bots": request.exclude_bots,
                "generated_at": generated_at,
            },
        )
