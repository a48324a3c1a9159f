"""A schedule's JSON body, checked field by field: every bad value is a 400 naming its field.

``{"url", "cron", "timezone", "webhook_url", "email", "paused"}``. What is checked here is what a
schedule adds to a job: the URL's route and its use of ``period``, the cron, the zone, the
recipients. The URL's own parameters (``format``, ``period``'s value, filters) and the caller's
access are checked by :meth:`FileProducer.plan <spoo_export_plugin.files.produce.FileProducer.plan>`
when the schedule is created, with the GET's errors; the webhook URL by the jobs' own check, handed in
as ``check_webhook_url`` (``jobs/webhooks.py``), so schedules and jobs refuse the same targets.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from ..core.exceptions import BadRequest
from ..core.request.timezones import resolve_timezone
from ..core.schedule_settings import ADDRESS_MAX_LENGTH, is_plausible_address
from ..core.settings import ExportSettings
from ..files.produce import Target, parse_query, target_from_url
from .slots import validate_cron

#: Recipients one schedule may have: a report for a team, not a mailing list (and every run sends
#: one message to each; a larger list is a mail server's job).
MAX_EMAIL_RECIPIENTS = 10
#: The longest ``url`` kept (filters in JSON make long ones; the GET's own limits apply on top).
MAX_URL_LENGTH = 4_096
FIELDS = ("url", "cron", "timezone", "webhook_url", "email", "paused")
#: The date parameters a schedule must leave to ``period`` (a fixed range would send the same report each time).
FIXED_DATES = ("start_date", "end_date")

#: ``jobs.webhooks.check_webhook_url``: raises BadRequest naming ``webhook_url`` for a target it refuses.
WebhookCheck = Callable[[str, ExportSettings], None]


@dataclass(frozen=True)
class ScheduleSpec:
    """A schedule as its creator asked for it, every field checked."""

    url: str
    target: Target
    cron: str
    timezone: str  # the IANA name as the tz database spells it
    webhook_url: str | None
    email: tuple[str, ...]
    paused: bool = False


def validate_schedule(body: Any, settings: ExportSettings, *, check_webhook_url: WebhookCheck) -> ScheduleSpec:
    """The body of ``POST <route>/schedules``, checked in the order of its fields."""
    if not isinstance(body, Mapping):
        raise BadRequest("the body must be a JSON object: {url, cron, timezone, webhook_url, email}", None)
    _refuse_unknown(body, FIELDS)
    url = body.get("url")
    target = validate_url(url, settings)
    cron = validate_cron(body.get("cron"))
    zone = validate_timezone(body.get("timezone"))
    webhook_url = body.get("webhook_url")
    if webhook_url is not None:
        if not isinstance(webhook_url, str):
            raise BadRequest("webhook_url must be an https URL (or null)", "webhook_url")
        check_webhook_url(webhook_url, settings)
    email = validate_email(body.get("email"), settings)
    if webhook_url is None and not email:
        raise BadRequest(
            "a schedule needs somewhere to deliver its reports: webhook_url, email, or both", "webhook_url"
        )
    paused = body.get("paused", False)
    if type(paused) is not bool:
        raise BadRequest("paused must be true or false", "paused")
    return ScheduleSpec(str(url), target, cron, zone, webhook_url, email, paused)


def validate_patch(body: Any) -> bool:
    """The body of ``PATCH <route>/schedules/<id>``: ``{"paused": true|false}``, the one field that changes."""
    if not isinstance(body, Mapping):
        raise BadRequest('the body must be a JSON object: {"paused": true} or {"paused": false}', None)
    for key in body:
        if key != "paused":
            raise BadRequest(
                f"{str(key)[:40]!r} cannot be changed: only paused can; for another url, cron, timezone or "
                "recipients, delete the schedule and create a new one",
                str(key)[:40],
            )
    paused = body.get("paused")
    if type(paused) is not bool:
        raise BadRequest("paused must be true or false", "paused")
    return paused


def validate_url(url: Any, settings: ExportSettings) -> Target:
    """An export GET's path and query under the route that uses ``period`` and fixes no dates."""
    if isinstance(url, str) and len(url) > MAX_URL_LENGTH:
        raise BadRequest(f"url is longer than {MAX_URL_LENGTH} characters", "url")
    target = target_from_url(settings.route, url, param="url")
    fixed = [name for name in FIXED_DATES if name in target.query]
    if fixed:
        raise BadRequest(
            f"url sets {' and '.join(fixed)}: a schedule's range comes from period (e.g. period=last_week), "
            "evaluated at each run",
            "url",
        )
    if "period" not in target.query:
        raise BadRequest("url must use period (e.g. period=last_week): each run reports its own range", "url")
    return target


def validate_timezone(zone: Any) -> str:
    """An IANA name (aliases accepted), returned as the tz database spells it."""
    if not isinstance(zone, str) or not zone or len(zone) > 64:
        raise BadRequest("timezone must be an IANA name, e.g. Europe/Berlin", "timezone")
    try:
        return resolve_timezone(zone)
    except LookupError:
        shown = f"timezone {zone!r} is not an IANA name (e.g. Europe/Berlin, America/New_York)"
        raise BadRequest(shown, "timezone") from None


def validate_email(email: Any, settings: ExportSettings) -> tuple[str, ...]:
    """A list of at most :data:`MAX_EMAIL_RECIPIENTS` plausible addresses (duplicates dropped, ignoring
    case); ``null`` or absent is none. Only when the server can send e-mail (``smtp_url``)."""
    if email is None:
        return ()
    if not isinstance(email, list):
        raise BadRequest('email must be a list of addresses, e.g. ["team@example.com"]', "email")
    if len(email) > MAX_EMAIL_RECIPIENTS:
        raise BadRequest(f"email lists {len(email)} addresses; at most {MAX_EMAIL_RECIPIENTS}", "email")
    kept: dict[str, str] = {}
    for address in email:
        if not is_plausible_address(address):
            shown = repr(address[:ADDRESS_MAX_LENGTH]) if isinstance(address, str) else type(address).__name__
            raise BadRequest(f"email: {shown} is not an e-mail address such as team@example.com", "email")
        kept.setdefault(address.lower(), address)
    if kept and settings.smtp_url is None:
        raise BadRequest("this server sends no e-mail (smtp_url is not set); use webhook_url", "email")
    return tuple(kept.values())


def url_for_slot(url: str, timezone: str) -> str:
    """The URL a slot's job exports: the schedule's own, with ``timezone=<the schedule's zone>`` added
    when it names none, so that ``period`` is evaluated in the zone the cron runs in."""
    if "timezone" in parse_query(urlsplit(url).query):
        return url
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}timezone={quote(timezone, safe='/')}"


def _refuse_unknown(body: Mapping[Any, Any], known: tuple[str, ...]) -> None:
    for key in body:
        if key not in known:
            shown = str(key)[:40]
            raise BadRequest(f"{shown!r} is not a schedule field; the fields are {', '.join(known)}", shown)


__all__ = [
    "FIELDS",
    "MAX_EMAIL_RECIPIENTS",
    "ScheduleSpec",
    "WebhookCheck",
    "url_for_slot",
    "validate_email",
    "validate_patch",
    "validate_schedule",
    "validate_timezone",
    "validate_url",
]
