"""Report e-mails through a real SMTP server on loopback (aiosmtpd): plain, STARTTLS and SMTPS with a
certificate made for the test, checked by parsing what the server received."""

from __future__ import annotations

import logging
import ssl
from datetime import datetime, timezone

import pytest

from spoo_export_plugin import ExportSettings
from spoo_export_plugin.files.disposition import content_disposition
from spoo_export_plugin.schedules.mail import (
    MailError,
    ReportFile,
    describe_range,
    filename_of,
    report_message,
    send_report,
)

from .smtp_server import Inbox, self_signed_certificate, server_context, smtp_server

UTC = timezone.utc
PASSWORD = "s3cret-Pa55:word"
CSV = b"day,clicks\r\n2025-03-03,7\r\n" * 20
# last_week in Berlin, evaluated on Monday 10 March 2025 at 08:00
START = datetime(2025, 3, 2, 23, 0, tzinfo=UTC)
END = datetime(2025, 3, 9, 22, 59, 59, 999000, tzinfo=UTC)
LINK = "https://stats.example.com/api/v1/export/jobs/65f0/file?token=abc.def"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return self_signed_certificate(tmp_path_factory.mktemp("smtp-tls"))


@pytest.fixture
def trusting(certificate):
    """A client context that trusts the test's certificate (and verifies it and the host name)."""
    return ssl.create_default_context(cafile=str(certificate[0]))


def report_file(data: bytes = CSV, chunks: list[int] | None = None, name: str = "spoo-export-all-2025-03-03.csv"):
    def read():
        for offset in range(0, len(data), 100):
            if chunks is not None:
                chunks.append(offset)
            yield data[offset : offset + 100]

    return ReportFile(name, "text/csv; charset=utf-8", read, LINK, datetime(2025, 3, 11, 8, 0, tzinfo=UTC))


def settings_for(db, url: str, **more) -> ExportSettings:
    return ExportSettings(database=db, smtp_url=url, email_from="Spoo reports <reports@example.com>", **more)


def send(settings, recipients=("team@example.com",), title="Weekly clicks", file=None, **options):
    send_report(
        settings,
        list(recipients),
        title=title,
        start=START,
        end=END,
        zone="Europe/Berlin",
        file=file or report_file(),
        **options,
    )


def test_plain_smtp_carries_the_report_attached(db):
    inbox = Inbox()
    with smtp_server(inbox) as port:
        send(settings_for(db, f"smtp://127.0.0.1:{port}"), recipients=["team@example.com", "boss@example.org"])
    [(sender, recipients, _)] = inbox.received
    assert (sender, recipients) == ("reports@example.com", ["team@example.com", "boss@example.org"])
    [message] = inbox.messages()
    assert message["Subject"] == "Weekly clicks: 2025-03-03 to 2025-03-09 (Europe/Berlin)"
    assert message["From"] == "Spoo reports <reports@example.com>"
    assert message["To"] == "team@example.com, boss@example.org"
    assert message["Auto-Submitted"] == "auto-generated"
    body = message.get_body(("plain",)).get_content()
    assert body == (
        "Your scheduled report Weekly clicks is ready.\n\n"
        "Range: 2025-03-03 to 2025-03-09 (Europe/Berlin)\n"
        "Attached: spoo-export-all-2025-03-03.csv (520 bytes, text/csv).\n"
    )
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "spoo-export-all-2025-03-03.csv"
    assert attachment.get_content_type() == "text/csv"
    assert attachment.get_param("charset") == "utf-8"
    assert attachment.get_payload(decode=True) == CSV


def test_starttls_verifies_the_certificate_and_logs_in(db, certificate, trusting):
    inbox = Inbox(password=PASSWORD.encode())
    options = {"tls_context": server_context(*certificate), "require_starttls": True}
    with smtp_server(inbox, **options) as port:
        send(
            settings_for(db, f"smtp://reports%40example.com:{PASSWORD}@localhost:{port}?starttls=true"),
            ssl_context=trusting,
        )
    assert inbox.logins == [(b"reports@example.com", PASSWORD.encode())]
    [message] = inbox.messages()
    assert message.get_content_type() == "multipart/mixed"


def test_smtps_is_tls_from_the_first_byte(db, certificate, trusting):
    inbox = Inbox(password=PASSWORD.encode())
    options = {"ssl_context": server_context(*certificate), "auth_require_tls": False}  # the socket itself is TLS
    with smtp_server(inbox, **options) as port:
        send(settings_for(db, f"smtps://u:{PASSWORD}@localhost:{port}"), ssl_context=trusting)
    assert inbox.logins == [(b"u", PASSWORD.encode())]
    [attachment] = list(inbox.messages()[0].iter_attachments())
    assert attachment.get_payload(decode=True) == CSV


@pytest.mark.parametrize("scheme", ["starttls", "smtps"])
def test_a_certificate_the_system_does_not_trust_is_refused_before_the_password(db, certificate, scheme, caplog):
    """The system's trust store (no ssl_context) does not know the test's certificate: nothing is sent,
    no login is tried, and it is not tried again."""
    inbox = Inbox(password=PASSWORD.encode())
    if scheme == "starttls":
        options, url = {"tls_context": server_context(*certificate)}, "smtp://u:{pw}@localhost:{port}?starttls=true"
    else:
        options, url = (
            {"ssl_context": server_context(*certificate), "auth_require_tls": False},
            "smtps://u:{pw}@localhost:{port}",
        )
    waits: list[float] = []
    caplog.set_level(logging.DEBUG)
    with smtp_server(inbox, **options) as port, pytest.raises(MailError) as failed:
        send(settings_for(db, url.format(pw=PASSWORD, port=port)), sleep=waits.append)
    assert "its TLS certificate did not verify" in str(failed.value)
    assert f"localhost:{port}" in str(failed.value)
    assert (inbox.logins, inbox.received, waits) == ([], [], [])
    assert PASSWORD not in str(failed.value) and PASSWORD not in caplog.text


def test_a_refused_login_names_the_user_never_the_password(db, certificate, trusting, caplog):
    inbox = Inbox(password=b"the-right-one")
    waits: list[float] = []
    caplog.set_level(logging.DEBUG)
    with smtp_server(inbox, tls_context=server_context(*certificate)) as port, pytest.raises(MailError) as failed:
        send(
            settings_for(db, f"smtp://u:{PASSWORD}@localhost:{port}?starttls=true"),
            ssl_context=trusting,
            sleep=waits.append,
        )
    assert str(failed.value).startswith(f"the SMTP server localhost:{port} (starttls) refused the login of 'u': 535")
    assert PASSWORD not in str(failed.value) and PASSWORD not in caplog.text
    assert (inbox.received, waits) == ([], [])


def test_starttls_asked_of_a_server_without_it(db):
    with smtp_server(Inbox()) as port, pytest.raises(MailError, match="does not offer STARTTLS"):
        send(settings_for(db, f"smtp://127.0.0.1:{port}?starttls=true"), sleep=pytest.fail)


def test_a_file_over_the_limit_is_linked_not_attached_and_not_read_to_the_end(db):
    inbox = Inbox()
    read: list[int] = []
    big = b"x" * 5_000
    with smtp_server(inbox) as port:
        send(
            settings_for(db, f"smtp://127.0.0.1:{port}", email_attachment_max_bytes=1_000), file=report_file(big, read)
        )
    [message] = inbox.messages()
    assert list(message.iter_attachments()) == []
    assert message.get_content_type() == "text/plain"
    assert message.get_content() == (
        "Your scheduled report Weekly clicks is ready.\n\n"
        "Range: 2025-03-03 to 2025-03-09 (Europe/Berlin)\n"
        "The file spoo-export-all-2025-03-03.csv is larger than 1.0 kB, so it is not attached; "
        "download it until 2025-03-11 08:00 UTC from:\n" + LINK + "\n"
    )
    assert len(read) == 11  # 100-byte chunks: reading stopped at the first one past 1,000 bytes


def test_zero_means_always_the_link(db):
    message = report_message(
        settings_for(db, "smtp://127.0.0.1:25", email_attachment_max_bytes=0),
        ["a@example.com"],
        title="T",
        start=START,
        end=END,
        zone="Europe/Berlin",
        file=report_file(b"tiny"),
    )
    assert LINK in message.get_content() and list(message.iter_attachments()) == []


def test_headers_stay_headers(db):
    """A title or file name holding CR/LF (a url or alias an owner chose) cannot add a header or a recipient."""
    inbox = Inbox()
    title = "Clicks\r\nBcc: victim@example.org\r\n\r\nInjected body"
    file = report_file(name="report\r\nBcc: victim@example.org.csv")
    with smtp_server(inbox) as port:
        send(settings_for(db, f"smtp://127.0.0.1:{port}"), title=title, file=file)
    [(_, recipients, raw)] = inbox.received
    assert recipients == ["team@example.com"]
    [message] = inbox.messages()
    assert message["Bcc"] is None and b"\nBcc:" not in raw
    assert (
        message["Subject"] == "Clicks Bcc: victim@example.org Injected body: 2025-03-03 to 2025-03-09 (Europe/Berlin)"
    )
    assert list(message.iter_attachments())[0].get_filename() == "report Bcc: victim@example.org.csv"


def test_a_temporary_refusal_is_tried_again_and_delivered_once(db):
    inbox = Inbox(data_replies=["451 4.3.0 try again later"])
    waits: list[float] = []
    with smtp_server(inbox) as port:
        send(settings_for(db, f"smtp://127.0.0.1:{port}"), sleep=waits.append)
    assert (inbox.data_commands, len(inbox.received), waits) == (2, 1, [2.0])


def test_a_permanent_refusal_is_not_tried_again(db):
    inbox = Inbox(data_replies=["554 5.6.0 message refused"])
    with smtp_server(inbox) as port, pytest.raises(MailError) as failed:
        send(settings_for(db, f"smtp://127.0.0.1:{port}"), sleep=pytest.fail)
    assert str(failed.value) == f"the SMTP server 127.0.0.1:{port} (none) answered 554 5.6.0 message refused"
    assert inbox.data_commands == 1


def test_one_refused_recipient_is_reported_and_the_others_are_not_sent_it_twice(db):
    inbox = Inbox(refuse_recipients={"gone@example.com"})
    with smtp_server(inbox) as port, pytest.raises(MailError) as failed:
        send(
            settings_for(db, f"smtp://127.0.0.1:{port}"),
            recipients=["team@example.com", "gone@example.com"],
            sleep=pytest.fail,
        )
    assert "did not take the report for gone@example.com: 550 5.1.1 no such mailbox here" in str(failed.value)
    assert [recipients for _, recipients, _ in inbox.received] == [["team@example.com"]]


def test_no_server_is_tried_three_times(db):
    with smtp_server(Inbox()) as port:
        pass  # the port is closed again
    waits: list[float] = []
    with pytest.raises(MailError) as failed:
        send(settings_for(db, f"smtp://127.0.0.1:{port}"), sleep=waits.append)
    assert str(failed.value).startswith(f"the SMTP server 127.0.0.1:{port} (none) could not be reached")
    assert waits == [2.0, 4.0]


def test_no_smtp_url_no_mail(settings):
    with pytest.raises(MailError, match="email_from is not set"):
        send(settings)


@pytest.mark.parametrize(
    "start, end, zone, text",
    [
        (START, END, "Europe/Berlin", "2025-03-03 to 2025-03-09 (Europe/Berlin)"),  # last_week
        (
            datetime(2025, 3, 8, 23, 0, tzinfo=UTC),
            datetime(2025, 3, 9, 22, 59, 59, 999000, tzinfo=UTC),
            "Europe/Berlin",
            "2025-03-09 (Europe/Berlin)",
        ),  # yesterday
        (
            datetime(2025, 3, 9, 23, 0, tzinfo=UTC),
            datetime(2025, 3, 10, 7, 0, tzinfo=UTC),
            "Europe/Berlin",
            "2025-03-10 00:00 to 2025-03-10 08:00 (Europe/Berlin)",
        ),  # today
        (None, datetime(2025, 3, 10, 7, 0, tzinfo=UTC), "UTC", "up to 2025-03-10 07:00 (UTC)"),  # all
        # last_month across Berlin's spring forward: whole days, though one of them is 23 hours long
        (
            datetime(2025, 2, 28, 23, 0, tzinfo=UTC),
            datetime(2025, 3, 31, 21, 59, 59, 999000, tzinfo=UTC),
            "Europe/Berlin",
            "2025-03-01 to 2025-03-31 (Europe/Berlin)",
        ),
    ],
)
def test_the_range_in_the_subject(start, end, zone, text):
    assert describe_range(start, end, zone) == text


def test_credentials_for_a_server_that_offers_no_login(db):
    """aiosmtpd offers AUTH only over TLS: credentials on a plain loopback connection find no login to use."""
    with smtp_server(Inbox(password=b"x")) as port, pytest.raises(MailError) as failed:
        send(settings_for(db, f"smtp://u:{PASSWORD}@127.0.0.1:{port}"), sleep=pytest.fail)
    assert str(failed.value) == f"the SMTP server 127.0.0.1:{port} (none) offers no login (AUTH) on this connection"


@pytest.mark.parametrize(
    "name",
    ["spoo-export-all-2025-03-03.csv", "spoo-export-🔥fire-2025-03-03.xlsx", "clicks-ünïcode.json"],
)
def test_the_attachment_is_named_as_the_job_file_is(db, name):
    """A job's file carries the GET's Content-Disposition (an emoji alias travels in ``filename*``): the
    e-mail's attachment has the same name."""
    disposition = content_disposition(name)
    assert filename_of(disposition) == name
    message = report_message(
        settings_for(db, "smtp://127.0.0.1:25"),
        ["a@example.com"],
        title="T",
        start=START,
        end=END,
        zone="Europe/Berlin",
        file=report_file(name=filename_of(disposition)),
    )
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == name


def test_no_recipients_no_message(db):
    with pytest.raises(MailError, match="no e-mail recipients"):
        send(settings_for(db, "smtp://127.0.0.1:25"), recipients=[])
