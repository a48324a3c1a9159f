"""The scheduled reports' settings fail at start-up naming the setting, and never echo smtp_url's password."""

from __future__ import annotations

import pytest

from spoo_export_plugin import ConfigurationError, ExportSettings
from spoo_export_plugin.core.schedule_settings import SmtpTarget, is_plausible_address, parse_smtp_url

SECRET = "hunter2-Sekret"


def make(db, **values):
    return ExportSettings(database=db, **values)


def test_the_defaults(db):
    settings = make(db)
    assert (settings.smtp_url, settings.email_from) == (None, None)
    assert settings.email_attachment_max_bytes == 10_000_000
    assert settings.max_schedules_per_owner == 20
    assert settings.schedules_collection == "export_schedules"


@pytest.mark.parametrize(
    "url, target",
    [
        ("smtp://mail.example.com", SmtpTarget("mail.example.com", 25, "none")),
        ("smtp://127.0.0.1:2525", SmtpTarget("127.0.0.1", 2525, "none")),
        (
            f"smtp://reports%40example.com:{SECRET}@mail.example.com?starttls=true",
            SmtpTarget("mail.example.com", 587, "starttls", "reports@example.com", SECRET),
        ),
        (
            f"smtp://u:{SECRET}@mail.example.com:2587/?starttls=1",
            SmtpTarget("mail.example.com", 2587, "starttls", "u", SECRET),
        ),
        (f"smtps://u:{SECRET}@mail.example.com", SmtpTarget("mail.example.com", 465, "tls", "u", SECRET)),
        ("SMTPS://u:p%2Fw%3A%40@[::1]:4650", SmtpTarget("::1", 4650, "tls", "u", "p/w:@")),
        (
            f"smtp://u:{SECRET}@localhost:25",
            SmtpTarget("localhost", 25, "none", "u", SECRET),
        ),  # loopback: no TLS needed
        ("smtp://mail.example.com?starttls=false", SmtpTarget("mail.example.com", 25, "none")),
    ],
)
def test_smtp_urls_parse(db, url, target):
    assert parse_smtp_url(url) == target
    settings = make(db, smtp_url=url, email_from="reports@example.com")
    assert SECRET not in repr(settings) and "p/w" not in repr(settings)
    assert SECRET not in repr(target)


@pytest.mark.parametrize(
    "url, says",
    [
        (f"http://u:{SECRET}@mail.example.com", "must start with smtp:// or smtps:// (it starts with 'http://')"),
        (f"u:{SECRET}@mail.example.com", "must start with smtp:// or smtps://"),
        (f"smtp://u:{SECRET}@", "names no host"),
        (f"smtp://u:{SECRET}@mail.example.com:99999", "the port is not a number"),
        (f"smtp://u:{SECRET}@mail.example.com:abc", "the port is not a number"),
        (f"smtp://u:{SECRET}@mail.example.com/inbox", "has a path or fragment"),
        (f"smtp://u:{SECRET}@mail.example.com?tls=yes", "unknown option 'tls'"),
        (f"smtp://u:{SECRET}@mail.example.com?starttls=maybe", "starttls='maybe' is not true or false"),
        (f"smtps://u:{SECRET}@mail.example.com?starttls=true", "smtps:// is TLS from the start"),
        (f"smtp://u:{SECRET}@mail.example.com", "would send its password unencrypted to mail.example.com"),
        (f"smtp://u:{SECRET}@10.0.0.5:25", "would send its password unencrypted"),
        ("smtp://justauser@mail.example.com?starttls=true", "give both user and password"),
        (f"smtp://u:{SECRET}@[::1", "does not parse"),
        (12, "must be a string"),
    ],
)
def test_bad_smtp_urls_fail_at_start_up_without_the_password(db, url, says):
    with pytest.raises(ConfigurationError) as raised:
        make(db, smtp_url=url, email_from="reports@example.com")
    assert says in str(raised.value)
    assert "smtp_url" in str(raised.value)
    assert SECRET not in str(raised.value)


def test_smtp_url_needs_a_sender(db):
    with pytest.raises(ConfigurationError, match="email_from is needed with smtp_url"):
        make(db, smtp_url="smtp://localhost")


@pytest.mark.parametrize(
    "sender", ["reports@example.com", "Spoo reports <reports@example.com>", "<a.b+c@mail.example.org>"]
)
def test_senders_with_or_without_a_display_name(db, sender):
    assert make(db, smtp_url="smtp://localhost", email_from=sender).email_from == sender


@pytest.mark.parametrize(
    "sender",
    [
        "reports",
        "reports@localhost",
        "Reports <reports@example.com",
        "reports@example.com\r\nBcc: victim@example.org",
        "a@example.com, b@example.com",
        '"Quoted" <reports@example.com>',
    ],
)
def test_implausible_senders_fail(db, sender):
    with pytest.raises(ConfigurationError, match="email_from"):
        make(db, smtp_url="smtp://localhost", email_from=sender)


def test_empty_variables_are_unset(db):
    settings = ExportSettings.from_env({"SPOO_EXPORT_SMTP_URL": "", "SPOO_EXPORT_EMAIL_FROM": ""}, database=db)
    assert (settings.smtp_url, settings.email_from) == (None, None)


def test_the_settings_come_from_the_environment(db):
    settings = ExportSettings.from_env(
        {
            "SPOO_EXPORT_SMTP_URL": f"smtps://u:{SECRET}@mail.example.com",
            "SPOO_EXPORT_EMAIL_FROM": "reports@example.com",
            "SPOO_EXPORT_EMAIL_ATTACHMENT_MAX_BYTES": "0",
            "SPOO_EXPORT_MAX_SCHEDULES_PER_OWNER": "5",
            "SPOO_EXPORT_SCHEDULES_COLLECTION": "reports",
        },
        database=db,
    )
    assert settings.email_attachment_max_bytes == 0  # 0: always the link
    assert (settings.max_schedules_per_owner, settings.schedules_collection) == (5, "reports")


@pytest.mark.parametrize(
    "values, says",
    [
        ({"email_attachment_max_bytes": -1}, "email_attachment_max_bytes must be 0 or a positive integer"),
        ({"email_attachment_max_bytes": "big"}, "email_attachment_max_bytes"),
        ({"max_schedules_per_owner": 0}, "max_schedules_per_owner must be a positive integer"),
        ({"schedules_collection": ""}, "schedules_collection"),
        ({"schedules_collection": "$cmd"}, "schedules_collection"),
    ],
)
def test_bad_numbers_and_names_fail(db, values, says):
    with pytest.raises(ConfigurationError, match=says):
        make(db, **values)


@pytest.mark.parametrize(
    "address, plausible",
    [
        ("a@example.com", True),
        ("first.last+tag@mail.example.co.uk", True),
        ("o'brien@example.ie", True),
        ("a" * 64 + "@example.com", True),
        ("a" * 65 + "@example.com", False),
        ("a@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + "." + "e" * 57 + ".com", False),  # past 254
        ("a@example", False),
        ("a@-example.com", False),
        (".a@example.com", False),
        ("a..b@example.com", False),
        ("a b@example.com", False),
        ("a@example.com\n", False),
        ("a@example.com\r\nBcc: b@example.com", False),
        ("<a@example.com>", False),
        ("a@example.com,b@example.com", False),
        ("jörg@example.com", False),
        ("a@exämple.com", False),
        (None, False),
    ],
)
def test_plausible_addresses(address, plausible):
    assert is_plausible_address(address) is plausible


@pytest.mark.parametrize("url", ["https://spoo.me", "http://127.0.0.1:8000", "https://stats.example.com/prefix/"])
def test_public_urls(db, url):
    assert ExportSettings(database=db, public_url=url).public_url == url


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://spoo.me", "public_url='ftp://spoo.me' must be an http(s) URL such as https://spoo.me"),
        ("spoo.me", "public_url='spoo.me' must be an http(s) URL"),
        ("https://", "must be an http(s) URL"),
        ("https://spoo.me:99999", "must be an http(s) URL"),
        ("https://spoo.me/?a=1", "with no query or fragment"),
        ("https://spoo.me/#top", "with no query or fragment"),
        ("https://spoo.me/a b", "with no query or fragment"),
        ("https://admin:hunter2@spoo.me", "public_url must not carry a user or password"),
    ],
)
def test_bad_public_urls_fail_at_start_up(db, url, says):
    with pytest.raises(ConfigurationError, match=None) as failed:
        ExportSettings(database=db, public_url=url)
    assert says in str(failed.value) and "hunter2" not in str(failed.value)


def test_an_empty_public_url_is_unset(db):
    assert ExportSettings(database=db, public_url="").public_url is None
