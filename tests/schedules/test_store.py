"""ScheduleStore on mongomock: an owner's schedules and nobody else's, the cap, pause and resume, and
each slot claimed once, by racing threads and by schedulers ticking across both DST changes of a
northern and a southern zone."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from bson import ObjectId

from spoo_export_plugin.core.exceptions import NotFound, RateLimited, Unauthorized
from spoo_export_plugin.schedules.slots import slots_between
from spoo_export_plugin.schedules.store import schedule_object

from .store_checks import URL, UTC, race_for_slots, run_schedulers, schedule_store, spec

OWNER, OTHER = ObjectId("65f000000000000000000001"), ObjectId("65f000000000000000000002")
CREATED = datetime(2025, 6, 2, 6, 30, 0, 123456, tzinfo=UTC)  # a Monday, 08:30 in Berlin


@pytest.fixture
def store(db):
    return schedule_store(db)


def test_a_new_schedule_and_its_object(store):
    doc = store.create(OWNER, spec(), now=CREATED)
    assert schedule_object(store.get(OWNER, str(doc["_id"]))) == {
        "id": str(doc["_id"]),
        "url": URL,
        "cron": "0 8 * * *",
        "timezone": "Europe/Berlin",
        "webhook_url": None,
        "email": ["team@example.com"],
        "paused": False,
        "next_run_at": "2025-06-03T06:00:00Z",  # 08:00 in Berlin tomorrow: today's was before it was made
        "last_run_at": None,
        "last_error": None,
    }
    assert store.get(OWNER, doc["_id"])["slots_after"] == datetime(2025, 6, 2, 6, 30, 0, 123000)  # kept to the ms


def test_an_owner_sees_only_their_own(store):
    mine = store.create(OWNER, spec(), now=CREATED)
    theirs = store.create(OTHER, spec("0 9 * * *"), now=CREATED + timedelta(seconds=1))
    newer = store.create(OWNER, spec("0 10 * * *"), now=CREATED + timedelta(seconds=2))
    assert [d["_id"] for d in store.list(OWNER)] == [newer["_id"], mine["_id"]]  # newest first
    assert [d["_id"] for d in store.list(OTHER)] == [theirs["_id"]]
    for unknown in (str(theirs["_id"]), str(ObjectId()), "nope", "", None, 12, {"$ne": None}):
        with pytest.raises(NotFound):
            store.get(OWNER, unknown)
        with pytest.raises(NotFound):
            store.delete(OWNER, unknown)
        with pytest.raises(NotFound):
            store.set_paused(OWNER, unknown, True)
    store.delete(OWNER, str(mine["_id"]))
    assert [d["_id"] for d in store.list(OWNER)] == [newer["_id"]]
    assert store.get(OTHER, str(theirs["_id"]))["paused"] is False  # untouched


def test_the_cap_per_owner(db):
    store = schedule_store(db, max_schedules_per_owner=3)
    made = [store.create(OWNER, spec(), now=CREATED) for _ in range(3)]
    with pytest.raises(RateLimited) as refused:
        store.create(OWNER, spec(), now=CREATED)
    assert (refused.value.status, refused.value.param) == (429, None)
    assert refused.value.message == "at most 3 schedules per owner; delete one to make room"
    assert len(store.list(OWNER)) == 3
    store.create(OTHER, spec(), now=CREATED)  # another owner has their own three
    store.delete(OWNER, made[0]["_id"])
    store.create(OWNER, spec(), now=CREATED)
    assert len(store.list(OWNER)) == 3


def test_creations_racing_for_the_last_places_never_pass_the_cap(db):
    store = schedule_store(db, max_schedules_per_owner=5)
    for _ in range(3):
        store.create(OWNER, spec(), now=CREATED)
    barrier, outcomes = threading.Barrier(8), []

    def create() -> None:
        barrier.wait()
        try:
            store.create(OWNER, spec(), now=CREATED)
            outcomes.append("made")
        except RateLimited:
            outcomes.append("refused")

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store.list(OWNER)) == 3 + outcomes.count("made") <= 5
    assert len(outcomes) == 8


def test_a_slot_is_claimed_once_and_an_older_one_never(store):
    doc = store.create(OWNER, spec(), now=CREATED)
    first = datetime(2025, 6, 3, 6, 0, tzinfo=UTC)
    assert store.claim_slot(doc["_id"], first, now=first + timedelta(seconds=3)) is True
    assert store.claim_slot(doc["_id"], first, now=first + timedelta(seconds=4)) is False
    assert store.claim_slot(doc["_id"], first - timedelta(days=1), now=first) is False
    shown = schedule_object(store.get(OWNER, doc["_id"]))
    assert (shown["last_run_at"], shown["next_run_at"]) == ("2025-06-03T06:00:03Z", "2025-06-04T06:00:00Z")
    assert store.claim_slot(str(doc["_id"]), first + timedelta(days=1), now=first + timedelta(days=1)) is True
    assert store.claim_slot(ObjectId(), first, now=first) is False  # a deleted or unknown schedule
    assert store.claim_slot("not-an-id", first, now=first) is False
    with pytest.raises(ValueError, match="aware"):
        store.claim_slot(doc["_id"], datetime(2025, 6, 5, 6, 0))


def test_threads_racing_claim_each_slot_exactly_once(db):
    """Eight schedulers (stores) in threads that switch every microsecond, released together for each of
    60 slots: every slot is won exactly once."""
    stores = [schedule_store(db) for _ in range(8)]
    doc = stores[0].create(OWNER, spec("* * * * *", "UTC"), now=CREATED)
    slots = [datetime(2025, 6, 2, 7, 0, tzinfo=UTC) + timedelta(minutes=k) for k in range(60)]
    wins = race_for_slots(stores, str(doc["_id"]), slots)
    assert wins == {slot: 1 for slot in slots}


def test_paused_schedules_run_nothing_and_resume_after_now(store):
    doc = store.create(OWNER, spec(), now=CREATED)
    paused = store.set_paused(OWNER, str(doc["_id"]), True, now=CREATED + timedelta(hours=1))
    assert (paused["paused"], paused["next_run_at"]) == (True, None)
    tuesday = datetime(2025, 6, 3, 6, 0, tzinfo=UTC)
    assert store.due(tuesday + timedelta(days=3)) == []
    assert store.claim_slot(doc["_id"], tuesday, now=tuesday) is False
    assert store.set_paused(OWNER, doc["_id"], True)["paused"] is True  # already paused: nothing changes
    resumed = store.set_paused(OWNER, doc["_id"], False, now=datetime(2025, 6, 5, 9, 0, tzinfo=UTC))
    # the slots of Tuesday to Thursday were missed while paused: the next is Friday's
    assert schedule_object(resumed)["next_run_at"] == "2025-06-06T06:00:00Z"
    assert store.claim_slot(doc["_id"], datetime(2025, 6, 5, 6, 0, tzinfo=UTC), now=tuesday) is False
    assert [d["_id"] for d in store.due(datetime(2025, 6, 6, 6, 0, tzinfo=UTC))] == [doc["_id"]]


def test_a_schedule_created_paused(store):
    doc = store.create(OWNER, spec(paused=True), now=CREATED)
    assert (doc["paused"], doc["next_run_at"]) == (True, None)


def test_the_latest_run_records_its_job_error_and_mail(store):
    doc = store.create(OWNER, spec(), now=CREATED)
    slot = datetime(2025, 6, 3, 6, 0, tzinfo=UTC)
    store.claim_slot(doc["_id"], slot, now=slot)
    assert store.record_run(doc["_id"], slot, job_id="j1", mail_pending=True) is True
    assert [d["_id"] for d in store.pending_mail()] == [doc["_id"]]
    assert store.claim_mail(doc["_id"], "j1") is True
    assert store.claim_mail(doc["_id"], "j1") is False  # sent once
    assert store.record_run(doc["_id"], slot, job_id="j1", error="the SMTP server refused") is True
    assert schedule_object(store.get(OWNER, doc["_id"]))["last_error"] == "the SMTP server refused"
    later = slot + timedelta(days=1)
    store.claim_slot(doc["_id"], later, now=later)
    assert schedule_object(store.get(OWNER, doc["_id"]))["last_error"] is None  # a new run starts clean
    assert store.record_run(doc["_id"], slot, job_id="j1", error="late news of the old run") is False
    assert store.get(OWNER, doc["_id"])["last_error"] is None


CHANGE_DAYS = [
    ("Europe/Berlin", "2025-03-29", "2025-03-31"),  # spring forward: 02:00 -> 03:00
    ("Europe/Berlin", "2025-10-25", "2025-10-27"),  # fall back: 03:00 -> 02:00
    ("Australia/Sydney", "2025-04-05", "2025-04-07"),  # fall back: 03:00 -> 02:00
    ("Australia/Sydney", "2025-10-04", "2025-10-06"),  # spring forward: 02:00 -> 03:00
]


@pytest.mark.parametrize("zone, first_day, last_day", CHANGE_DAYS)
@pytest.mark.parametrize("cron", ["*/30 1-3 * * *", "30 2 * * *", "0,15,30,45 2 * * *"])
def test_two_schedulers_ticking_across_a_clock_change_run_each_slot_once(db, zone, first_day, last_day, cron):
    """Two schedulers, each ticking every 7 minutes (the second 3 minutes after the first), across the
    change days: the slots that ran are the schedule's slots, each once, in order (no repeated wall time
    run twice, no skipped one lost)."""
    stores = [schedule_store(db), schedule_store(db)]
    start = datetime.fromisoformat(first_day).replace(tzinfo=UTC) - timedelta(hours=12)
    end = datetime.fromisoformat(last_day).replace(tzinfo=UTC) + timedelta(hours=12)
    stores[0].create(OWNER, spec(cron, zone), now=start)
    first = run_schedulers([stores[0]], start, end, timedelta(minutes=7))
    assert first == slots_between(cron, zone, start, end)
    # again, two schedulers interleaved, on a fresh schedule
    db[stores[0].settings.schedules_collection].delete_many({})
    stores[0].create(OWNER, spec(cron, zone), now=start)
    ran = run_schedulers(stores, start, end, timedelta(minutes=3, seconds=30))
    assert ran == slots_between(cron, zone, start, end)
    assert len(ran) == len(set(ran)) >= 2


def test_after_downtime_only_the_latest_missed_slot_runs(db):
    """Down for six hours across Berlin's fall back: of the half-hourly slots missed, one runs on return."""
    stores = [schedule_store(db)]
    cron, zone = "*/30 * * * *", "Europe/Berlin"
    start, end = datetime(2025, 10, 25, 20, 0, tzinfo=UTC), datetime(2025, 10, 26, 6, 0, tzinfo=UTC)
    stores[0].create(OWNER, spec(cron, zone), now=start)
    outage_start, outage_end = datetime(2025, 10, 25, 23, 50, tzinfo=UTC), datetime(2025, 10, 26, 5, 50, tzinfo=UTC)
    ran = run_schedulers(stores, start, end, timedelta(minutes=5), down=lambda now: outage_start <= now < outage_end)
    every = slots_between(cron, zone, start, end)
    missed = [slot for slot in every if outage_start <= slot < outage_end]
    before, after = [s for s in every if s < outage_start], [s for s in every if s >= outage_end]
    assert ran == [*before, missed[-1], *after]
    assert len(missed) == 10  # 00:00Z to 05:30Z but 01:00Z and 01:30Z (the repeated 02:00 and 02:30 CET)
    assert missed[-1] == datetime(2025, 10, 26, 5, 30, tzinfo=UTC)


def test_no_owner_no_schedules(store):
    """An anonymous caller (owner None) never reaches, nor makes, a schedule with no owner."""
    doc = store.create(OWNER, spec(), now=CREATED)
    calls = [
        lambda: store.create(None, spec(), now=CREATED),
        lambda: store.get(None, doc["_id"]),
        lambda: store.list(None),
        lambda: store.set_paused(None, doc["_id"], True),
        lambda: store.delete(None, doc["_id"]),
    ]
    for call in calls:
        with pytest.raises(Unauthorized) as refused:
            call()
        assert (refused.value.status, refused.value.param) == (401, "Authorization")
    assert store.get(OWNER, doc["_id"])["paused"] is False
