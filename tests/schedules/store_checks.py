"""Checks of ScheduleStore shared by the mongomock tests and the SecantusDB ones: the same assertions on
an in-process database and on a server over TCP."""

from __future__ import annotations

import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

from spoo_export_plugin import ExportSettings
from spoo_export_plugin.files.produce import target_from_url
from spoo_export_plugin.schedules.slots import latest_due_slot
from spoo_export_plugin.schedules.store import ScheduleStore, as_utc
from spoo_export_plugin.schedules.validation import ScheduleSpec

UTC = timezone.utc
URL = "/api/v1/export?format=csv&period=yesterday"


def spec(cron: str = "0 8 * * *", zone: str = "Europe/Berlin", *, paused: bool = False) -> ScheduleSpec:
    return ScheduleSpec(URL, target_from_url("/api/v1/export", URL), cron, zone, None, ("team@example.com",), paused)


def schedule_store(database: Any, **settings: Any) -> ScheduleStore:
    return ScheduleStore(ExportSettings(database=database, **settings))


@contextmanager
def frequent_thread_switches() -> Iterator[None]:
    """Threads switch every microsecond instead of every 5 ms: races that would be rare happen often."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def race_for_slots(stores: list[ScheduleStore], schedule_id: str, slots: list[datetime]) -> Counter[datetime]:
    """Each store in its own thread claims every slot in turn, all threads released together for each
    slot; how many times each slot was won."""
    wins: Counter[datetime] = Counter()
    barrier = threading.Barrier(len(stores))
    lock = threading.Lock()
    errors: list[BaseException] = []

    def claim_all(store: ScheduleStore) -> None:
        try:
            for slot in slots:
                barrier.wait()
                if store.claim_slot(schedule_id, slot, now=slot):
                    with lock:
                        wins[slot] += 1
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=claim_all, args=(store,)) for store in stores]
    with frequent_thread_switches():
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors, errors
    return wins


def run_schedulers(
    stores: list[ScheduleStore],
    start: datetime,
    end: datetime,
    step: timedelta,
    *,
    down: Callable[[datetime], bool] = lambda now: False,
) -> list[datetime]:
    """Schedulers taking turns every ``step`` (the loop run_schedules will be, without the job): each finds
    the due schedules, the latest due slot of each, and claims it; the slots that ran, in order."""
    ran: list[datetime] = []
    now = start
    while now <= end:
        if not down(now):
            for store in stores:
                for doc in store.due(now):
                    slot = latest_due_slot(doc["cron"], doc["timezone"], as_utc(doc["slots_after"]), now)
                    if slot is not None and store.claim_slot(doc["_id"], slot, now=now):
                        ran.append(slot)
        now += step
    return ran
