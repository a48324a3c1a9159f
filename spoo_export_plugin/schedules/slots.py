"""Which instants a schedule runs at: a 5-field cron read in the schedule's IANA timezone.

A *slot* is a cron time in the schedule's zone, as the UTC instant it runs at. The SPEC's rules
where the zone's clock jumps:

* a local time that does not exist (spring forward) runs once, at the first instant after the gap
  (the instant of the change); several such times, and a cron time at the end of the gap, are that
  one instant and so one slot;
* a local time that happens twice (fall back) runs once, at its first occurrence: the repeated wall
  times after the change are not slots.

croniter only walks *wall-clock* time here (its datetimes carry UTC, so it sees no DST at all); the
mapping of each wall time to its instant is :func:`instant_of`. croniter's own zone handling is not
used because it runs a repeated wall time twice (``30 2 * * *`` in Europe/Berlin fires at 00:30Z and
01:30Z on the fall-back day). ``tests/schedules/test_slots_oracle.py`` checks the result against a
minute-by-minute walk of UTC.

Every instant in and out is an aware datetime; slots are whole minutes.
"""

from __future__ import annotations

import calendar
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from croniter import croniter

from ..core.exceptions import BadRequest
from ..core.request.timezones import get_zone

UTC = timezone.utc
_MINUTE = timedelta(minutes=1)
_DAY = timedelta(days=1)
_MAX_LENGTH = 200

#: The longest month of each month number (February's leap day included): a day of month past it never comes.
_LONGEST_MONTH = {month: calendar.monthrange(2024, month)[1] for month in range(1, 13)}


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # month or weekday abbreviations; index + offset = value

    def value(self, text: str) -> int:
        if text.isdigit() and len(text) <= 9:
            return int(text)
        lowered = text.lower()
        if lowered in self.names:
            return self.names.index(lowered) + (1 if self.name == "month" else 0)
        raise ValueError(f"{text[:20]!r} is not a number" + (" or a name" if self.names else ""))


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day of month", 1, 31),
    # English, whatever the process's locale (calendar.month_abbr would follow it)
    _Field("month", 1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")),
    # 0 and 7 are both Sunday
    _Field("day of week", 0, 7, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")),
)
_ITEM = re.compile(r"(\*|[0-9A-Za-z]+)(?:-([0-9A-Za-z]+))?(?:/([0-9]+))?")
_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_HOWTO = "5 fields: minute hour day-of-month month day-of-week, e.g. 0 8 * * 1 (Mondays at 08:00)"


def _field_values(text: str, spec: _Field) -> set[int]:
    """The values one field allows: lists of ``*``, ``n``, ``a-b``, each with an optional ``/step``."""
    values: set[int] = set()
    for item in text.split(","):
        match = _ITEM.fullmatch(item)
        if not match:
            raise ValueError(f"{item[:20]!r} is not *, a number, a range a-b or a step */n")
        start, end, step = match.groups()
        if start == "*":
            if end is not None:
                raise ValueError(f"{item[:20]!r}: * takes no range")
            low, high = spec.low, spec.high
        else:
            low = spec.value(start)
            high = spec.value(end) if end is not None else low
            if step is not None and end is None:
                raise ValueError(f"{item[:20]!r}: a step follows * or a range (*/15, 0-30/15)")
        for value in (low, high):
            if not spec.low <= value <= spec.high:
                raise ValueError(f"{value} is outside {spec.low}-{spec.high}")
        if low > high:
            raise ValueError(f"the range {item[:20]!r} runs backwards")
        stride = int(step) if step is not None else 1
        if not 1 <= stride <= spec.high - spec.low + 1:
            raise ValueError(f"the step /{step[:6] if step else ''} is not from 1 to {spec.high - spec.low + 1}")
        values.update(range(low, high + 1, stride))
    if spec.name == "day of week" and 7 in values:
        values = (values - {7}) | {0}
    return values


def validate_cron(text: object) -> str:
    """The cron with its fields separated by single spaces, or a 400 naming ``cron``.

    Five fields of numbers, month and weekday names (``jan``, ``mon``), ``*``, ranges, steps and
    lists. Refused: seconds or year fields (6 or 7 fields), ``@`` macros (``@reboot`` has no time),
    croniter's extensions (``L``, ``W``, ``#``, ``H``, ``?``), values out of range, backward ranges,
    and a day that never comes (``0 0 30 2 *``). Day of month and day of week both restricted means
    either (cron's rule); a field that covers its whole range counts as ``*``.
    """
    if not isinstance(text, str) or not text.strip():
        raise BadRequest(f"cron must be a text of {_HOWTO}", "cron")
    if len(text) > _MAX_LENGTH:
        raise BadRequest(f"cron is longer than {_MAX_LENGTH} characters", "cron")
    normalized = " ".join(text.split())
    if not croniter.is_valid(_expanded(normalized)):  # a second opinion from the library that walks it
        raise BadRequest(f"cron {normalized[:60]!r} is not understood; it takes {_HOWTO}", "cron")
    return normalized


def _parse(text: str) -> list[set[int]]:
    """The values each of the five fields allows (Sunday = 0), or a 400 naming ``cron``."""
    fields = text.split()
    if fields[0].startswith("@"):
        macro = fields[0].lower()
        hint = f"; {macro} is {_MACROS[macro]!r}" if macro in _MACROS and len(fields) == 1 else ""
        raise BadRequest(f"cron takes {_HOWTO}, not an @ form{hint}", "cron")
    if len(fields) != 5:
        raise BadRequest(f"cron has {len(fields)} fields; it takes {_HOWTO} (no seconds, no year)", "cron")
    sets = []
    for position, (field_text, spec) in enumerate(zip(fields, _FIELDS, strict=True), start=1):
        try:
            sets.append(_field_values(field_text, spec))
        except ValueError as exc:
            raise BadRequest(f"cron field {position} ({spec.name}) {field_text[:40]!r}: {exc}", "cron") from None
    _minutes, _hours, days, months, weekdays = sets
    if len(weekdays) == 7 and all(day > _LONGEST_MONTH[month] for day in days for month in months):
        raise BadRequest("cron names a day of month that never comes in its months (e.g. 30 February)", "cron")
    return sets


@functools.lru_cache(maxsize=1024)
def _expanded(cron: str) -> str:
    """The cron as croniter is given it: ``*`` or the plain list of values of each field.

    Only lists reach croniter, so its own reading of ranges and steps never matters: croniter 7 reads
    an equal range (``5-5``, ``mon-mon``) as the whole cycle, where cron means the one value.
    """
    parts = []
    for values, spec in zip(_parse(cron), _FIELDS, strict=True):
        whole = set(range(7)) if spec.name == "day of week" else set(range(spec.low, spec.high + 1))
        parts.append("*" if values == whole else ",".join(str(v) for v in sorted(values)))
    return " ".join(parts)


def _utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, not a naive one")
    return moment.astimezone(UTC)


def _walls(cron: str, start: datetime, *, backwards: bool = False) -> Iterator[datetime]:
    """Naive local wall times matching ``cron``, after (or before) the wall time ``start``, in order.

    croniter is handed the wall time dressed as UTC so that it applies no DST rule of its own.
    """
    walker = croniter(_expanded(" ".join(cron.split())), start.replace(tzinfo=UTC), day_or=True)
    step = walker.get_prev if backwards else walker.get_next
    while True:
        yield step(datetime).replace(tzinfo=None)


def _wall_of(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.astimezone(zone).replace(tzinfo=None, fold=0)


def instant_of(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant a naive local wall time runs at in ``zone``: itself when it exists once, its
    first occurrence when it is repeated (PEP 495's ``fold=0`` is the earlier one), the end of the gap
    when the clock skipped it. Never decreases as ``wall`` increases."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if _wall_of(first, zone) == wall:
        return first
    return _end_of_gap(wall, zone)


def _end_of_gap(wall: datetime, zone: ZoneInfo) -> datetime:
    """The first instant after the gap holding ``wall``: where the zone's offset changes, found by bisection
    between ``wall`` read with the later offset (before the change) and with the earlier one (after it)."""
    before = int(wall.replace(tzinfo=zone, fold=1).astimezone(UTC).timestamp())
    after = int(wall.replace(tzinfo=zone, fold=0).astimezone(UTC).timestamp())
    later_offset = datetime.fromtimestamp(after, UTC).astimezone(zone).utcoffset()
    while after - before > 1:
        middle = (before + after) // 2
        if datetime.fromtimestamp(middle, UTC).astimezone(zone).utcoffset() == later_offset:
            after = middle
        else:
            before = middle
    return datetime.fromtimestamp(after, UTC)


def slots_between(cron: str, zone: str, after: datetime, until: datetime) -> list[datetime]:
    """Every slot ``s`` with ``after < s <= until``, ascending, each instant once.

    Walks wall times from ``after``'s local time: a wall time at or before it runs at or before
    ``after`` (the clock never shows a wall time for the first time after having shown a later one).
    """
    tz = get_zone(zone)
    after, until = _utc(after, "after"), _utc(until, "until")
    found: list[datetime] = []
    for wall in _walls(cron, _wall_of(after, tz)):
        slot = instant_of(wall, tz)
        if slot > until:
            return found
        if slot > after and (not found or slot != found[-1]):
            found.append(slot)
    raise AssertionError("unreachable: croniter walks without end")  # pragma: no cover


def next_run_at(cron: str, zone: str, after: datetime) -> datetime:
    """The first slot strictly after ``after``: a schedule's ``next_run_at`` (``after`` = its last slot,
    or when it was created or resumed)."""
    tz = get_zone(zone)
    after = _utc(after, "after")
    for wall in _walls(cron, _wall_of(after, tz)):
        slot = instant_of(wall, tz)
        if slot > after:  # repeated wall times of a fall back run before ``after``: passed over
            return slot
    raise AssertionError("unreachable: croniter walks without end")  # pragma: no cover


def latest_due_slot(cron: str, zone: str, last_slot_or_created: datetime, now: datetime) -> datetime | None:
    """The latest slot ``s`` with ``last_slot_or_created < s <= now``, or None: the one slot a scheduler
    runs after downtime (the earlier missed ones are skipped, as the SPEC says).

    Walks wall times backwards from the latest wall time that can still run at or before ``now``:
    ``now``'s wall time plus the largest offset of the past day (after a fall back, wall times later
    than ``now``'s ran at their first occurrence, before ``now``).
    """
    tz = get_zone(zone)
    since, now = _utc(last_slot_or_created, "last_slot_or_created"), _utc(now, "now")
    if now <= since:
        return None
    offsets = [moment.astimezone(tz).utcoffset() or timedelta(0) for moment in (now, now - _DAY)]
    latest_wall = now.replace(tzinfo=None) + max(offsets) + _MINUTE
    for wall in _walls(cron, latest_wall, backwards=True):
        slot = instant_of(wall, tz)
        if slot <= now:  # descending walls give non-increasing instants: the first one in range is the latest
            return slot if slot > since else None
    raise AssertionError("unreachable: croniter walks without end")  # pragma: no cover


__all__ = ["instant_of", "latest_due_slot", "next_run_at", "slots_between", "validate_cron"]
