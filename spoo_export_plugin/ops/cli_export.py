"""``spoo-export export``: the endpoint's file, written by an operator or a cron job.

The same parameters as ``GET <route>`` (they are turned into the same query mapping and
validated by :func:`parse_export_request`), but no API key: ``--owner`` names the owner
directly and private statistics are readable. Exit codes: 0 written, 2 bad input
(including bad settings), 1 the export could not be produced (unknown short code,
MongoDB unreachable or too slow, the file could not be written).
"""

from __future__ import annotations

import argparse
import os
import sys

from ..core.clicks import parse_clicks_request
from ..core.engine.store import owner_id_from_text
from ..core.exceptions import BadRequest, ConfigurationError, ExportError
from ..core.request.dimensions import UTM, parse_declared
from ..core.request.params import parse_export_request, parse_link_request
from ..core.request.periods import PERIODS
from ..core.service import Exporter
from ..core.setting_checks import ENV_PREFIX
from ..core.settings import ExportSettings
from ..formats import FORMATS, click_formats
from .cli_settings import add_setting_flags, settings_from_args
from .export_files import (
    EXIT_BAD_INPUT,
    fail,
    flag_for,
    operator_clicks,
    operator_report,
    produce_and_write,
    write_clicks_file,
    write_file,
)
from .progress import Progress, human_bytes

#: query parameter -> flag, for the parameters that are plain text.
_TEXT_PARAMS = (
    "domain",  # the URL picker with --short-code alone, else the domain dimension's filter
    "start_date",
    "end_date",
    "period",
    "compare",
    "group_by",
    "metrics",
    "timezone",
    "granularity",
    "filters",
    "exclude",
    "url_id",
    "browser",
    "os",
    "country",
    "city",
    "referrer",
    *UTM,
    "device",
)
_SETTINGS = (
    "mongodb_uri",
    "database_name",
    "clicks_collection",
    "urls_collection",
    "legacy_urls_collection",
    "url_domain_field",
    "max_time_ms",
    "render_time_ms",
    "server_selection_timeout_ms",
    "read_preference",
    "row_cap",
    "report_max_bytes",
    "max_buckets",
    "csv_bom",
    "aggregation",
    "worker_max_clicks",
    "raw_row_cap",
    "visitor_id_secret",
    "extra_dimensions",
)
EXIT_CODES_HELP = (
    "exit codes: 0 the file was written; 2 bad input or settings (where the HTTP endpoint answers 400); "
    "1 the export could not be produced: unknown short code, MongoDB unreachable or over --max-time-ms "
    "(where the HTTP endpoint answers 404 or 503), or the file could not be written; 130 interrupted. "
    "The database comes from --mongodb-uri or SPOO_EXPORT_MONGODB_URI (a database= object is for Python "
    "code only)."
)
_PARAM_HELP = {
    "start_date": "start of the range: ISO 8601 (naive = UTC), Unix seconds, or a date (that day's start in "
    "--timezone)",
    "end_date": "end of the range (inclusive; a date means that day's last millisecond); default now",
    "period": "a preset range instead of --start-date/--end-date, computed in --timezone when the export runs: "
    + ", ".join(PERIODS),
    "compare": "add the same figures for an earlier range: previous_period or previous_year (not with --clicks)",
    "group_by": "comma list of time,browser,os,country,city,referrer,short_code, the UTM dimensions, device, "
    "domain and any declared one (default time)",
    "metrics": "comma list of clicks,unique_clicks,share (default clicks,unique_clicks)",
    "exclude": 'JSON object of values to leave out, e.g. {"country": ["Unknown"]}',
    "domain": "with --short-code alone: the URL's custom domain, needed when the alias is used on several domains "
    "('' = the main domain); with --owner or --url-id: a comma list of domain values (the custom domain a click "
    "came through, Unknown for none) to keep",
    "url_id": "one URL by its id (24 hex digits), as the per-link route; with --owner, a comma list of ids to keep",
    "timezone": "IANA time zone of the time buckets (default UTC)",
    "granularity": "minute, 10min, hour, day, week or month (default from the span: never minute or 10min)",
    "filters": 'JSON object such as {"browser": ["Chrome"]}',
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--owner", metavar="ID", help="export every URL of this owner (scope=all); a 24-hex id is an ObjectId"
    )
    parser.add_argument(
        "--short-code", metavar="CODE", help="export one URL (scope=anon); with --owner, a filter (comma list allowed)"
    )
    parser.add_argument("--format", required=True, metavar="FORMAT", help=f"file format: {', '.join(sorted(FORMATS))}")
    parser.add_argument(
        "--clicks",
        action="store_true",
        help="the raw clicks, one row per click (as GET <route>/clicks; formats: "
        f"{', '.join(sorted(click_formats()))}), instead of the statistics; "
        "--group-by, --metrics and --granularity do not apply",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="read the demo's embedded dataset (what `spoo-export demo` serves; needs the demo "
        "extra) instead of MongoDB; without --owner, --short-code or --url-id: the demo "
        "owner's links",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="file to write ('-' = standard output); default: the endpoint's file name in the current directory",
    )
    query = parser.add_argument_group("export parameters (as for the endpoint)")
    for name in _TEXT_PARAMS:
        query.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            metavar=name.upper(),
            help=_PARAM_HELP.get(name, f"comma list of {name} values to keep"),
        )
    for name in declared_in_environment():  # a declared dimension gets its own flag, as on the endpoint
        query.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            metavar=name.upper(),
            help=f"comma list of {name} values to keep (declared in SPOO_EXPORT_EXTRA_DIMENSIONS)",
        )
    query.add_argument("--exclude-bots", action="store_true", help="leave out clicks whose bot_name is set")
    add_setting_flags(parser, _SETTINGS, offline=True)
    parser.epilog = EXIT_CODES_HELP


def declared_in_environment() -> tuple[str, ...]:
    """Dimension names declared in ``SPOO_EXPORT_EXTRA_DIMENSIONS``, for their flags.

    Declared with ``--extra-dimensions`` instead, they work through ``--group-by``, ``--filters``
    and ``--exclude``. A bad declaration is reported once the settings are built, not here.
    """
    try:
        declared = parse_declared(os.environ.get(ENV_PREFIX + "EXTRA_DIMENSIONS"))
    except ConfigurationError:
        return ()
    return tuple(name for name in declared if name not in _TEXT_PARAMS)


def _settings(args: argparse.Namespace) -> ExportSettings:
    """The settings from the flags and the environment, or over the demo's dataset with ``--demo``."""
    if args.demo:
        from .demo import export_settings

        return export_settings(args)
    if not (args.mongodb_uri or os.environ.get(ENV_PREFIX + "MONGODB_URI")):
        raise ConfigurationError(
            f"give --mongodb-uri URI or set {ENV_PREFIX}MONGODB_URI (or --demo: the demo's embedded dataset)"
        )
    return settings_from_args(args)


def _query_params() -> tuple[str, ...]:
    return _TEXT_PARAMS + declared_in_environment()


def is_link_export(args: argparse.Namespace) -> bool:
    """``--url-id`` alone is one link by id (the per-link route); with ``--owner`` it is a filter."""
    return bool(args.url_id) and not args.owner and not args.short_code


def build_query(args: argparse.Namespace) -> dict[str, str]:
    """The query mapping the endpoint would receive for these flags."""
    if not args.owner and not args.short_code and not args.url_id:
        raise BadRequest(
            "give --owner ID (all of an owner's URLs), --short-code CODE (one URL) or --url-id ID (one URL by its id)"
        )
    if is_link_export(args):
        query = {"format": args.format}
        for name in _query_params():
            value = getattr(args, name, None)
            if value is not None and name != "url_id":
                query[name] = value
        if args.exclude_bots:
            query["exclude_bots"] = "true"
        return query
    query = {"format": args.format, "scope": "all" if args.owner else "anon"}
    if args.short_code:
        query["short_code"] = args.short_code
    for name in _query_params():
        value = getattr(args, name, None)
        if value is not None:
            query[name] = value
    if args.exclude_bots:
        query["exclude_bots"] = "true"
    return query


def run_clicks(args: argparse.Namespace) -> int:
    """``spoo-export export --clicks``: the raw clicks, as ``GET <route>/clicks`` but without an API key."""
    err = sys.stderr
    if args.format not in click_formats():
        return fail(
            err,
            f"--format {args.format!r} has no raw-click file; expected one of {', '.join(sorted(click_formats()))}",
            EXIT_BAD_INPUT,
        )
    try:
        settings = _settings(args)
        link = is_link_export(args)
        query = build_query(args)
        if link:
            for name in ("scope", "short_code", "url_id"):
                query.pop(name, None)
        request = parse_clicks_request(query, click_formats(), tuple(settings.extra_dimensions))
    except ConfigurationError as exc:
        return fail(err, str(exc), EXIT_BAD_INPUT)
    except ExportError as exc:
        return fail(err, exc.message + flag_for(exc.param), EXIT_BAD_INPUT)
    owner = owner_id_from_text(args.owner) if args.owner else None
    progress = Progress(err)
    outcome = produce_and_write(
        err,
        progress,
        "counting",
        lambda: operator_clicks(Exporter(settings), request, owner, args.url_id if link else None),
        lambda export: write_clicks_file(export, settings, args.format, args.output, progress),
    )
    if isinstance(outcome, int):
        return outcome
    export, path, size = outcome
    cut = f", cut at raw_row_cap from {export.total_clicks}" if export.truncated else ""
    progress.done(
        f"spoo-export: wrote {path} ({human_bytes(size)}, {export.row_count} clicks{cut}) in {progress.elapsed():.1f}s"
    )
    return 0


def run(args: argparse.Namespace) -> int:
    if getattr(args, "clicks", False):
        return run_clicks(args)
    err = sys.stderr
    if args.format not in FORMATS:
        return fail(
            err, f"unknown --format {args.format!r}; expected one of {', '.join(sorted(FORMATS))}", EXIT_BAD_INPUT
        )
    try:
        settings = _settings(args)
        parse = parse_link_request if is_link_export(args) else parse_export_request
        request = parse(build_query(args), FORMATS, tuple(settings.extra_dimensions))
    except ConfigurationError as exc:
        return fail(err, str(exc), EXIT_BAD_INPUT)
    except ExportError as exc:
        return fail(err, exc.message + flag_for(exc.param), EXIT_BAD_INPUT)
    owner = owner_id_from_text(args.owner) if args.owner else None
    progress = Progress(err)
    outcome = produce_and_write(
        err,
        progress,
        "aggregating",
        lambda: operator_report(Exporter(settings), request, owner, args.url_id if is_link_export(args) else None),
        lambda report: write_file(report, settings, args.format, args.output, progress),
    )
    if isinstance(outcome, int):
        return outcome
    report, path, size = outcome
    rows = sum(len(b.rows) for b in report.breakdowns.values())
    progress.done(
        f"spoo-export: wrote {path} ({human_bytes(size)}, {rows} rows, "
        f"{report.summary.total_clicks} clicks) in {progress.elapsed():.1f}s"
    )
    return 0
