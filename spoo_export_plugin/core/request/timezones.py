"""IANA timezone names: validation and canonical spelling."""

from __future__ import annotations

import functools
import zoneinfo


@functools.lru_cache(maxsize=1)
def _names_by_folded_case() -> dict[str, str]:
    # "localtime" is the host's /etc/localtime link that zoneinfo finds on TZPATH, not an IANA name.
    return {name.casefold(): name for name in zoneinfo.available_timezones() if name != "localtime"}


@functools.lru_cache(maxsize=512)
def resolve_timezone(name: str) -> str:
    """Return the IANA name as spelled in the tz database; LookupError if unknown.

    Aliases (``US/Eastern``, ``Asia/Calcutta``) are accepted; so is any letter case.
    Only names from the database are accepted, never file paths.
    """
    if name.upper() in {"UTC", "Z", "GMT"}:
        return "UTC"
    found = _names_by_folded_case().get(name.casefold())
    if found is None:
        raise LookupError(name)
    return found


@functools.lru_cache(maxsize=512)
def get_zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(resolve_timezone(name))
