"""Settings on the command line: one ``--flag`` per :class:`ExportSettings` field.

Every value comes from a flag, else from its ``SPOO_EXPORT_*`` environment variable, else
the default: flags override the environment. docs/configuration.md's table lists them all
(a test checks that every setting is there).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, fields
from typing import Any

from ..core.exceptions import ConfigurationError
from ..core.setting_checks import ENV_PREFIX, convert_env_value
from ..core.settings import _NOT_FROM_ENV as NOT_ON_COMMAND_LINE  # Python objects, set in code
from ..core.settings import ExportSettings

SETTING_HELP: dict[str, str] = {
    "mongodb_uri": "MongoDB connection string, `mongodb://...` or `mongodb+srv://...` (required here: a "
    "`database=` object can only be passed from Python code)",
    "database_name": "database holding the collections",
    "clicks_collection": "collection of click documents",
    "urls_collection": "collection of short URLs (`alias`, `owner_id`, `created_at`, `private_stats`)",
    "legacy_urls_collection": "legacy URL collection (`_id` is the short code; public stats)",
    "url_domain_field": "field of a short URL holding its custom domain (absent or empty: the main domain); "
    "scope=anon picks a shared alias's URL by `domain`",
    "api_keys_collection": "collection of API keys (`token_hash` = sha256 of the key after `spoo_`)",
    "route": "path of the export endpoint (its OpenAPI document is at `<route>/openapi.json`)",
    "cors_origins": "origins allowed to call the routes from other sites (CORS): a comma list of "
    "scheme://host[:port], or `*`; off when unset",
    "authenticated_limits": "rate limits per owner (`limits` notation, `;`-separated)",
    "anonymous_limits": "rate limits per client IP for requests without credentials",
    "ratelimit_storage_uri": "rate-limit counters: `memory://` (per worker), `redis://...` or `mongodb://...` "
    "(shared by every worker and host)",
    "ratelimit_strategy": "`moving-window`, `fixed-window` or `sliding-window-counter`",
    "ratelimit_fail_open": "when the rate-limit storage is down: on lets requests through (logged), off answers 503",
    "trusted_proxies": "proxy hops whose `X-Forwarded-For` is believed (0 = use the socket peer)",
    "row_cap": "rows kept per breakdown; longer ones are cut and the summary says `truncated`",
    "report_max_bytes": "estimated memory the rows of one report may hold, breakdowns together (a row: 160 "
    "bytes plus its labels); past it the longest breakdowns are cut to their top rows "
    "and the summary says `truncated`",
    "max_buckets": "time buckets one export may span (more is a 400)",
    "max_time_ms": "server-side time budget (`maxTimeMS`) of one aggregation; past it: 503",
    "render_time_ms": "time budget of writing one statistics file (after the grouping; sending excluded); past "
    "it: 503, or the connection cut once bytes were sent",
    "aggregation": "where clicks are grouped: `database`, `worker` (this process) or `auto` "
    "(`worker` for mongomock, `database` for a server)",
    "worker_max_clicks": "matched clicks the `worker` executor groups at most; more is a 503",
    "server_selection_timeout_ms": "how long to wait for a reachable MongoDB before answering 503",
    "read_preference": "`primary`, `primaryPreferred`, `secondary`, `secondaryPreferred` or `nearest` "
    "(click and URL reads; API keys are always read from the primary)",
    "max_concurrent_exports": "exports running at once per worker; the rest get 503 + `Retry-After`",
    "retry_after_seconds": "`Retry-After` sent with 503 answers",
    "send_timeout_seconds": "a client that makes no progress reading its response (or sending its request) "
    "for this long is cut off (`spoo-export serve` and the shipped gunicorn config)",
    "extra_dimensions": "dimensions the host declares, `name=field_path` comma list "
    "(`platform=device_type,lang=language`)",
    "raw_row_cap": "rows of one raw-click export (`<route>/clicks`); more are cut and the summary says `truncated`",
    "visitor_id_secret": "key of the raw clicks' `visitor` pseudonyms (HMAC-SHA256), at least 32 bytes "
    "(secrets.token_urlsafe(32) makes one); unset: random per export",
    "csv_bom": "start each CSV with a UTF-8 byte-order mark (for old Excel versions)",
    "jwt_secret": "HS256 secret of the built-in JWT authenticator (`Authorization: Bearer` or cookie)",
    "jwt_public_key": "PEM public key for RS256 JWTs (one line with \\n escapes accepted)",
    "jwt_algorithms": "JWT algorithms accepted (comma list)",
    "jwt_issuer": "required JWT `iss`",
    "jwt_audience": "required JWT `aud` (unset: a token carrying an `aud` is refused)",
    "jwt_cookie": "cookie read for a JWT when there is no `Authorization` header",
    "job_queue": "export jobs: `immediate://` (inside the POST), `sqlite:///path/jobs.db` or `redis://host:6379/0` "
    "(consumed by `spoo-export worker`); unset, jobs are off",
    "signing_secret": "key of the jobs' `file_url` tokens (HMAC-SHA256), at least 32 bytes; unset, generated once "
    "and kept in the jobs collection",
    "job_ttl_seconds": "seconds a finished job's file is kept (then 410 and deleted)",
    "max_jobs_per_owner": "jobs one owner may have queued or running at once (more is a 429)",
    "job_lease_seconds": "a running job's claim, renewed every third of it; a worker that dies mid-job has its "
    "job run again this long after its last renewal",
    "jobs_collection": "collection of the jobs' state",
    "files_bucket": "GridFS bucket of the jobs' files",
    "webhook_secret": "Standard Webhooks key of job webhooks (`whsec_<base64>`); unset, `webhook_url` is refused",
    "webhook_allow_http": "let job webhooks go to http:// URLs",
    "webhook_allow_private": "let job webhooks go to loopback, private, link-local and multicast addresses",
    "webhook_timeout_seconds": "seconds one webhook delivery attempt may take",
    "public_url": "where users reach this server (https://spoo.me): joined with a job's file_url in report e-mails",
}


#: The same settings as seen by the commands that answer no HTTP (``export``, ``ensure-indexes``):
#: where the endpoint would answer a status, they exit with a code.
OFFLINE_SETTING_HELP: dict[str, str] = {
    "max_time_ms": "server-side time budget (`maxTimeMS`) of the aggregation; past it the command fails "
    "with exit code 1 (the HTTP endpoint answers 503)",
    "server_selection_timeout_ms": "how long to wait for a reachable MongoDB; past it the command fails with "
    "exit code 1 (the HTTP endpoint answers 503)",
    "max_buckets": "time buckets one export may span; more is exit code 2 (the HTTP endpoint answers 400)",
    "render_time_ms": "time budget of writing the statistics file (writing to disk excluded); past it the "
    "command fails with exit code 1 and writes no file (the HTTP endpoint answers 503)",
    "worker_max_clicks": "matched clicks the `worker` executor groups at most; more is exit code 1 "
    "(the HTTP endpoint answers 503)",
}


def setting_names() -> list[str]:
    """Every setting that can come from a flag or the environment, in declaration order."""
    return [f.name for f in fields(ExportSettings) if f.name not in NOT_ON_COMMAND_LINE]


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def env_var(name: str) -> str:
    return ENV_PREFIX + name.upper()


def default_of(name: str) -> Any:
    f = next(f for f in fields(ExportSettings) if f.name == name)
    return f.default if f.default is not MISSING else None


def add_setting_flags(
    parser: argparse.ArgumentParser, names: Iterable[str] | None = None, *, offline: bool = False
) -> None:
    """Add ``--<setting>`` flags (default None: "not given", so the environment can fill in).

    A boolean setting is a plain switch, ``--csv-bom`` (and ``--no-csv-bom`` to override the
    environment), like ``--exclude-bots``. ``offline`` commands (no HTTP) get help in exit codes.
    """
    group = parser.add_argument_group("settings (each also read from SPOO_EXPORT_<NAME>)")
    for name in names or setting_names():
        default = default_of(name)
        text = (OFFLINE_SETTING_HELP.get(name) if offline else None) or SETTING_HELP.get(name, name.replace("_", " "))
        if isinstance(default, bool):
            group.add_argument(
                flag(name),
                dest=name,
                default=None,
                action=argparse.BooleanOptionalAction,
                help=(text.replace("`", "") + f"; env {env_var(name)} (default {'on' if default else 'off'})").replace(
                    "%", "%%"
                ),
            )
            continue
        shown = f" (default {default})" if default not in (None, "") else ""
        group.add_argument(
            flag(name),
            dest=name,
            default=None,
            metavar=name.split("_")[-1].upper(),
            help=(text.replace("`", "") + f"; env {env_var(name)}{shown}").replace("%", "%%"),
        )


def settings_from_args(
    args: argparse.Namespace, environ: Mapping[str, str] | None = None, **extra: Any
) -> ExportSettings:
    """ExportSettings from the environment, then the flags that were given (flags win)."""
    overrides: dict[str, Any] = {}
    for name in setting_names():
        raw = getattr(args, name, None)
        if isinstance(raw, bool):  # a switch (--csv-bom / --no-csv-bom)
            overrides[name] = raw
        elif raw is not None:
            overrides[name] = convert_env_value(name, raw, default_of(name))
    overrides.update(extra)
    env = os.environ if environ is None else environ
    if "database" not in overrides and not (overrides.get("mongodb_uri") or env.get(env_var("mongodb_uri"))):
        raise ConfigurationError(f"give {flag('mongodb_uri')} URI or set {env_var('mongodb_uri')}")
    return ExportSettings.from_env(environ, **overrides)
