"""Instants from query text: ISO 8601, Unix seconds, or a calendar date meaning a whole local day."""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time, timedelta, timezone

from .timezones import get_zone

# Unix seconds: ASCII digits only (float() would also take "1_000", "1e3", "nan" or non-ASCII digits).
_UNIX_SECONDS = re.compile(r"[+-]?[0-9]+(?:\.[0-9]*)?", re.ASCII)
# ...except eight digits, which ISO 8601 reads as a basic-format date (20250309).
_BASIC_DATE = re.compile(r"[0-9]{8}", re.ASCII)
# "T12:00:00 05:00": a '+' of a UTC offset that query-string decoding turned into a space.
_SPACE_FOR_PLUS = re.compile(r"(T[0-9:.,]+) ([0-9]{2}(?::?[0-9]{2})?)$", re.ASCII)
# A calendar date alone (2025-03-09 or 20250309) means that whole day in the request's timezone.
DATE_ONLY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{8}", re.ASCII)
_MS = timedelta(milliseconds=1)


def parse_datetime(text: str) -> datetime:
    """ISO 8601 (naive means UTC) or Unix seconds -> aware UTC datetime. Raises ValueError."""
    text = text.strip()
    if not text:
        raise ValueError("empty")
    if _UNIX_SECONDS.fullmatch(text) and not _BASIC_DATE.fullmatch(text):
        seconds = float(text)
        if not math.isfinite(seconds):
            raise ValueError("not finite")
        try:
            return datetime.fromtimestamp(seconds, tz=timezone.utc)
        except (OverflowError, OSError, ValueError) as exc:
            raise ValueError(str(exc)) from None
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    text = _SPACE_FOR_PLUS.sub(r"\1+\2", text)
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def day_bounds(day: date, tz_name: str) -> tuple[datetime, datetime]:
    """The first and the last millisecond of a local calendar day, as aware UTC datetimes.

    A day starts at its first real instant: where local midnight does not exist (a DST change
    at midnight, as in Havana) that is the change itself; where it exists twice, the first.
    """
    zone = get_zone(tz_name)

    def first_instant(d: date) -> datetime:
        return datetime.combine(d, time(0), tzinfo=zone).astimezone(timezone.utc)  # fold=0: before a change

    return first_instant(day), first_instant(day + timedelta(days=1)) - _MS
