"""A scheduled report by e-mail: one message (subject: the report and its range; a short text body;
the file attached, or its signed link when the file is larger than ``email_attachment_max_bytes``)
sent through ``smtp_url`` from ``email_from``.

The connection is TLS from the start (``smtps://``) or upgraded with STARTTLS (``?starttls=true``),
with the certificate and host name verified (the system's trust store, or ``ssl_context``); plain
SMTP only when the URL asks for it. Every socket operation has a timeout. A failure is a
:class:`MailError` whose message names the server (host, port) and its reply, never the credentials;
transient failures (no connection, a 4xx reply) are tried again, permanent ones (a 5xx reply, a login
refused, a certificate that does not verify) are not, and nothing is sent twice once the server took it.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from urllib.parse import unquote

from ..core.request.timezones import get_zone
from ..core.schedule_settings import SmtpTarget, parse_smtp_url, sender_address
from ..core.settings import ExportSettings

log = logging.getLogger(__name__)

#: Seconds one connection may wait for the server (connect, each reply, each write).
SMTP_TIMEOUT_SECONDS = 30
#: Tries of one message; waits of 2 s, then 4 s, between them.
SEND_ATTEMPTS = 3
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_MS = timedelta(milliseconds=1)
_EXTENDED_FILENAME = re.compile(r"filename\*\s*=\s*UTF-8''([^;\s]+)", re.IGNORECASE)
_PLAIN_FILENAME = re.compile(r'filename\s*=\s*"([^"]*)"', re.IGNORECASE)


class MailError(Exception):
    """A report e-mail that was not sent (or not to everyone); the message is fit for ``last_error``.
    ``transient``: the server was unreachable or answered 4xx on every try (a later try may succeed)."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class ReportFile:
    """The file a report e-mail carries: what the job produced, and its signed link for large files."""

    filename: str
    media_type: str
    open: Callable[[], Iterable[bytes]]
    link: str
    link_expires_at: datetime | None = None


def filename_of(disposition: str, default: str = "report") -> str:
    """The file name a ``Content-Disposition`` gives, its RFC 5987 ``filename*`` first (an emoji alias
    travels only there): what a job's file is called, for its attachment."""
    extended = _EXTENDED_FILENAME.search(disposition)
    if extended:
        return one_line(unquote(extended.group(1), errors="replace"), 200) or default
    plain = _PLAIN_FILENAME.search(disposition)
    return one_line(plain.group(1), 200) if plain and plain.group(1).strip() else default


def one_line(text: str, limit: int = 200) -> str:
    """Text fit for a header: control characters (CR and LF among them) become one space, and it is cut."""
    return _CONTROL.sub(" ", text).strip()[:limit]


def describe_range(start: datetime | None, end: datetime, zone: str) -> str:
    """A report's range in its zone: ``2025-03-03 to 2025-03-09 (Europe/Berlin)`` when it is whole local days
    (a period such as ``last_week``), else to the minute (``today``: up to the run's instant)."""
    tz = get_zone(zone)
    local_end = end.astimezone(tz)
    if start is None:  # period=all: from the first data on
        return f"up to {local_end:%Y-%m-%d %H:%M} ({zone})"
    local_start = start.astimezone(tz)
    midnight = datetime.min.time()
    if local_start.time() == midnight and (end + _MS).astimezone(tz).time() == midnight:
        if local_start.date() == local_end.date():
            return f"{local_start:%Y-%m-%d} ({zone})"
        return f"{local_start:%Y-%m-%d} to {local_end:%Y-%m-%d} ({zone})"
    return f"{local_start:%Y-%m-%d %H:%M} to {local_end:%Y-%m-%d %H:%M} ({zone})"


def _size_text(size: int) -> str:
    for unit, scale in (("MB", 1_000_000), ("kB", 1_000)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def _read_at_most(file: ReportFile, limit: int) -> bytes | None:
    """The file's bytes, or None as soon as it proves longer than ``limit`` (the rest is not read)."""
    if limit == 0:
        return None
    kept, total = [], 0
    for chunk in file.open():
        total += len(chunk)
        if total > limit:
            return None
        kept.append(chunk)
    return b"".join(kept)


def report_message(
    settings: ExportSettings,
    recipients: Sequence[str],
    *,
    title: str,
    start: datetime | None,
    end: datetime,
    zone: str,
    file: ReportFile,
) -> EmailMessage:
    """The e-mail of one report run. ``title`` names the report (e.g. the schedule's url); the file is
    attached when it is at most ``email_attachment_max_bytes``, else the body carries ``file.link``."""
    if settings.email_from is None:
        raise MailError("email_from is not set: this server sends no e-mail")
    if not recipients:
        raise MailError("the schedule has no e-mail recipients")
    name, address = sender_address(settings.email_from)
    shown_title = one_line(title, 150)
    shown_range = describe_range(start, end, zone)
    message = EmailMessage()
    message["Subject"] = one_line(f"{shown_title}: {shown_range}", 250)
    message["From"] = formataddr((name, address))
    message["To"] = ", ".join(recipients)  # checked addresses: no comma, no CR/LF in any of them
    message["Date"] = format_datetime(datetime.now(timezone.utc), usegmt=True)
    message["Message-ID"] = make_msgid(domain=address.rpartition("@")[2])
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a report
    filename = one_line(file.filename, 200) or "report"
    maintype, subtype, params = _media_type(file.media_type)
    data = _read_at_most(file, settings.email_attachment_max_bytes)
    lines = [f"Your scheduled report {shown_title} is ready.", "", f"Range: {shown_range}"]
    if data is not None:
        lines += [f"Attached: {filename} ({_size_text(len(data))}, {maintype}/{subtype})."]
    else:
        until = f" until {file.link_expires_at:%Y-%m-%d %H:%M} UTC" if file.link_expires_at else ""
        lines += [
            f"The file {filename} is larger than {_size_text(settings.email_attachment_max_bytes)}, so it is not "
            f"attached; download it{until} from:",
            file.link,
        ]
    message.set_content("\n".join(lines) + "\n")
    if data is not None:
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename, params=params)
    return message


def _media_type(text: str) -> tuple[str, str, dict[str, str]]:
    """``text/csv; charset=utf-8`` as ``("text", "csv", {"charset": "utf-8"})``."""
    kind, *parameters = [part.strip() for part in text.split(";")]
    maintype, _, subtype = kind.partition("/")
    if not maintype or not subtype:
        return "application", "octet-stream", {}
    params = {}
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip() and value.strip():
            params[name.strip().lower()] = value.strip().strip('"')
    return maintype.lower(), subtype.lower(), params


def send_message(
    settings: ExportSettings,
    message: EmailMessage,
    *,
    ssl_context: ssl.SSLContext | None = None,
    attempts: int = SEND_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Send through ``smtp_url``; MailError when it could not be sent to every recipient."""
    if settings.smtp_url is None:
        raise MailError("smtp_url is not set: this server sends no e-mail")
    target = parse_smtp_url(settings.smtp_url)
    context = ssl_context or ssl.create_default_context()
    for attempt in range(1, attempts + 1):
        try:
            _send_once(target, message, context)
            return
        except _Permanent as failed:
            raise MailError(str(failed)) from None
        except (OSError, smtplib.SMTPException) as exc:
            problem = _describe(exc, target)
            if attempt == attempts or _is_permanent_reply(exc):
                raise MailError(problem, transient=not _is_permanent_reply(exc)) from None
            log.warning("sending a report e-mail failed (attempt %d of %d): %s", attempt, attempts, problem)
            sleep(2.0**attempt)


def _is_permanent_reply(exc: BaseException) -> bool:
    """A 5xx reply (to the message, or to every recipient): the server will say the same again."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    return isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code >= 500


class _Permanent(Exception):
    """A failure that another try would repeat, or that would send the message twice."""


def _send_once(target: SmtpTarget, message: EmailMessage, context: ssl.SSLContext) -> None:
    client: smtplib.SMTP
    try:
        if target.security == "tls":
            client = smtplib.SMTP_SSL(target.host, target.port, timeout=SMTP_TIMEOUT_SECONDS, context=context)
        else:
            client = smtplib.SMTP(target.host, target.port, timeout=SMTP_TIMEOUT_SECONDS)
    except ssl.SSLCertVerificationError as exc:
        raise _Permanent(_describe(exc, target)) from None
    try:
        client.ehlo()
        if target.security == "starttls":
            if not client.has_extn("starttls"):
                raise _Permanent(
                    f"the SMTP server {target.shown} does not offer STARTTLS (use smtps:// or another port)"
                )
            client.starttls(context=context)
            client.ehlo()
        if target.username is not None and target.password is not None:
            if not client.has_extn("auth"):
                raise _Permanent(f"the SMTP server {target.shown} offers no login (AUTH) on this connection")
            client.login(target.username, target.password)
        refused = client.send_message(message)
    except (ssl.SSLCertVerificationError, smtplib.SMTPAuthenticationError) as exc:
        raise _Permanent(_describe(exc, target)) from None
    finally:
        _close(client)
    if refused:  # the others have it: another try would send it to them twice
        shown = "; ".join(f"{who}: {code} {_text(reply)}" for who, (code, reply) in sorted(refused.items()))
        raise _Permanent(f"the SMTP server {target.shown} did not take the report for {shown}")


def _close(client: smtplib.SMTP) -> None:
    """QUIT, and never fail for it: the message is sent (or not) by then."""
    try:
        client.quit()
    except (OSError, smtplib.SMTPException):
        client.close()


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return one_line(text, 200)


def _describe(exc: BaseException, target: SmtpTarget) -> str:
    """What went wrong, for a person: the server by host and port, its reply; never the credentials."""
    where = f"the SMTP server {target.shown}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"{where}: its TLS certificate did not verify ({one_line(exc.verify_message or str(exc))})"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"{where} refused the login of {target.username!r}: {exc.smtp_code} {_text(exc.smtp_error)}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = "; ".join(f"{who}: {code} {_text(reply)}" for who, (code, reply) in sorted(exc.recipients.items()))
        return f"{where} refused every recipient ({refused})"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{where} answered {exc.smtp_code} {_text(exc.smtp_error)}"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return f"{where} closed the connection"
    if isinstance(exc, TimeoutError):
        return f"{where} did not answer within {SMTP_TIMEOUT_SECONDS} s"
    if isinstance(exc, ssl.SSLError):
        return f"{where}: TLS failed ({one_line(exc.reason or str(exc))})"
    reason = getattr(exc, "strerror", None) or type(exc).__name__
    return f"{where} could not be reached ({one_line(reason)})"


def send_report(
    settings: ExportSettings,
    recipients: Sequence[str],
    *,
    title: str,
    start: datetime | None,
    end: datetime,
    zone: str,
    file: ReportFile,
    ssl_context: ssl.SSLContext | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Build one report's e-mail and send it (what a slot's run calls once its job is done)."""
    message = report_message(settings, recipients, title=title, start=start, end=end, zone=zone, file=file)
    send_message(settings, message, ssl_context=ssl_context, sleep=sleep)


__all__ = [
    "MailError",
    "ReportFile",
    "describe_range",
    "filename_of",
    "report_message",
    "send_message",
    "send_report",
]
