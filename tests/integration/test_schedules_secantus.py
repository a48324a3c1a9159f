"""Schedules on a MongoDB-protocol server over TCP (SecantusDB): each slot claimed exactly once by
schedulers racing in threads (each with its own client) and in separate processes, and schedulers
ticking across a DST change with times going through BSON."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta
from typing import Any

import pymongo
import pytest
from bson import ObjectId

from spoo_export_plugin.schedules.slots import slots_between
from spoo_export_plugin.schedules.store import schedule_object

from ..schedules.store_checks import UTC, race_for_slots, run_schedulers, schedule_store, spec

pytestmark = pytest.mark.integration

OWNER = ObjectId("65f000000000000000000001")
START = datetime(2025, 6, 2, 7, 0, tzinfo=UTC)


def own_client_database(uri: str, name: str) -> Any:
    return pymongo.MongoClient(uri, directConnection=True, serverSelectionTimeoutMS=3000).get_database(name)


def test_threads_with_their_own_clients_claim_each_slot_exactly_once(secantus_uri: str, mongo_db: Any) -> None:
    databases = [own_client_database(secantus_uri, mongo_db.name) for _ in range(6)]
    try:
        stores = [schedule_store(database) for database in databases]
        doc = stores[0].create(OWNER, spec("* * * * *", "UTC"), now=START)
        slots = [START + timedelta(minutes=k + 1) for k in range(40)]
        assert race_for_slots(stores, str(doc["_id"]), slots) == {slot: 1 for slot in slots}
        shown = schedule_object(stores[0].get(OWNER, doc["_id"]))
        assert shown["next_run_at"] == "2025-06-02T07:41:00Z"
    finally:
        for database in databases:
            database.client.close()


CLAIMER = textwrap.dedent(
    """
    import json, sys, time
    from datetime import datetime, timedelta, timezone
    import pymongo
    from spoo_export_plugin import ExportSettings
    from spoo_export_plugin.schedules.store import ScheduleStore

    uri, name, schedule_id, count, go_at = sys.argv[1:6]
    database = pymongo.MongoClient(uri, directConnection=True).get_database(name)
    store = ScheduleStore(ExportSettings(database=database))
    database.command("ping")
    start = datetime(2025, 6, 2, 7, 0, tzinfo=timezone.utc)
    won = []
    for k in range(int(count)):
        time.sleep(max(0.0, float(go_at) + k * 0.04 - time.time()))  # every process tries slot k at once
        slot = start + timedelta(minutes=k + 1)
        if store.claim_slot(schedule_id, slot, now=slot):
            won.append(slot.isoformat())
    print(json.dumps(won))
    """
)


def test_processes_racing_claim_each_slot_exactly_once(secantus_uri: str, mongo_db: Any) -> None:
    """Four scheduler processes claiming the same 80 slots, each slot at the same instant (every 40 ms from
    a start time they share): every slot is won by exactly one of them, and by more than one process
    over the 80 (the race was run)."""
    store = schedule_store(mongo_db)
    doc = store.create(OWNER, spec("* * * * *", "UTC"), now=START)
    go_at = time.time() + 4  # the interpreters start and connect first
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMER, secantus_uri, mongo_db.name, str(doc["_id"]), "80", str(go_at)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    won: list[str] = []
    winners = 0
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        won += json.loads(out)
        winners += bool(json.loads(out))
    expected = [(START + timedelta(minutes=k + 1)).isoformat() for k in range(80)]
    assert sorted(won) == expected  # each slot once, none lost
    assert winners >= 2
    assert store.get(OWNER, doc["_id"])["last_slot"] == datetime(2025, 6, 2, 8, 20)  # naive UTC from BSON


@pytest.mark.parametrize("zone, first_day", [("Europe/Berlin", "2025-10-25"), ("Australia/Sydney", "2025-10-04")])
def test_schedulers_across_a_clock_change_over_tcp(mongo_db: Any, zone: str, first_day: str) -> None:
    stores = [schedule_store(mongo_db), schedule_store(mongo_db)]
    cron = "*/30 1-3 * * *"
    start = datetime.fromisoformat(first_day).replace(tzinfo=UTC)
    end = start + timedelta(days=2)
    stores[0].create(OWNER, spec(cron, zone), now=start)
    ran = run_schedulers(stores, start, end, timedelta(minutes=6))
    assert ran == slots_between(cron, zone, start, end)


def test_an_owner_and_the_cap_over_tcp(mongo_db: Any) -> None:
    store = schedule_store(mongo_db, max_schedules_per_owner=2)
    first = store.create(OWNER, spec(), now=START)
    store.create(OWNER, spec(paused=True), now=START + timedelta(seconds=1))
    with pytest.raises(Exception, match="at most 2 schedules"):
        store.create(OWNER, spec(), now=START)
    assert len(store.list(OWNER)) == 2
    assert store.list(ObjectId()) == []
    resumed = store.set_paused(OWNER, str(first["_id"]), True, now=START)
    assert schedule_object(resumed)["paused"] is True
