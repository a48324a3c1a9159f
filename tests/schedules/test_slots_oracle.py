"""``schedules/slots.py`` against the minute-by-minute oracle (tests/schedules/cron_oracle.py), with
hypothesis over zones, crons and intervals around DST changes, and over every DST change of
2024-2027 of a northern and a southern zone explicitly."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from spoo_export_plugin.core.exceptions import BadRequest
from spoo_export_plugin.schedules.slots import latest_due_slot, next_run_at, slots_between, validate_cron

from .cron_oracle import UTC, ZONES, Cron, crons, oracle_slots, transitions

EXAMPLES = int(os.environ.get("ORACLE_EXAMPLES", 150))


@st.composite
def intervals(draw: st.DrawFn) -> tuple[str, datetime, datetime]:
    """A zone and an interval (up to two days) that usually holds one of its clock changes."""
    zone = draw(st.sampled_from(ZONES))
    changes = transitions(zone)
    if changes and draw(st.integers(0, 4)):
        anchor = draw(st.sampled_from(changes))
    else:
        anchor = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=draw(st.integers(0, 3 * 366 * 24 * 60)))
    before = timedelta(minutes=draw(st.integers(0, 26 * 60)), seconds=draw(st.sampled_from([0, 0, 1, 59])))
    after_change = timedelta(minutes=draw(st.integers(0, 26 * 60)))
    if draw(st.integers(0, 4)) == 0:  # an interval wholly before or after the anchor
        shift = (before + after_change) * draw(st.sampled_from([-1, 1]))
        return zone, anchor - before + shift, anchor + after_change + shift
    return zone, anchor - before, anchor + after_change


def accepted(cron: Cron) -> str:
    """The cron as validate_cron returns it; a refused one must be a day that never comes."""
    try:
        return validate_cron(cron.text)
    except BadRequest as refused:
        never = all(d > {2: 29, 4: 30, 6: 30, 9: 30, 11: 30}.get(m, 31) for d in cron.days for m in cron.months)
        assert never and len(cron.weekdays) == 7, (cron.text, refused.message)
        assume(False)
        raise


@settings(max_examples=2 * EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cron=crons(), interval=intervals())
def test_slots_between_is_the_oracle(cron: Cron, interval: tuple[str, datetime, datetime]) -> None:
    zone, after, until = interval
    text = accepted(cron)
    notes: set[str] = set()
    expected = oracle_slots(cron, zone, after, until, notes)
    for note in sorted(notes):
        event(f"a {note} rule applied")
    assert slots_between(text, zone, after, until) == expected
    assert latest_due_slot(text, zone, after, until) == (expected[-1] if expected else None)
    following = next_run_at(text, zone, after)
    if expected:
        assert following == expected[0]
    else:
        assert following > until


@settings(max_examples=max(EXAMPLES // 3, 1), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cron=crons(), interval=intervals(), cut=st.floats(0, 1))
def test_after_downtime_only_the_latest_missed_slot_is_due(cron: Cron, interval, cut: float) -> None:
    """A scheduler that ran at ``after`` and comes back at ``until`` finds one slot due: the latest of
    the missed ones; run again at the same instant it finds none (the slot is its new baseline)."""
    zone, after, until = interval
    text = accepted(cron)
    missed = oracle_slots(cron, zone, after, until)
    due = latest_due_slot(text, zone, after, until)
    assert due == (missed[-1] if missed else None)
    if due is not None:
        assert latest_due_slot(text, zone, due, until) is None
        assert next_run_at(text, zone, due) > until


EVERY_HALF_HOUR = Cron(
    "*/30 * * * *", frozenset({0, 30}), *(frozenset(r) for r in (range(24), range(1, 32), range(1, 13), range(7)))
)
EVERY_MINUTE = Cron("* * * * *", *(frozenset(r) for r in (range(60), range(24), range(1, 32), range(1, 13), range(7))))


@pytest.mark.parametrize("zone", ["Europe/Berlin", "Australia/Sydney", "America/Santiago", "Australia/Lord_Howe"])
@pytest.mark.parametrize("cron", [EVERY_HALF_HOUR, EVERY_MINUTE], ids=["every-30-min", "every-minute"])
def test_every_clock_change_of_four_years_is_the_oracle(zone: str, cron: Cron) -> None:
    """Both changes of each year 2024-2027, a day on each side, for a northern and southern zone, a zone
    that changes at midnight and one that changes by 30 minutes."""
    changes = transitions(zone)
    assert len(changes) == 8
    for change in changes:
        after, until = change - timedelta(hours=20), change + timedelta(hours=20)
        expected = oracle_slots(cron, zone, after, until)
        got = slots_between(cron.text, zone, after, until)
        assert got == expected, change
        assert len(got) == len(set(got))  # no instant twice


DAILY_AT_CHANGE = {  # a daily cron at a wall time the clock skips or repeats on its change days
    "Europe/Berlin": "30 2 * * *",
    "Australia/Sydney": "30 2 * * *",
    "America/Santiago": "30 23,0 * * *",
    "Australia/Lord_Howe": "45 1,2 * * *",
}


@pytest.mark.parametrize("zone", sorted(DAILY_AT_CHANGE))
def test_the_latest_due_slot_at_every_five_minutes_around_each_change(zone: str) -> None:
    """A scheduler waking at any instant around a change (the repeated hour included) finds the latest
    slot at or before it: the oracle's, for every change of 2024-2027."""
    daily = Cron(
        DAILY_AT_CHANGE[zone], *(frozenset(r) for r in (range(60), range(24), range(1, 32), range(1, 13), range(7)))
    )
    fields = DAILY_AT_CHANGE[zone].split()
    daily = Cron(
        daily.text,
        frozenset({int(fields[0])}),
        frozenset(int(h) for h in fields[1].split(",")),
        daily.days,
        daily.months,
        daily.weekdays,
    )
    for cron in (EVERY_HALF_HOUR, daily):
        for change in transitions(zone):
            since = change - timedelta(days=2)
            slots = oracle_slots(cron, zone, since, change + timedelta(hours=4))
            for step in range(-4 * 12, 4 * 12 + 1):
                now = change + timedelta(minutes=5 * step)
                due = [slot for slot in slots if slot <= now]
                assert latest_due_slot(cron.text, zone, since, now) == due[-1], (cron.text, now)
                later = [slot for slot in slots if slot > now]
                if later:
                    assert next_run_at(cron.text, zone, now) == later[0], (cron.text, now)
