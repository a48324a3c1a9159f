"""run_schedules on mongomock with real parts around it: each slot once (also across DST changes and
racing schedulers), the job's file the synchronous GET's at the slot, the e-mail through a real SMTP
server (aiosmtpd on loopback), the signed webhook to a real HTTP receiver, a queued job's e-mail on a
later tick."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import falcon.testing
import pytest
from standardwebhooks import Webhook

from spoo_export_plugin import create_app, run_schedules
from spoo_export_plugin.jobs.service import JobService
from spoo_export_plugin.jobs.webhooks import check_webhook_url
from spoo_export_plugin.schedules.store import ScheduleStore
from spoo_export_plugin.schedules.validation import url_for_slot, validate_schedule

from ..factories import ROUTE
from ..jobs.conftest import ME, Clock, World, fill, job_settings, read
from ..jobs.webhook_receiver import SECRET, Receiver, serve
from .smtp_server import Inbox, smtp_server

UTC = timezone.utc
URL = f"{ROUTE}/clicks?format=json&period=last_week"
WEEKLY = "0 8 * * 1"  # Mondays 08:00 in Berlin
CREATED = datetime(2025, 3, 5, tzinfo=UTC)
MONDAY_10 = datetime(2025, 3, 10, 7, 0, tzinfo=UTC)  # 08:00 CET
MONDAY_17 = datetime(2025, 3, 17, 7, 0, tzinfo=UTC)
MONDAY_31 = datetime(2025, 3, 31, 6, 0, tzinfo=UTC)  # 08:00 CEST (Berlin moved on to summer time on the 30th)
FROM = "Spoo reports <reports@example.com>"
TO = ["team@example.com"]


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    box = Inbox()
    with smtp_server(box) as port:
        box.port = port  # type: ignore[attr-defined]
        yield box


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serve(Receiver()) as running:
        yield running


def settings_for(db: Any, inbox: Inbox | None = None, **changes: Any) -> Any:
    if inbox is not None:
        changes.setdefault("smtp_url", f"smtp://127.0.0.1:{inbox.port}")  # type: ignore[attr-defined]
        changes.setdefault("email_from", FROM)
    return job_settings(db, webhook_secret=SECRET, webhook_allow_http=True, webhook_allow_private=True, **changes)


def create(settings: Any, *, url: str = URL, cron: str = WEEKLY, zone: str = "Europe/Berlin", **body: Any) -> Any:
    created = body.pop("now", CREATED)
    spec = validate_schedule(
        {"url": url, "cron": cron, "timezone": zone, **body}, settings, check_webhook_url=check_webhook_url
    )
    return ScheduleStore(settings).create(ME, spec, now=created)["_id"]


def get_at(settings: Any, db: Any, ids: dict[str, Any], url: str, instant: datetime) -> falcon.testing.Result:
    """The synchronous GET of ``url`` through the real app with its clock frozen at ``instant``."""
    return World(db, settings, Clock(instant), ids, JobService(settings)).get(url)


def schedule_doc(settings: Any, schedule_id: Any) -> dict[str, Any]:
    return ScheduleStore(settings).schedules.find_one({"_id": schedule_id})


def job_doc(settings: Any, job_id: str) -> dict[str, Any]:
    from bson import ObjectId

    return settings.database[settings.jobs_collection].find_one({"_id": ObjectId(job_id)})


def as_of(settings: Any, job: dict[str, Any]) -> datetime:
    return job_doc(settings, job["id"])["as_of"].replace(tzinfo=UTC)


def test_each_slot_runs_once_and_its_file_is_the_get_at_the_slot(db: Any, inbox: Inbox) -> None:
    ids = fill(db)
    settings = settings_for(db, inbox)
    schedule_id = create(settings, email=TO)
    assert run_schedules(settings, MONDAY_10 - timedelta(minutes=1)) == []
    [job] = run_schedules(settings, MONDAY_10)
    assert job["status"] == "done" and as_of(settings, job) == MONDAY_10
    assert job_doc(settings, job["id"])["schedule_id"] == schedule_id
    assert run_schedules(settings, MONDAY_10) == [] and run_schedules(settings, MONDAY_10 + timedelta(hours=5)) == []
    expected = get_at(settings, db, ids, url_for_slot(URL, "Europe/Berlin"), MONDAY_10)
    assert expected.status_code == 200
    assert read(JobService(settings), job["id"], owner_id=ME) == expected.content
    assert json.loads(expected.content)["start_date"] == "2025-03-03T00:00:00+01:00"  # last week in Berlin
    [second] = run_schedules(settings, MONDAY_17 + timedelta(minutes=3))
    assert as_of(settings, second) == MONDAY_17
    again = get_at(settings, db, ids, url_for_slot(URL, "Europe/Berlin"), MONDAY_17)
    assert read(JobService(settings), second["id"], owner_id=ME) == again.content != expected.content
    doc = schedule_doc(settings, schedule_id)
    assert doc["last_job_id"] == second["id"] and doc["last_error"] is None and doc["mail_pending"] is False
    assert len(inbox.received) == 2  # one e-mail per run


def test_after_downtime_only_the_latest_missed_slot_runs(db: Any, receiver: Receiver) -> None:
    fill(db)
    settings = settings_for(db)
    create(settings, webhook_url=receiver.url())
    runs = run_schedules(settings, MONDAY_31 + timedelta(hours=3))
    assert [as_of(settings, job) for job in runs] == [MONDAY_31]
    assert run_schedules(settings, MONDAY_31 + timedelta(hours=4)) == []


def test_a_naive_now_is_refused(db: Any) -> None:
    with pytest.raises(ValueError, match="aware"):
        run_schedules(settings_for(db), datetime(2025, 3, 10, 7, 0))


@pytest.mark.parametrize(
    ("zone", "day_before", "expected"),
    [
        # Berlin springs forward on 30 March 2025 (02:00 CET -> 03:00 CEST): 02:30 runs at the change, once
        ("Europe/Berlin", datetime(2025, 3, 29), ["2025-03-29T01:30", "2025-03-30T01:00", "2025-03-31T00:30"]),
        # and falls back on 26 October (03:00 CEST -> 02:00 CET): 02:30 runs at its first occurrence only
        ("Europe/Berlin", datetime(2025, 10, 25), ["2025-10-25T00:30", "2025-10-26T00:30", "2025-10-27T01:30"]),
        # Sydney falls back on 6 April 2025 (03:00 AEDT -> 02:00 AEST): 02:30 local once, in AEDT
        ("Australia/Sydney", datetime(2025, 4, 4), ["2025-04-04T15:30", "2025-04-05T15:30", "2025-04-06T16:30"]),
        # and springs forward on 5 October (02:00 AEST -> 03:00 AEDT): 02:30 runs at the change
        ("Australia/Sydney", datetime(2025, 10, 3), ["2025-10-03T16:30", "2025-10-04T16:00", "2025-10-05T15:30"]),
    ],
)
def test_across_dst_changes_each_slot_runs_once(
    db: Any, receiver: Receiver, zone: str, day_before: datetime, expected: list[str]
) -> None:
    fill(db)
    settings = settings_for(db)
    start = day_before.replace(tzinfo=UTC) - timedelta(hours=1)
    create(
        settings,
        url=f"{ROUTE}?format=json&period=yesterday",
        cron="30 2 * * *",
        zone=zone,
        webhook_url=receiver.url(),
        now=start,
    )
    ran: list[datetime] = []
    tick = start
    while tick < start + timedelta(hours=72):
        ran += [as_of(settings, job) for job in run_schedules(settings, tick)]
        tick += timedelta(minutes=20)
    assert [moment.strftime("%Y-%m-%dT%H:%M") for moment in ran] == expected
    assert len(receiver.requests) == 3  # one webhook per run


def test_racing_schedulers_run_a_slot_once_and_mail_it_once(db: Any, inbox: Inbox) -> None:
    fill(db)
    settings = settings_for(db, inbox)
    create(settings, email=TO)
    barrier, results, errors = threading.Barrier(6), [], []

    def scheduler() -> None:
        try:
            barrier.wait()
            results.append(run_schedules(settings, MONDAY_10 + timedelta(minutes=1)))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=scheduler) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(len(runs) for runs in results) == 1
    assert db[settings.jobs_collection].count_documents({"url": {"$exists": True}}) == 1
    assert len(inbox.received) == 1


def test_the_mail_attaches_the_gets_file_for_the_period_at_the_slot(db: Any, inbox: Inbox) -> None:
    ids = fill(db)
    settings = settings_for(db, inbox)
    create(settings, email=["team@example.com", "boss@example.org"])
    [job] = run_schedules(settings, MONDAY_10 + timedelta(minutes=2))
    [(sender, recipients, _)] = inbox.received
    assert (sender, recipients) == ("reports@example.com", ["team@example.com", "boss@example.org"])
    [message] = inbox.messages()
    assert message["Subject"].strip() == "Raw clicks (json, last_week): 2025-03-03 to 2025-03-09 (Europe/Berlin)"
    [attachment] = list(message.iter_attachments())
    expected = get_at(settings, db, ids, url_for_slot(URL, "Europe/Berlin"), MONDAY_10)
    assert attachment.get_content_type() == "application/json"
    assert attachment.get_payload(decode=True) == expected.content
    assert attachment.get_filename() == expected.headers["content-disposition"].split('filename="')[1].split('"')[0]


def test_over_the_size_limit_the_mail_carries_an_absolute_link_that_downloads_the_file(db: Any, inbox: Inbox) -> None:
    ids = fill(db)
    settings = settings_for(db, inbox, email_attachment_max_bytes=10, public_url="https://stats.example.com/")
    create(settings, email=TO)
    [job] = run_schedules(settings, MONDAY_10)
    [message] = inbox.messages()
    assert list(message.iter_attachments()) == []
    body = message.get_body().get_content()
    [link] = [line for line in body.splitlines() if line.startswith("https://")]
    assert link.startswith(f"https://stats.example.com{ROUTE}/jobs/{job['id']}/file?token=")
    path, _, query = link.removeprefix("https://stats.example.com").partition("?")
    downloaded = falcon.testing.TestClient(create_app(settings)).simulate_get(path, query_string=query)
    assert downloaded.status_code == 200
    assert downloaded.content == get_at(settings, db, ids, url_for_slot(URL, "Europe/Berlin"), MONDAY_10).content


def test_without_public_url_a_large_files_mail_points_to_the_api(db: Any, inbox: Inbox) -> None:
    fill(db)
    settings = settings_for(db, inbox, email_attachment_max_bytes=10)
    create(settings, email=TO)
    [job] = run_schedules(settings, MONDAY_10)
    body = inbox.messages()[0].get_body().get_content()
    assert f"GET {ROUTE}/jobs/{job['id']}/file" in body and "token=" not in body


def test_the_webhook_is_signed_and_carries_the_job(db: Any, receiver: Receiver) -> None:
    fill(db)
    settings = settings_for(db)
    create(settings, webhook_url=receiver.url())
    [job] = run_schedules(settings, MONDAY_10)
    [request] = receiver.requests
    event = Webhook(SECRET).verify(request.body, request.headers)
    assert event["type"] == "export.completed"
    assert event["data"] == JobService(settings).get(ME, job["id"]) and event["data"]["id"] == job["id"]


def test_a_queued_jobs_mail_goes_out_on_a_later_tick(db: Any, inbox: Inbox, tmp_path: Path) -> None:
    ids = fill(db)
    settings = settings_for(db, inbox, job_queue=f"sqlite:///{tmp_path}/jobs.db")
    schedule_id = create(settings, email=TO)
    [job] = run_schedules(settings, MONDAY_10)
    assert job["status"] == "queued"
    assert run_schedules(settings, MONDAY_10 + timedelta(minutes=1)) == [] and inbox.received == []
    assert schedule_doc(settings, schedule_id)["mail_pending"] is True
    JobService(settings).run_job(job["id"])
    assert run_schedules(settings, MONDAY_10 + timedelta(minutes=2)) == []
    [message] = inbox.messages()
    [attachment] = list(message.iter_attachments())
    expected = get_at(settings, db, ids, url_for_slot(URL, "Europe/Berlin"), MONDAY_10)
    assert attachment.get_payload(decode=True) == expected.content
    run_schedules(settings, MONDAY_10 + timedelta(minutes=3))
    assert len(inbox.received) == 1  # sent once
    assert schedule_doc(settings, schedule_id)["mail_pending"] is False


def test_a_failed_jobs_mail_says_it_failed(db: Any, inbox: Inbox, tmp_path: Path) -> None:
    ids = fill(db)
    settings = settings_for(db, inbox, job_queue=f"sqlite:///{tmp_path}/jobs.db")
    create(settings, url=f"{ROUTE}/links/{ids['mine']}?format=csv&period=last_week", email=TO)
    [job] = run_schedules(settings, MONDAY_10)
    db.urlsV2.delete_many({"_id": ids["mine"]})
    JobService(settings).run_job(job["id"])
    run_schedules(settings, MONDAY_10 + timedelta(minutes=1))
    [message] = inbox.messages()
    assert message["Subject"].startswith("Link statistics for ") and message["Subject"].endswith(": failed")
    assert "could not be made" in message.get_body().get_content()


def test_a_refused_submission_is_recorded_and_not_retried(db: Any, receiver: Receiver) -> None:
    ids = fill(db)
    settings = settings_for(db)
    schedule_id = create(
        settings, url=f"{ROUTE}/links/{ids['mine']}?format=csv&period=last_week", webhook_url=receiver.url()
    )
    db.urlsV2.delete_many({"_id": ids["mine"]})
    assert run_schedules(settings, MONDAY_10) == []
    doc = schedule_doc(settings, schedule_id)
    assert doc["last_run_at"] is not None and doc["last_job_id"] is None
    assert doc["last_error"].startswith("the run of 2025-03-10T07:00:00Z was refused (404): ")
    assert run_schedules(settings, MONDAY_10 + timedelta(hours=1)) == []  # that slot is not tried again
    assert db[settings.jobs_collection].count_documents({"url": {"$exists": True}}) == 0


def test_the_jobs_cap_is_recorded(db: Any, tmp_path: Path, receiver: Receiver) -> None:
    fill(db)
    settings = settings_for(db, job_queue=f"sqlite:///{tmp_path}/jobs.db", max_jobs_per_owner=1)
    JobService(settings).submit(ME, f"{ROUTE}?format=csv", None)  # queued: the owner's one place is taken
    schedule_id = create(settings, webhook_url=receiver.url())
    assert run_schedules(settings, MONDAY_10) == []
    assert "(429)" in schedule_doc(settings, schedule_id)["last_error"]


def test_a_refused_mail_is_recorded(db: Any, inbox: Inbox) -> None:
    fill(db)
    inbox.refuse_recipients = {"team@example.com"}
    settings = settings_for(db, inbox)
    schedule_id = create(settings, email=TO)
    [job] = run_schedules(settings, MONDAY_10)
    doc = schedule_doc(settings, schedule_id)
    assert doc["last_job_id"] == job["id"] and doc["mail_pending"] is False
    assert doc["last_error"].startswith("the report e-mail was not sent: ") and "550" in doc["last_error"]


def test_a_paused_schedule_does_not_run_and_resuming_skips_what_was_missed(db: Any, receiver: Receiver) -> None:
    fill(db)
    settings = settings_for(db)
    schedule_id = create(settings, webhook_url=receiver.url())
    store = ScheduleStore(settings)
    store.set_paused(ME, schedule_id, True, now=MONDAY_10 - timedelta(hours=1))
    assert run_schedules(settings, MONDAY_10 + timedelta(hours=1)) == []
    store.set_paused(ME, schedule_id, False, now=MONDAY_10 + timedelta(hours=2))
    assert run_schedules(settings, MONDAY_10 + timedelta(hours=3)) == []  # the 10th's slot was missed while paused
    assert [as_of(settings, job) for job in run_schedules(settings, MONDAY_17)] == [MONDAY_17]


def test_submit_reads_the_period_at_as_of_and_keeps_the_range(db: Any) -> None:
    fill(db)
    service = JobService(settings_for(db))
    job = service.submit(ME, url_for_slot(URL, "Europe/Berlin"), None, as_of=MONDAY_10)
    saved = job_doc(service.settings, job["id"])
    assert saved["as_of"] == datetime(2025, 3, 10, 7, 0) and "schedule_id" not in saved
    assert saved["range_start"] == datetime(2025, 3, 2, 23, 0)  # Monday 3 March, 00:00 in Berlin
    assert saved["range_end"] == datetime(2025, 3, 9, 22, 59, 59, 999000)
    with pytest.raises(ValueError, match="aware"):
        service.submit(ME, URL, None, as_of=datetime(2025, 3, 10, 7, 0))


def test_a_mail_server_answering_later_gets_the_mail_at_a_later_tick(db: Any, inbox: Inbox) -> None:
    """451 to each of the first tick's three tries: the e-mail is owed again, and the next tick sends it."""
    fill(db)
    inbox.data_replies = ["451 4.3.0 try again later"] * 3
    settings = settings_for(db, inbox)
    schedule_id = create(settings, email=TO)
    waits: list[float] = []
    [job] = run_schedules(settings, MONDAY_10, sleep=waits.append)
    doc = schedule_doc(settings, schedule_id)
    assert (inbox.data_commands, waits, doc["mail_pending"]) == (3, [2.0, 4.0], True)
    assert "451" in doc["last_error"]
    run_schedules(settings, MONDAY_10 + timedelta(minutes=1), sleep=waits.append)
    assert len(inbox.received) == 1
    doc = schedule_doc(settings, schedule_id)
    assert (doc["mail_pending"], doc["last_error"], doc["last_job_id"]) == (False, None, job["id"])


def test_an_unreachable_mail_server_is_tried_at_three_ticks_then_recorded(db: Any) -> None:
    from ..factories import unused_port

    fill(db)
    settings = settings_for(db, smtp_url=f"smtp://127.0.0.1:{unused_port()}", email_from=FROM)
    schedule_id = create(settings, email=TO)
    waits: list[float] = []
    run_schedules(settings, MONDAY_10, sleep=waits.append)
    for minute in (1, 2, 3, 4):
        run_schedules(settings, MONDAY_10 + timedelta(minutes=minute), sleep=waits.append)
    assert len(waits) == 3 * 2  # three ticks of three tries each (two waits per tick)
    doc = schedule_doc(settings, schedule_id)
    assert doc["mail_pending"] is False
    assert doc["last_error"].startswith("the report e-mail was not sent: the SMTP server 127.0.0.1:")
    assert "could not be reached" in doc["last_error"]


def test_a_file_gone_from_gridfs_is_recorded_and_other_mail_still_goes(
    db: Any, inbox: Inbox, tmp_path: Path, caplog: Any
) -> None:
    """The first run's file lost (its chunks deleted by hand) between the job's end and the e-mail: that
    run's e-mail is recorded as failed, and the other schedule's still goes out."""
    fill(db)
    settings = settings_for(db, inbox, job_queue=f"sqlite:///{tmp_path}/jobs.db")
    broken = create(settings, email=TO)
    fine = create(settings, email=["boss@example.org"], now=CREATED + timedelta(seconds=1))
    jobs = run_schedules(settings, MONDAY_10)
    for job in jobs:
        JobService(settings).run_job(job["id"])
    lost = job_doc(settings, schedule_doc(settings, broken)["last_job_id"])["file_id"]
    db["export_files.chunks"].delete_many({"files_id": lost})
    run_schedules(settings, MONDAY_10 + timedelta(minutes=1))
    assert [recipients for _, recipients, _ in inbox.received] == [["boss@example.org"]]
    assert schedule_doc(settings, broken)["last_error"].startswith("the report e-mail was not sent because of an error")
    assert schedule_doc(settings, fine)["last_error"] is None
