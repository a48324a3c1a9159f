"""Slots by hand: the SPEC's DST rules on the change days of a northern and a southern zone (and
Santiago's midnight, Lord Howe's half hour), cron text accepted and refused, and the croniter readings
``slots.py`` works around."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter

from spoo_export_plugin.core.exceptions import BadRequest
from spoo_export_plugin.schedules.slots import (
    instant_of,
    latest_due_slot,
    next_run_at,
    slots_between,
    validate_cron,
)

UTC = timezone.utc


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def local(slots: list[datetime], zone: str) -> list[str]:
    return [slot.astimezone(ZoneInfo(zone)).isoformat(timespec="minutes") for slot in slots]


CASES = [
    # Berlin, spring forward (02:00 -> 03:00 CEST): 02:00 and 02:30 run once, at 03:00, which is also 03:00's slot
    (
        "*/30 * * * *",
        "Europe/Berlin",
        "2025-03-30 00:15",
        "2025-03-30 01:45",
        ["2025-03-30T01:30+01:00", "2025-03-30T03:00+02:00", "2025-03-30T03:30+02:00"],
    ),
    # Berlin, fall back (03:00 CEST -> 02:00 CET): the repeated 02:00 and 02:30 do not run again
    (
        "*/30 * * * *",
        "Europe/Berlin",
        "2025-10-25 23:15",
        "2025-10-26 02:45",
        [
            "2025-10-26T01:30+02:00",
            "2025-10-26T02:00+02:00",
            "2025-10-26T02:30+02:00",
            "2025-10-26T03:00+01:00",
            "2025-10-26T03:30+01:00",
        ],
    ),
    (
        "30 2 * * *",
        "Europe/Berlin",
        "2025-03-29 00:00",
        "2025-03-31 12:00",
        ["2025-03-29T02:30+01:00", "2025-03-30T03:00+02:00", "2025-03-31T02:30+02:00"],
    ),
    (
        "30 2 * * *",
        "Europe/Berlin",
        "2025-10-25 00:00",
        "2025-10-27 12:00",
        ["2025-10-25T02:30+02:00", "2025-10-26T02:30+02:00", "2025-10-27T02:30+01:00"],
    ),
    # Sydney, fall back in April (03:00 AEDT -> 02:00 AEST) and spring forward in October (02:00 -> 03:00)
    (
        "*/30 2 * * *",
        "Australia/Sydney",
        "2025-04-05 12:00",
        "2025-04-06 12:00",
        ["2025-04-06T02:00+11:00", "2025-04-06T02:30+11:00"],
    ),
    ("*/30 2 * * *", "Australia/Sydney", "2025-10-04 12:00", "2025-10-05 12:00", ["2025-10-05T03:00+11:00"]),
    # New York: 02:30 does not exist on 9 March, exists twice on 2 November
    (
        "30 2 * * *",
        "America/New_York",
        "2025-03-08 12:00",
        "2025-03-10 12:00",
        ["2025-03-09T03:00-04:00", "2025-03-10T02:30-04:00"],
    ),
    (
        "30 1 * * *",
        "America/New_York",
        "2025-11-01 12:00",
        "2025-11-03 12:00",
        ["2025-11-02T01:30-04:00", "2025-11-03T01:30-05:00"],
    ),
    # Santiago changes at midnight: on 7 September 2025 midnight does not exist (the day starts at 01:00)
    (
        "0 0 * * *",
        "America/Santiago",
        "2025-09-06 00:00",
        "2025-09-08 12:00",
        ["2025-09-06T00:00-04:00", "2025-09-07T01:00-03:00", "2025-09-08T00:00-03:00"],
    ),
    # ... and on 5 April 2025 the hour before midnight repeats (24:00 -> 23:00)
    (
        "30 23 * * *",
        "America/Santiago",
        "2025-04-05 12:00",
        "2025-04-07 12:00",
        ["2025-04-05T23:30-03:00", "2025-04-06T23:30-04:00"],
    ),
    # Lord Howe moves by 30 minutes: 02:00-02:29 are skipped in October, 01:30-01:59 repeat in April
    (
        "15,45 1,2 * * *",
        "Australia/Lord_Howe",
        "2025-10-04 12:00",
        "2025-10-04 17:00",
        ["2025-10-05T01:15+10:30", "2025-10-05T01:45+10:30", "2025-10-05T02:30+11:00", "2025-10-05T02:45+11:00"],
    ),
    (
        "15,45 1,2 * * *",
        "Australia/Lord_Howe",
        "2025-04-05 12:00",
        "2025-04-05 17:00",
        ["2025-04-06T01:15+11:00", "2025-04-06T01:45+11:00", "2025-04-06T02:15+10:30", "2025-04-06T02:45+10:30"],
    ),
    # Kolkata (+05:30, no DST) and UTC
    (
        "0 9 * * mon-fri",
        "Asia/Kolkata",
        "2025-06-06 00:00",
        "2025-06-10 00:00",
        ["2025-06-06T09:00+05:30", "2025-06-09T09:00+05:30"],
    ),
    ("0 0 29 feb *", "UTC", "2025-01-01 00:00", "2028-12-31 00:00", ["2028-02-29T00:00+00:00"]),
]


@pytest.mark.parametrize("cron, zone, after, until, expected", CASES)
def test_slots_on_the_days_clocks_change(cron, zone, after, until, expected):
    assert local(slots_between(cron, zone, utc(after), utc(until)), zone) == expected


def test_a_scheduler_waking_in_the_repeated_hour_finds_the_first_occurrence_done():
    """01:45Z on 26 October 2025 is 02:45 CET, the second time 02:45 shows in Berlin: the latest due
    slot is 02:30 CEST (00:30Z), and 02:00/02:30 CET are not due again."""
    cron, zone = "*/30 * * * *", "Europe/Berlin"
    assert latest_due_slot(cron, zone, utc("2025-10-25 00:00"), utc("2025-10-26 01:45")) == utc("2025-10-26 00:30")
    assert latest_due_slot(cron, zone, utc("2025-10-26 00:30"), utc("2025-10-26 01:59")) is None
    assert next_run_at(cron, zone, utc("2025-10-26 00:30")) == utc("2025-10-26 02:00")  # 03:00 CET


def test_after_downtime_only_the_latest_missed_slot_is_due():
    """Down from Monday to Thursday: of the daily 08:00 slots missed, Thursday's alone is due."""
    slot = latest_due_slot("0 8 * * *", "Europe/Berlin", utc("2025-06-02 06:00"), utc("2025-06-05 09:00"))
    assert slot == utc("2025-06-05 06:00")
    assert latest_due_slot("0 8 * * *", "Europe/Berlin", slot, utc("2025-06-05 09:00")) is None
    assert latest_due_slot("0 8 * * *", "Europe/Berlin", utc("2025-06-05 06:00"), utc("2025-06-05 05:00")) is None


def test_a_slot_is_due_at_its_instant_not_before():
    since = utc("2025-06-01 00:00")
    assert latest_due_slot("0 8 * * *", "UTC", since, utc("2025-06-01 07:59:59")) is None
    assert latest_due_slot("0 8 * * *", "UTC", since, utc("2025-06-01 08:00")) == utc("2025-06-01 08:00")


def test_the_gap_ends_where_the_offset_changes():
    berlin = ZoneInfo("Europe/Berlin")
    assert instant_of(datetime(2025, 3, 30, 2, 0), berlin) == utc("2025-03-30 01:00")
    assert instant_of(datetime(2025, 3, 30, 2, 59), berlin) == utc("2025-03-30 01:00")
    assert instant_of(datetime(2025, 3, 30, 3, 0), berlin) == utc("2025-03-30 01:00")
    assert instant_of(datetime(2025, 10, 26, 2, 30), berlin) == utc("2025-10-26 00:30")  # the first 02:30


def test_naive_instants_are_a_programming_error():
    with pytest.raises(ValueError, match="aware"):
        latest_due_slot("* * * * *", "UTC", datetime(2025, 1, 1), utc("2025-01-02 00:00"))


@pytest.mark.parametrize(
    "text, normalized",
    [
        ("0 8 * * 1", "0 8 * * 1"),
        ("  0   8 * *\tMON ", "0 8 * * MON"),
        ("*/15 0-6,22,23 1-15/2 jan-mar,DEC sun-sat", "*/15 0-6,22,23 1-15/2 jan-mar,DEC sun-sat"),
        ("0 0 * * 7", "0 0 * * 7"),
        ("0 0 29 2 *", "0 0 29 2 *"),
        ("0 0 31 2 1", "0 0 31 2 1"),  # the 31st never comes in February, but Mondays do (either rule)
    ],
)
def test_five_field_crons_are_accepted(text, normalized):
    assert validate_cron(text) == normalized


@pytest.mark.parametrize(
    "text, says",
    [
        (None, "5 fields"),
        ("", "5 fields"),
        (42, "5 fields"),
        ("@reboot", "not an @ form"),
        ("@daily", "@daily is '0 0 * * *'"),
        ("* * * *", "has 4 fields"),
        ("0 * * * * *", "has 6 fields"),  # seconds
        ("0 0 12 * * ? 2030", "has 7 fields"),  # Quartz, with a year
        ("60 * * * *", "60 is outside 0-59"),
        ("0 24 * * *", "24 is outside 0-23"),
        ("0 0 0 * *", "0 is outside 1-31"),
        ("0 0 * 13 *", "13 is outside 1-12"),
        ("0 0 * * 8", "8 is outside 0-7"),
        ("0 0 * * mon-sun", "runs backwards"),  # sun is 0
        ("0 5-1 * * *", "runs backwards"),
        ("*/0 * * * *", "the step /0"),
        ("*/61 * * * *", "the step /61"),
        ("5/15 * * * *", "a step follows * or a range"),
        ("0 0 L * *", "is not a number"),
        ("0 0 * * 1#2", "is not *, a number"),
        ("H * * * *", "is not a number"),
        ("0 0 ? * *", "is not *, a number"),
        ("0 0 15W * *", "is not a number"),
        ("0 0 * foo *", "is not a number or a name"),
        ("0 0 30 2 *", "never comes"),
        ("0 0 31 4,6,9,11 *", "never comes"),
        ("x" * 201, "longer than 200"),
        ("0 0 * * *\r\nBcc: x@example.com", "has 7 fields"),
    ],
)
def test_anything_else_is_a_400_naming_cron(text, says):
    with pytest.raises(BadRequest) as refused:
        validate_cron(text)
    assert refused.value.param == "cron"
    assert says in refused.value.message


def test_an_equal_range_is_its_one_value_though_croniter_reads_the_whole_cycle():
    """cron's ``5-5`` is 5; croniter 7 widens an equal range to the whole field (every hour). slots.py
    hands croniter plain lists, so the schedule fires at 05:00 only."""
    start = utc("2025-01-01 00:00")
    assert croniter("0 5-5 * * *", start).get_next(datetime) == utc("2025-01-01 01:00")  # croniter's reading
    assert slots_between("0 5-5 * * *", "UTC", start, start + timedelta(days=1)) == [utc("2025-01-01 05:00")]


def test_croniter_alone_runs_a_repeated_wall_time_twice():
    """Why slots.py maps wall times itself: croniter's own zone handling fires ``30 2 * * *`` at both
    02:30 CEST and 02:30 CET on Berlin's fall-back day (if it stops doing so, revisit the module docstring)."""
    walker = croniter("30 2 * * *", utc("2025-10-25 12:00").astimezone(ZoneInfo("Europe/Berlin")))
    fired = [walker.get_next(datetime).astimezone(UTC) for _ in range(2)]
    assert fired == [utc("2025-10-26 00:30"), utc("2025-10-26 01:30")]
    assert slots_between("30 2 * * *", "Europe/Berlin", utc("2025-10-25 12:00"), utc("2025-10-27 00:00")) == [
        utc("2025-10-26 00:30")
    ]
