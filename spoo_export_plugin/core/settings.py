"""All configuration in one frozen object, validated when it is built.

A typo in a rate-limit string or a storage URI fails start-up with a clear message
instead of the first request.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from limits import parse_many

from .exceptions import ConfigurationError
from .request.dimensions import check_no_private_dimension, parse_declared
from .schedule_settings import check_schedule_values
from .setting_checks import (
    ENV_PREFIX,
    HMAC_ALGORITHMS,
    check_job_values,
    check_mongodb_uri_scheme,
    check_ratelimit_values,
    check_visitor_id_secret,
    convert_env_value,
    mongodb_uri_problem,
    parse_algorithms,
    parse_cors_origins,
)


@dataclass(frozen=True)
class ClickFields:
    """Where each logical value lives in a click document (spoo.me's names by default)."""

    clicked_at: str = "clicked_at"
    owner_id: str = "meta.owner_id"
    short_code: str = "meta.short_code"
    ip_address: str = "ip_address"
    user_agent: str = "user_agent"
    browser: str = "browser"
    os: str = "os"
    country: str = "country"
    city: str = "city"
    referrer: str = "referrer"
    bot_name: str = "bot_name"
    url_id: str = "meta.url_id"
    redirect_ms: str = "redirect_ms"
    utm_source: str = "utm_source"
    utm_medium: str = "utm_medium"
    utm_campaign: str = "utm_campaign"
    utm_term: str = "utm_term"
    utm_content: str = "utm_content"
    # Stamped by spoo.me since mid-2026: mobile / tablet / desktop / unknown, and the custom domain the
    # click came through (absent on older clicks and on the main domain).
    device: str = "device"
    domain: str = "meta.domain"


@dataclass(frozen=True)
class ExportSettings:
    """Configuration of the export plugin.

    Pass ``database=`` (a pymongo or mongomock ``Database``) or ``mongodb_uri=`` plus
    ``database_name=``.
    """

    database: Any = None
    mongodb_uri: str | None = None
    database_name: str = "url-shortener"

    clicks_collection: str = "clicks"
    urls_collection: str = "urlsV2"
    legacy_urls_collection: str = "urls"
    api_keys_collection: str = "api-keys"
    # The urlsV2 field holding a URL's custom domain (absent, null or empty: the host's main domain);
    # an alias is unique per domain, so scope=anon resolves alias + domain to one URL.
    url_domain_field: str = "domain"
    fields: ClickFields = field(default_factory=ClickFields)
    # Dimensions the host declares: {name: click field path}; they work wherever a built-in one does.
    extra_dimensions: Mapping[str, str] = field(default_factory=dict)

    route: str = "/api/v1/export"
    # Browser origins that may call the routes from another site (CORS): a list (or comma list) of
    # origins, or "*" for any; None (default) = CORS off. Kept as "*" or a tuple of origins.
    cors_origins: str | Sequence[str] | None = None

    # Rate limits (``limits`` notation), checked per route.
    authenticated_limits: str = "30/minute;1000/day"
    anonymous_limits: str = "10/minute;200/day"
    ratelimit_storage_uri: str = "memory://"
    ratelimit_strategy: str = "moving-window"
    # When the rate-limit storage is down: True lets requests through (logged), False answers 503.
    ratelimit_fail_open: bool = True
    # Proxy hops whose X-Forwarded-For is believed; 0 trusts none (the socket peer is the client).
    trusted_proxies: int = 0

    # Rows kept per breakdown; longer ones are cut and the summary says so.
    row_cap: int = 100_000
    # Estimated memory the rows of one report may hold, shared by its breakdowns (core/report/row_budget.py);
    # breakdowns past their share are cut to their top rows and the summary says so.
    report_max_bytes: int = 128_000_000
    # Rows of one raw-click export (``<route>/clicks``); more are cut and the summary says so.
    raw_row_cap: int = 1_000_000
    # Time buckets one export may span.
    max_buckets: int = 10_000
    # Server-side budget of one aggregation.
    max_time_ms: int = 30_000
    # Time budget of writing one statistics file (after the grouping); past it: 503, or the connection cut
    # once bytes were sent. Counts the time spent producing the file, not the time sending it.
    render_time_ms: int = 30_000
    # Where the matched clicks are grouped: "database" (the aggregation pipeline), "worker" (the
    # database matches and labels each click, this process counts them) or "auto" (worker for an
    # in-process engine such as mongomock, database for a server). Same report either way.
    aggregation: str = "auto"
    # Matched clicks the worker executor groups at most; more is a 503 (memory stays bounded).
    worker_max_clicks: int = 2_000_000
    # How long to wait for a reachable MongoDB before answering 503 (with mongodb_uri).
    server_selection_timeout_ms: int = 1_000
    # "primary", "primaryPreferred", "secondary", "secondaryPreferred" or "nearest".
    read_preference: str = "primary"
    # Exports allowed to run at once in one worker; the rest get 503 + Retry-After.
    max_concurrent_exports: int = 4
    # Retry-After sent with 503 answers.
    retry_after_seconds: int = 5
    # A client that makes no progress reading the response (or sending its request) for this long
    # is cut off, freeing its thread and export slot. Applied by `spoo-export serve` and the
    # shipped gunicorn config (their worker class); other servers need their own (docs/deploy.md).
    send_timeout_seconds: int = 30

    # Write a UTF-8 byte-order mark at the start of each CSV (helps old Excel versions).
    csv_bom: bool = False

    # Authentication: a callable ``(req) -> owner_id | None`` replaces the built-in JWT one.
    authenticator: Callable[..., Any] | None = None
    jwt_secret: str | None = None
    jwt_public_key: str | None = None
    # Accepted only where the matching key is set (HS* jwt_secret, RS*/ES*/PS* jwt_public_key).
    jwt_algorithms: str = "HS256,RS256"
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_cookie: str = "access_token"

    # Key of the raw-click export's ``visitor`` pseudonyms (HMAC-SHA256): set, the same visitor gets
    # the same id in every export; unset (default), a random key per export. At least 32 bytes (a short key
    # is brute-forced, and the IP behind an id with it). Never shown in repr or errors.
    visitor_id_secret: str | None = field(default=None, repr=False)

    # Export jobs (``POST <route>/jobs``): off (None, the routes are 404) unless a queue is named:
    # "immediate://" runs each job inside its POST; "sqlite:///path/jobs.db" (one machine) or
    # "redis://host:6379/0" (many) queue it for `spoo-export worker` processes (huey's backends).
    job_queue: str | None = None
    # Key of the file_url tokens (HMAC-SHA256), at least 32 bytes. None: one is generated and kept in
    # the jobs collection on first use, so every process of the deployment signs and checks alike.
    signing_secret: str | None = field(default=None, repr=False)
    # Seconds a finished job's file is kept (then 410 and deleted).
    job_ttl_seconds: int = 86_400
    # Jobs one owner may have queued or running at once; more is a 429.
    max_jobs_per_owner: int = 3
    # Seconds a worker's claim on a running job lasts without a heartbeat (it renews it every third of
    # this while writing): a worker killed mid-job has its job run again this long after its last beat.
    job_lease_seconds: int = 60
    # Where jobs and their files live, in the plugin's database.
    jobs_collection: str = "export_jobs"
    files_bucket: str = "export_files"
    # Standard Webhooks signing key of job webhooks: "whsec_<base64>". None: webhook_url is refused.
    webhook_secret: str | None = field(default=None, repr=False)
    # Webhook targets are https and public unless these allow http / private, loopback, link-local
    # and multicast addresses (a test or an intranet receiver).
    webhook_allow_http: bool = False
    webhook_allow_private: bool = False
    # Seconds one webhook delivery attempt may take.
    webhook_timeout_seconds: int = 10

    # Scheduled reports (``POST <route>/schedules``, with job_queue): e-mail goes out through
    # "smtp://user:pass@host:587?starttls=true" or "smtps://user:pass@host:465" (certificates verified)
    # from email_from ("reports@example.com" or "Reports <reports@example.com>"). None: e-mail
    # recipients are refused (webhooks only). smtp_url is never shown in repr or errors.
    smtp_url: str | None = field(default=None, repr=False)
    email_from: str | None = None
    # A file larger than this is not attached: the e-mail carries its signed link instead (0: always the link).
    email_attachment_max_bytes: int = 10_000_000
    # Where users reach this server ("https://spoo.me"): a report e-mail's link is this joined with the file's path.
    public_url: str | None = None
    # Schedules one owner may have; more is refused.
    max_schedules_per_owner: int = 20
    # Where schedules live, in the plugin's database.
    schedules_collection: str = "export_schedules"

    def __post_init__(self) -> None:
        if self.database is None and not self.mongodb_uri:
            raise ConfigurationError("ExportSettings needs database= or mongodb_uri=")
        if self.database is None:
            uri = check_mongodb_uri_scheme(self.mongodb_uri)
            problem = mongodb_uri_problem(uri)  # at start-up, not at the first export
            if problem:
                raise ConfigurationError(f"mongodb_uri is not valid: {problem}")
        object.__setattr__(self, "extra_dimensions", parse_declared(self.extra_dimensions))
        check_no_private_dimension(self.fields, self.extra_dimensions)  # needs the configured fields
        object.__setattr__(self, "cors_origins", parse_cors_origins(self.cors_origins))
        if not self.route.startswith("/"):
            raise ConfigurationError(f"route must start with '/': {self.route!r}")
        for name in ("authenticated_limits", "anonymous_limits"):
            value = getattr(self, name)
            try:
                parsed = parse_many(value)
            except ValueError as exc:
                raise ConfigurationError(f"{name}={value!r} is not valid limits notation: {exc}") from None
            if not parsed:
                raise ConfigurationError(f"{name}={value!r} names no limit")
        check_ratelimit_values(self.ratelimit_storage_uri, self.ratelimit_strategy)
        if self.authenticator is None and (self.jwt_secret or self.jwt_public_key):
            _check_jwt_values(self)
        for name in (
            "row_cap",
            "report_max_bytes",
            "max_buckets",
            "max_time_ms",
            "render_time_ms",
            "server_selection_timeout_ms",
            "max_concurrent_exports",
            "retry_after_seconds",
            "send_timeout_seconds",
            "worker_max_clicks",
            "raw_row_cap",
            "job_ttl_seconds",
            "max_jobs_per_owner",
            "job_lease_seconds",
            "webhook_timeout_seconds",
            "max_schedules_per_owner",
        ):
            if int(getattr(self, name)) < 1:
                raise ConfigurationError(f"{name} must be a positive integer")
        if self.visitor_id_secret is not None and not isinstance(self.visitor_id_secret, str):
            raise ConfigurationError("visitor_id_secret must be a string")  # the value is never echoed
        if self.visitor_id_secret == "":
            object.__setattr__(self, "visitor_id_secret", None)  # an empty variable is an unset one
        if (
            not isinstance(self.url_domain_field, str)
            or "\x00" in self.url_domain_field
            or any(part == "" or part.startswith("$") for part in self.url_domain_field.split("."))
        ):
            raise ConfigurationError(f"url_domain_field={self.url_domain_field!r} is not a field path")
        if self.visitor_id_secret is not None:
            check_visitor_id_secret(self.visitor_id_secret)
        if self.trusted_proxies < 0:
            raise ConfigurationError("trusted_proxies must be 0 or more")
        check_job_values(self)
        check_schedule_values(self)
        if self.aggregation not in AGGREGATIONS:
            raise ConfigurationError(f"aggregation={self.aggregation!r}; expected one of {', '.join(AGGREGATIONS)}")
        if self.read_preference not in _READ_PREFERENCES:
            raise ConfigurationError(
                f"read_preference={self.read_preference!r}; expected one of {sorted(_READ_PREFERENCES)}"
            )

    def replace(self, **changes: Any) -> ExportSettings:
        """A copy with some settings changed."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> ExportSettings:
        """Build settings from ``SPOO_EXPORT_<NAME>`` variables (e.g. ``SPOO_EXPORT_ROW_CAP``)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in _NOT_FROM_ENV:
                continue
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is None:
                continue
            values[f.name] = convert_env_value(f.name, raw, f.default)
        values.update(overrides)
        return cls(**values)


AGGREGATIONS = ("auto", "database", "worker")  # resolved by core.engine.worker.grouping.choose_executor


def keyed_algorithms(settings: ExportSettings) -> tuple[str, ...]:
    """The configured algorithms whose key is set (HS* need jwt_secret, the rest jwt_public_key)."""
    return tuple(
        name
        for name in parse_algorithms(settings.jwt_algorithms)
        if (settings.jwt_secret if name in HMAC_ALGORITHMS else settings.jwt_public_key)
    )


def _check_jwt_values(settings: ExportSettings) -> None:
    """Algorithm names and key presence; the keys are parsed when the authenticator is built."""
    if not keyed_algorithms(settings):
        raise ConfigurationError(
            f"jwt_algorithms={settings.jwt_algorithms!r} has no algorithm whose key is configured "
            "(HS* need jwt_secret; RS*, PS*, ES*, EdDSA need jwt_public_key)"
        )


_READ_PREFERENCES = {"primary", "primaryPreferred", "secondary", "secondaryPreferred", "nearest"}
_NOT_FROM_ENV = frozenset({"database", "fields", "authenticator"})
