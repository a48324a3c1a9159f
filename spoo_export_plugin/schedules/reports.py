"""A scheduled run's e-mail, once its job has ended: the report (attached, or its signed link) when the
job is done, a short notice when it failed.

A job queued on SQLite or Redis ends later, in a worker; so the scheduler looks at every schedule whose
latest run still owes its e-mail (``mail_pending``) at each tick, and sends the e-mails of the jobs that
have ended. :meth:`ScheduleStore.claim_mail` takes each e-mail once, however many schedulers look. A
delivery that failed after :func:`~.mail.send_message`'s own tries (three, 2 s and 4 s apart) because
the server was unreachable (or answered 4xx) is owed again at the next tick, at :data:`MAIL_TICKS`
ticks at most; one the server refused (5xx, a login refused) is not tried again. Either is recorded on
the schedule as ``last_error``, in words.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from typing import Any
from urllib.parse import urlsplit

from ..core.exceptions import ExportError
from ..core.schedule_settings import sender_address
from ..core.settings import ExportSettings
from ..files.produce import parse_query, target_from_url
from ..jobs.records import DONE, FAILED, parse_job_id
from ..jobs.service import JobService
from ..jobs.stored_files import utc
from .mail import MailError, ReportFile, describe_range, filename_of, one_line, send_message, send_report
from .store import ScheduleStore, as_utc

log = logging.getLogger("spoo_export_plugin.schedules")

#: Ticks at which one run's e-mail is tried while the mail server is unreachable (each tick: three tries,
#: 2 s and 4 s apart); then the run's ``last_error`` says it was not sent.
MAIL_TICKS = 3
SERVER_ERROR = "the report e-mail was not sent because of an error in the server; the operator's log has the details"
_KINDS = {"statistics": "Click statistics", "link": "Link statistics", "clicks": "Raw clicks"}


def report_title(settings: ExportSettings, url: str) -> str:
    """What a report is, for a subject line: ``Click statistics for abc (csv, last_week)``."""
    try:
        target = target_from_url(settings.route, url)
    except ExportError:
        return "Scheduled report"
    query = target.query

    def first(name: str) -> str | None:
        value = query.get(name)
        value = value[0] if isinstance(value, list) and value else value
        return str(value) if value else None

    of = target.url_id or first("short_code")
    what = _KINDS.get(target.kind, "Scheduled report") + (f" for {of}" if of else "")
    details = ", ".join(value for value in (first("format"), first("period")) if value)
    return one_line(f"{what} ({details})" if details else what, 150)


def report_zone(url: str, schedule_zone: str) -> str:
    """The zone the report's range was read in: the URL's own ``timezone``, else the schedule's."""
    value = parse_query(urlsplit(url).query).get("timezone")
    value = value[0] if isinstance(value, list) and value else value
    return str(value) if value else schedule_zone


def failure_message(
    settings: ExportSettings, recipients: Sequence[str], *, title: str, shown_range: str, error: str
) -> EmailMessage:
    """The e-mail of a run whose job failed: what, which range, and why (the job's error)."""
    if settings.email_from is None:
        raise MailError("email_from is not set: this server sends no e-mail")
    name, address = sender_address(settings.email_from)
    message = EmailMessage()
    message["Subject"] = one_line(f"{title}: {shown_range}: failed", 250)
    message["From"] = formataddr((name, address))
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(datetime.now(timezone.utc), usegmt=True)
    message["Message-ID"] = make_msgid(domain=address.rpartition("@")[2])
    message["Auto-Submitted"] = "auto-generated"
    body = [
        f"Your scheduled report {title} could not be made.",
        "",
        f"Range: {shown_range}",
        f"Reason: {one_line(error, 500)}",
        "",
        "The schedule stays on: its next run will try again with the range of that run.",
    ]
    message.set_content("\n".join(body) + "\n")
    return message


class ReportMailer:
    """Sends the e-mails of schedule runs whose jobs have ended (each once), and records the outcome."""

    def __init__(
        self,
        settings: ExportSettings,
        jobs: JobService,
        schedules: ScheduleStore,
        *,
        ssl_context: ssl.SSLContext | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings, self.jobs, self.schedules = settings, jobs, schedules
        self.ssl_context, self.sleep = ssl_context, sleep

    def send_pending(self) -> int:
        """Send every e-mail owed by a run whose job has ended; how many this call took on."""
        taken = 0
        for doc in self.schedules.pending_mail():
            job_id = str(doc.get("last_job_id"))
            oid = parse_job_id(job_id)
            job = self.jobs.records.find(oid, any_owner=True) if oid is not None else None
            if job is not None and job.get("status") not in (DONE, FAILED):
                continue  # queued or running: a later tick
            if not self.schedules.claim_mail(doc["_id"], job_id):
                continue  # another scheduler has it
            taken += 1
            try:
                error = self._deliver(doc, job)
            except MailError as failed:
                error = f"the report e-mail was not sent: {failed}"
                if failed.transient and self._try_again_later(doc, job_id, error):
                    continue
            except Exception:  # one schedule's fault stops no other e-mail
                log.exception("schedule %s: the report e-mail of job %s failed", doc["_id"], job_id)
                error = SERVER_ERROR
            if error is not None:
                log.warning("schedule %s: %s", doc["_id"], error)
            slot = as_utc(doc["last_slot"])
            assert slot is not None  # a run's e-mail is owed only after its slot was claimed
            self.schedules.record_run(doc["_id"], slot, job_id=job_id, error=error)
        return taken

    def _try_again_later(self, schedule: dict[str, Any], job_id: str, error: str) -> bool:
        """Owe the e-mail again for a later tick, unless it was tried at :data:`MAIL_TICKS` ticks already
        (the count belongs to this run's job: a later run starts from none). Recorded as ``last_error``."""
        tries = int(schedule.get("mail_tries") or 0) if schedule.get("mail_tries_of") == job_id else 0
        if tries + 1 >= MAIL_TICKS:
            return False
        log.warning("schedule %s: %s; trying again at the next tick", schedule["_id"], error)
        change = {"mail_pending": True, "mail_tries_of": job_id, "mail_tries": tries + 1, "last_error": error}
        owed = self.schedules.schedules.update_one(
            {"_id": schedule["_id"], "last_job_id": job_id, "mail_pending": False}, {"$set": change}
        )
        return bool(owed.matched_count)

    def _deliver(self, schedule: dict[str, Any], job: dict[str, Any] | None) -> str | None:
        """Send the run's e-mail; None when it went out, else what went wrong (for ``last_error``); a
        :class:`MailError` that may pass (the server unreachable) is raised."""
        if job is None:
            return "the report's job was deleted before its e-mail was sent; no e-mail went out"
        recipients = list(schedule.get("email") or [])
        title = report_title(self.settings, job["url"])
        zone = report_zone(job["url"], schedule["timezone"])
        start, end = utc(job.get("range_start")), utc(job.get("range_end")) or utc(job["as_of"])
        assert end is not None
        try:
            if job["status"] == FAILED:
                shown = describe_range(start, end, zone)
                message = failure_message(
                    self.settings, recipients, title=title, shown_range=shown, error=str(job.get("error"))
                )
                send_message(self.settings, message, ssl_context=self.ssl_context, sleep=self.sleep)
                return None
            file = self._report_file(job)
            send_report(
                self.settings,
                recipients,
                title=title,
                start=start,
                end=end,
                zone=zone,
                file=file,
                ssl_context=self.ssl_context,
                sleep=self.sleep,
            )
        except MailError as failed:
            if failed.transient:
                raise
            return f"the report e-mail was not sent: {failed}"
        except ExportError as failed:  # the file expired or went away before the e-mail
            return f"the report e-mail was not sent: {failed.message}"
        return None

    def _report_file(self, job: dict[str, Any]) -> ReportFile:
        """The job's file, and where a recipient downloads it when it is too large to attach."""
        job_id = str(job["_id"])
        found = self.jobs.open_file(job_id, owner_id=job["owner_id"])
        shown = self.jobs.job_object(job)
        public_url = self.settings.public_url
        if public_url and shown.get("file_url"):
            link = public_url.rstrip("/") + shown["file_url"]
        else:  # no address users reach this server at: the owner fetches it through the API
            link = f"the export API: GET {self.settings.route.rstrip('/')}/jobs/{job_id}/file (with your API key)"
        return ReportFile(
            filename=filename_of(found.disposition),
            media_type=found.media_type,
            open=found.open,
            link=link,
            link_expires_at=utc(job.get("expires_at")),
        )


__all__ = ["ReportMailer", "failure_message", "report_title", "report_zone"]
