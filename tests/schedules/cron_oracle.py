"""A brute-force oracle for schedule slots, sharing nothing with ``schedules/slots.py`` but the SPEC.

It walks every minute of UTC, reads the zone's wall clock at each, and applies the cron by hand
(sets of allowed values, built by the test strategies that also write the cron text):

* a wall time the clock shows for the first time and the cron matches: a slot at that minute;
* a wall time the clock already showed (the repeated hour of a fall back): no slot;
* wall times the clock jumped over (the gap of a spring forward), any of them matching: a slot at the
  first minute after the jump (one slot, however many skipped wall times match).

It knows no zone rule: "already showed" is remembered from a walk that starts 26 hours before the
interval, and "jumped over" is seen as two consecutive minutes whose wall times are more than a minute
apart.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

UTC = timezone.utc
MINUTE = timedelta(minutes=1)

#: Northern and southern DST, DST at midnight (Santiago), a 30-minute DST change (Lord Howe), no DST.
ZONES = (
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",
    "America/Santiago",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "UTC",
)
_FULL = {
    "minute": frozenset(range(60)),
    "hour": frozenset(range(24)),
    "dom": frozenset(range(1, 32)),
    "month": frozenset(range(1, 13)),
    "dow": frozenset(range(7)),
}
_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


@dataclass(frozen=True)
class Cron:
    """A cron's text and, written beside it, the values each field allows (Sunday = 0)."""

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]

    def matches(self, wall: datetime) -> bool:
        """Cron's rule: day of month and day of week both restricted means either; one of them
        unrestricted (all its values) means the other alone."""
        if wall.minute not in self.minutes or wall.hour not in self.hours or wall.month not in self.months:
            return False
        day_ok = wall.day in self.days
        weekday_ok = (wall.weekday() + 1) % 7 in self.weekdays
        if self.days == _FULL["dom"] or self.weekdays == _FULL["dow"]:
            return day_ok and weekday_ok
        return day_ok or weekday_ok


def oracle_slots(
    cron: Cron, zone_name: str, after: datetime, until: datetime, notes: set[str] | None = None
) -> list[datetime]:
    """Every slot in ``(after, until]`` by walking each UTC minute. ``notes`` collects which rules
    decided: ``gap`` (a skipped wall time ran after the jump), ``repeat`` (a repeated one did not run)."""
    notes = set() if notes is None else notes
    zone = ZoneInfo(zone_name)
    seen: set[datetime] = set()
    moment = after.replace(second=0, microsecond=0) - timedelta(hours=26)
    previous_wall = _wall(moment - MINUTE, zone)
    slots: list[datetime] = []
    while moment <= until:
        wall = _wall(moment, zone)
        skipped = []
        step = previous_wall + MINUTE
        while step < wall:
            skipped.append(step)
            step += MINUTE
        matched = cron.matches(wall)
        skipped_matched = any(cron.matches(w) for w in skipped)
        due = (wall not in seen and matched) or skipped_matched
        if moment > after:
            if due:
                slots.append(moment)
            if skipped_matched:
                notes.add("gap")
            if matched and wall in seen:
                notes.add("repeat")
        seen.add(wall)
        previous_wall = wall
        moment += MINUTE
    return slots


def _wall(moment: datetime, zone: ZoneInfo) -> datetime:
    local = moment.astimezone(zone)
    return datetime(local.year, local.month, local.day, local.hour, local.minute)


@functools.cache
def transitions(zone_name: str, first_year: int = 2024, last_year: int = 2027) -> tuple[datetime, ...]:
    """The instants (to the minute) the zone's UTC offset changes, found by scanning hours then minutes."""
    zone = ZoneInfo(zone_name)
    moment = datetime(first_year, 1, 1, tzinfo=UTC)
    end = datetime(last_year + 1, 1, 1, tzinfo=UTC)
    found = []
    offset = moment.astimezone(zone).utcoffset()
    while moment < end:
        nxt = moment + timedelta(hours=1)
        if nxt.astimezone(zone).utcoffset() != offset:
            probe = moment
            while probe.astimezone(zone).utcoffset() == offset:
                probe += MINUTE
            found.append(probe)
            offset = nxt.astimezone(zone).utcoffset()
        moment = nxt
    return tuple(found)


# -- strategies: a cron text and its value sets, built together ------------------------------------


def _item(
    draw: st.DrawFn, name: str, low: int, high: int, names: tuple[str, ...], bias: list[int]
) -> tuple[str, set[int]]:
    def spell(value: int) -> str:
        if names and draw(st.integers(0, 3)) == 0:
            index = value - 1 if name == "month" else value
            return draw(st.sampled_from([names[index], names[index].upper(), names[index].title()]))
        return str(value)

    value = st.sampled_from(bias) if bias and draw(st.booleans()) else st.integers(low, high)
    kinds = ["value", "value", "range", "range_step", "star_step"] + (["sunday_seven"] if name == "dow" else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "value":
        v = draw(value)
        return spell(v), {v}
    if kind == "star_step":
        step = draw(st.integers(1, high - low + 1))
        return f"*/{step}", set(range(low, high + 1, step))
    if kind == "sunday_seven":  # 7 is Sunday too: "7", or a range ending on it ("5-7": Friday to Sunday)
        a = draw(st.integers(1, 7))
        return ("7" if a == 7 else f"{a}-7"), {v % 7 for v in range(a, 8)}
    a, b = sorted((draw(value), draw(value)))
    if kind == "range":
        return f"{spell(a)}-{spell(b)}", set(range(a, b + 1))
    step = draw(st.integers(1, b - a + 1))
    return f"{spell(a)}-{spell(b)}/{step}", set(range(a, b + 1, step))


@st.composite
def _field(
    draw: st.DrawFn,
    name: str,
    low: int,
    high: int,
    names: tuple[str, ...] = (),
    bias: list[int] | None = None,
    star: int = 1,
) -> tuple[str, frozenset[int]]:
    if draw(st.integers(0, star)) != 0:  # "*" with odds star : 1
        return "*", _FULL[name]
    parts = [_item(draw, name, low, high, names, bias or []) for _ in range(draw(st.integers(1, 3)))]
    values = set().union(*(values for _, values in parts))
    return ",".join(text for text, _ in parts), frozenset(values)


@st.composite
def crons(draw: st.DrawFn) -> Cron:
    """Crons that often fire in the hours clocks change (00-03 local, 23), with names, 7 for Sunday,
    ranges, steps and lists, and day of month and day of week sometimes both restricted."""
    minute = draw(_field("minute", 0, 59, bias=[0, 15, 29, 30, 45, 59], star=1))
    hour = draw(_field("hour", 0, 23, bias=[0, 1, 2, 3, 23], star=1))
    dom = draw(_field("dom", 1, 31, star=5))
    month = draw(_field("month", 1, 12, _MONTH_NAMES, star=5))
    dow = draw(_field("dow", 0, 6, _DAY_NAMES, star=4))
    text = " ".join(part for part, _ in (minute, hour, dom, month, dow))
    return Cron(text, minute[1], hour[1], dom[1], month[1], dow[1])
