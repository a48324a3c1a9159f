"""One export, from a route and its query to the file's headers and bytes, with no web framework.

The synchronous ``GET`` (``web/resource.py``) and a deferred one (an export job) both go
through :class:`FileProducer`: the same parameters are refused with the same errors, the same
access rules apply, and the same report is rendered by the same format. :meth:`FileProducer.plan`
does everything that can refuse a request (parameters, credentials, access, the date range);
:meth:`FileProducer.produce` runs the query and returns the file as a lazy iterator of chunks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import unquote, urlsplit

from falcon.uri import parse_query_string

from ..core.clicks import ClickExporter, parse_clicks_request
from ..core.engine.pipeline import QuerySpec
from ..core.engine.store import Store, UrlInfo
from ..core.exceptions import BadRequest
from ..core.report.click_rows import ClickExport
from ..core.report.filenames import clicks_filename
from ..core.report.report import Report
from ..core.report.timebudget import budgeted_body, render_budget
from ..core.request.params import ExportRequest, parse_export_request, parse_link_request
from ..core.service import Exporter
from ..core.settings import ExportSettings
from ..formats import FORMATS, Format, click_formats
from .disposition import ascii_fallback_filename, content_disposition, export_filename

#: The export routes a file can come from (``statistics``: ``<route>``; ``link``: ``<route>/links/<url_id>``;
#: ``clicks``: ``<route>/clicks``).
KINDS = ("statistics", "link", "clicks")


def parse_query(query_string: str) -> dict[str, Any]:
    """A query string as the plugin reads it everywhere: blank values kept, no comma splitting
    (a ``filters`` JSON holds commas), a repeated name as a list."""
    return parse_query_string(query_string, keep_blank=True, csv=False)


@dataclass(frozen=True)
class Target:
    """Which export route, and its query: a GET's address without the host."""

    kind: str
    query: Mapping[str, Any]
    url_id: str | None = None


def target_from_url(route: str, url: str, *, param: str = "url") -> Target:
    """The export route a path-and-query names (``/api/v1/export/clicks?format=csv``), else a 400 naming ``param``.

    Only a path under ``route`` (no scheme, no host: a job runs on this server's data) that is one
    of the three export routes.
    """
    if not isinstance(url, str) or not url:
        raise BadRequest(f"{param} must be the path and query of an export GET, e.g. {route}?format=csv", param)
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or parts.fragment:
        raise BadRequest(f"{param} must be a path on this server ({route}...), without scheme, host or fragment", param)
    base = route.rstrip("/")
    path = parts.path
    query = parse_query(parts.query)
    if path in (route, base):
        return Target("statistics", query)
    if path == base + "/clicks":
        return Target("clicks", query)
    prefix = base + "/links/"
    if path.startswith(prefix) and path[len(prefix) :] and "/" not in path[len(prefix) :]:
        return Target("link", query, unquote(path[len(prefix) :]))
    shown = path[:80]
    raise BadRequest(
        f"{param} names {shown!r}, not an export route ({route}, {base}/links/<url_id>, {base}/clicks)", param
    )


@dataclass(frozen=True)
class Planned:
    """A request that passed every check: what :meth:`FileProducer.produce` runs."""

    target: Target
    request: ExportRequest
    spec: QuerySpec
    owner_id: Any
    url: UrlInfo | None


@dataclass(frozen=True)
class ProducedFile:
    """A file's headers, and how to write it: :meth:`open` starts the writing (the query's rows are
    read as the chunks are); a ``HEAD`` never calls it, so nothing is rendered."""

    media_type: str
    disposition: str
    headers: tuple[tuple[str, str], ...]
    open: Callable[[], Iterator[bytes]]


class FileProducer:
    """Plans and produces exports for one configuration (one store, one exporter)."""

    def __init__(self, settings: ExportSettings, *, store: Store | None = None, exporter: Exporter | None = None):
        self.settings = settings
        self.store = store or (exporter.store if exporter else Store(settings))
        self.exporter = exporter or Exporter(settings, self.store)
        self.click_exporter = ClickExporter(self.exporter)

    def plan(
        self, target: Target, owner_id: Any, *, on_parsed: Callable[[ExportRequest], None] | None = None
    ) -> Planned:
        """Parameters, credentials and access, in each route's order: the GET's errors, exactly.

        ``on_parsed`` sees the parsed parameters as soon as they are (before access is checked).
        """
        noticed = on_parsed or (lambda request: None)
        extra = tuple(self.settings.extra_dimensions)
        url: UrlInfo | None
        if target.kind == "statistics":
            request = parse_export_request(target.query, FORMATS, extra)
            noticed(request)
            url = self.exporter.authorize(request, owner_id)
            spec = self.exporter.query_spec(request, owner_id, url)
        elif target.kind == "link":
            url = self.exporter.authorize_link(target.url_id or "", owner_id)  # before the parameters
            request = self.exporter.for_link(parse_link_request(target.query, FORMATS, extra), url)
            noticed(request)
            spec = self.exporter.query_spec(request, owner_id, url)
        elif target.kind == "clicks":
            self.click_exporter.require_owner(owner_id)  # before the parameters
            request = parse_clicks_request(target.query, click_formats(), extra)
            noticed(request)
            url = self.click_exporter.authorize(request, owner_id)
            spec = self.click_exporter.query_spec(request, owner_id, url)
        else:
            raise ValueError(f"unknown export route kind {target.kind!r}")
        return Planned(target, request, spec, owner_id, url)

    def run(self, planned: Planned) -> Report | ClickExport:
        """The query: a statistics report, or a raw-click export whose rows are read as the file is written."""
        if planned.target.kind == "clicks":
            return self.click_exporter.export(planned.request, planned.spec)
        return self.exporter.run(planned.request, planned.spec)

    def without_clicks(self, planned: Planned) -> Report | ClickExport:
        """What ``HEAD`` builds: the report or raw-click header with no click counted (the file's name
        and type). ``spec`` was resolved by the real exporter (a default start may need small lookups);
        only the export's own query is skipped."""
        if planned.target.kind == "clicks":
            return self.click_exporter.export(planned.request, planned.spec, with_rows=False)
        headless = Exporter(self.settings, cast(Store, _NoClicks()), clock=self.exporter.clock)
        return headless.run(planned.request, planned.spec)

    def produce(self, planned: Planned, *, budget: bool = True) -> ProducedFile:
        """Run the query and return the file. ``budget``: bound a statistics file's writing by
        ``render_time_ms`` (the synchronous GET); a job, which nobody waits for, runs unbounded."""
        return file_of(self.run(planned), planned.request.format, self.settings, budget=budget)


def file_of(
    content: Report | ClickExport, format_name: str, settings: ExportSettings, *, budget: bool = True
) -> ProducedFile:
    """A report or raw-click export as the named format's file."""
    fmt = FORMATS[format_name]
    if isinstance(content, Report):
        return report_file(content, fmt, settings, budget=budget)
    return clicks_file(content, fmt, settings)


def report_file(report: Report, fmt: Format, settings: ExportSettings, *, budget: bool = True) -> ProducedFile:
    """A statistics report as ``fmt``'s file."""
    disposition = content_disposition(
        export_filename(report, fmt.extension), ascii_fallback_filename(report, fmt.extension)
    )

    def write() -> Iterator[bytes]:
        chunks = iter(fmt.render(report, settings))
        return budgeted_body(chunks, render_budget(settings)) if budget else chunks

    return ProducedFile(fmt.media_type, disposition, fmt.headers, write)


def clicks_file(export: ClickExport, fmt: Format, settings: ExportSettings) -> ProducedFile:
    """A raw-click export as ``fmt``'s file."""
    disposition = content_disposition(clicks_filename(export, fmt.extension))
    return ProducedFile(fmt.media_type, disposition, (), lambda: iter(fmt.write_clicks(export, settings)))


class _NoClicks:
    """The store a ``HEAD`` report is built on: its aggregation and its find (the two executors'
    queries) match nothing, and it has no other method, so a report that would need another
    query fails loudly instead of scanning."""

    def aggregate(self, pipeline: list[dict[str, Any]], **_: Any) -> Iterator[dict[str, Any]]:
        return iter(())

    def find(self, query: dict[str, Any], projection: dict[str, Any]) -> Iterator[dict[str, Any]]:
        return iter(())


__all__ = [
    "KINDS",
    "FileProducer",
    "Planned",
    "ProducedFile",
    "Target",
    "clicks_file",
    "file_of",
    "parse_query",
    "report_file",
    "target_from_url",
]
