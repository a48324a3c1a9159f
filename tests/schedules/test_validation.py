"""A schedule's body: every bad value is a 400 naming its field; good bodies come back normalised."""

from __future__ import annotations

import pytest

from spoo_export_plugin import ExportSettings
from spoo_export_plugin.core.exceptions import BadRequest
from spoo_export_plugin.schedules.validation import (
    MAX_EMAIL_RECIPIENTS,
    url_for_slot,
    validate_patch,
    validate_schedule,
)

URL = "/api/v1/export?format=csv&period=last_week"
checked_webhooks: list[str] = []


def https_only(url: str, settings: ExportSettings) -> None:
    """What jobs.webhooks.check_webhook_url promises: a BadRequest naming webhook_url for a refused target."""
    checked_webhooks.append(url)
    if not url.startswith("https://"):
        raise BadRequest("webhook_url must be https", "webhook_url")


@pytest.fixture
def mail_settings(db):
    return ExportSettings(database=db, smtp_url="smtp://127.0.0.1:2525", email_from="reports@example.com")


def body(**changes):
    base = {"url": URL, "cron": "0 8 * * 1", "timezone": "Europe/Berlin", "email": ["team@example.com"]}
    base.update(changes)
    return {key: value for key, value in base.items() if value is not ...}


def refused(settings, data) -> BadRequest:
    with pytest.raises(BadRequest) as raised:
        validate_schedule(data, settings, check_webhook_url=https_only)
    return raised.value


def test_a_good_body(mail_settings):
    spec = validate_schedule(
        body(
            cron=" 0  8 * * MON", timezone="us/eastern", email=["Team@Example.com", "team@example.com", "b@example.org"]
        ),
        mail_settings,
        check_webhook_url=https_only,
    )
    assert (spec.url, spec.cron, spec.timezone) == (URL, "0 8 * * MON", "US/Eastern")  # the database's spelling
    assert spec.email == ("Team@Example.com", "b@example.org")  # the same address twice, once
    assert (spec.webhook_url, spec.paused) == (None, False)
    assert (spec.target.kind, spec.target.query["period"]) == ("statistics", "last_week")


def test_the_link_and_clicks_routes_and_a_webhook(mail_settings):
    checked_webhooks.clear()
    spec = validate_schedule(
        body(
            url="/api/v1/export/links/65f000000000000000000001?format=json&period=yesterday",
            email=...,
            webhook_url="https://hooks.example.com/spoo",
            paused=True,
        ),
        mail_settings,
        check_webhook_url=https_only,
    )
    assert (spec.target.kind, spec.target.url_id) == ("link", "65f000000000000000000001")
    assert (spec.webhook_url, spec.email, spec.paused) == ("https://hooks.example.com/spoo", (), True)
    assert checked_webhooks == ["https://hooks.example.com/spoo"]
    spec = validate_schedule(
        body(url="/api/v1/export/clicks?format=csv&period=today"), mail_settings, check_webhook_url=https_only
    )
    assert spec.target.kind == "clicks"


@pytest.mark.parametrize(
    "changes, param, says",
    [
        ({"url": ...}, "url", "must be the path and query of an export GET"),
        ({"url": 7}, "url", "must be the path and query"),
        ({"url": "https://evil.example.com/api/v1/export?format=csv&period=today"}, "url", "without scheme, host"),
        ({"url": "/api/v1/other?format=csv&period=today"}, "url", "not an export route"),
        ({"url": "/api/v1/export?format=csv"}, "url", "must use period"),
        ({"url": "/api/v1/export?format=csv&period=today&start_date=2025-01-01"}, "url", "url sets start_date"),
        (
            {"url": "/api/v1/export?format=csv&end_date=2025-01-01&start_date=2024-01-01"},
            "url",
            "start_date and end_date",
        ),
        ({"url": "/api/v1/export?period=today&x=" + "a" * 5000}, "url", "longer than 4096"),
        ({"cron": ...}, "cron", "5 fields"),
        ({"cron": "@reboot"}, "cron", "not an @ form"),
        ({"cron": "0 8 * * * 2030"}, "cron", "has 6 fields"),
        ({"cron": "0 25 * * *"}, "cron", "25 is outside 0-23"),
        ({"timezone": ...}, "timezone", "IANA name"),
        ({"timezone": "Mars/Olympus"}, "timezone", "is not an IANA name"),
        ({"timezone": "../../etc/passwd"}, "timezone", "is not an IANA name"),
        ({"timezone": 1}, "timezone", "IANA name"),
        ({"webhook_url": "http://hooks.example.com"}, "webhook_url", "must be https"),
        ({"webhook_url": ["https://a"]}, "webhook_url", "must be an https URL"),
        ({"email": "team@example.com"}, "email", "must be a list"),
        ({"email": ["team@example.com", 5]}, "email", "int is not an e-mail address"),
        ({"email": ["team@example.com\r\nBcc: victim@example.org"]}, "email", "is not an e-mail address"),
        ({"email": ["Team <team@example.com>"]}, "email", "is not an e-mail address"),
        ({"email": ["a@example.com,b@example.com"]}, "email", "is not an e-mail address"),
        ({"email": [f"u{i}@example.com" for i in range(MAX_EMAIL_RECIPIENTS + 1)]}, "email", "at most 10"),
        ({"email": ...}, "webhook_url", "webhook_url, email, or both"),
        ({"email": []}, "webhook_url", "webhook_url, email, or both"),
        ({"email": None, "webhook_url": None}, "webhook_url", "webhook_url, email, or both"),
        ({"paused": "yes"}, "paused", "true or false"),
        ({"paused": 1}, "paused", "true or false"),
        ({"period": "last_week"}, "period", "not a schedule field"),
    ],
)
def test_every_bad_value_is_a_400_naming_its_field(mail_settings, changes, param, says):
    error = refused(mail_settings, body(**changes))
    assert error.status == 400
    assert error.param == param
    assert says in error.message


def test_a_body_that_is_not_an_object(mail_settings):
    for data in (None, [], "url", 3):
        assert refused(mail_settings, data).param is None


def test_email_needs_a_server_that_sends_it(settings):
    assert settings.smtp_url is None
    error = refused(settings, body())
    assert (error.param, error.message) == (
        "email",
        "this server sends no e-mail (smtp_url is not set); use webhook_url",
    )
    spec = validate_schedule(
        body(email=..., webhook_url="https://h.example.com/x"), settings, check_webhook_url=https_only
    )
    assert spec.email == ()


def test_the_route_is_the_configured_one(db):
    settings = ExportSettings(
        database=db, route="/stats/export", smtp_url="smtp://localhost", email_from="a@example.com"
    )
    assert refused(settings, body()).param == "url"
    spec = validate_schedule(body(url="/stats/export?format=xml&period=all"), settings, check_webhook_url=https_only)
    assert spec.target.kind == "statistics"


def test_patch_takes_paused_alone():
    assert validate_patch({"paused": True}) is True
    assert validate_patch({"paused": False}) is False
    for data, param in [
        ({}, "paused"),
        ({"paused": "true"}, "paused"),
        ({"paused": 0}, "paused"),
        ({"paused": True, "cron": "* * * * *"}, "cron"),
        (["paused"], None),
    ]:
        with pytest.raises(BadRequest) as raised:
            validate_patch(data)
        assert raised.value.param == param


@pytest.mark.parametrize(
    "url, zone, job_url",
    [
        (
            "/api/v1/export?format=csv&period=last_week",
            "Europe/Berlin",
            "/api/v1/export?format=csv&period=last_week&timezone=Europe/Berlin",
        ),
        (
            "/api/v1/export?format=csv&period=today&timezone=UTC",
            "Europe/Berlin",
            "/api/v1/export?format=csv&period=today&timezone=UTC",
        ),
        (
            "/api/v1/export?format=csv&period=today",
            "Etc/GMT+5",
            "/api/v1/export?format=csv&period=today&timezone=Etc/GMT%2B5",
        ),
    ],
)
def test_a_slot_evaluates_the_period_in_the_schedule_zone_unless_the_url_names_one(url, zone, job_url):
    assert url_for_slot(url, zone) == job_url
