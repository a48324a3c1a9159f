"""A plain-Python oracle for SPEC's numbers, computed straight from raw click documents.

Written independently of the package: it imports nothing from ``spoo_export_plugin`` and
uses only ``datetime`` and ``zoneinfo``. It walks every click in Python, so it is meant
for the small datasets of property tests, and it is deliberately naive (minute-by-minute
enumeration of hour, 10-minute and minute buckets, day-by-day enumeration of the others)
so that it is easy to believe.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

UTC = timezone.utc
UTM = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
#: spoo.me's newer click fields (SPEC, Dimensions): ``device`` at the top level, ``domain`` at ``meta.domain``.
STAMPED = ("device", "domain")
DIMENSIONS = ("time", "browser", "os", "country", "city", "referrer", "short_code") + UTM + STAMPED
FIELD_DIMENSIONS = ("browser", "os", "country", "city", "referrer", "short_code") + UTM + STAMPED
#: Buckets that start at local wall times (minute 0, 10, 20... for 10min) and are labelled
#: with the UTC offset in force: their size in minutes.
CLOCK_MINUTES = {"hour": 60, "10min": 10, "minute": 1}


@dataclass(frozen=True)
class Query:
    """What a caller asked for, in plain terms (dates aware)."""

    scope: str
    start: datetime
    end: datetime
    timezone: str = "UTC"
    owner_id: Any = None  # scope=all
    short_code: str | None = None  # scope=anon: the alias asked for
    #: scope=anon: the resolved URL's id (hex; see :func:`resolve_anon`); None for a legacy URL
    url_id: str | None = None
    granularity: str | None = None
    group_by: tuple[str, ...] = ("time",)
    metrics: tuple[str, ...] = ("clicks", "unique_clicks")
    #: dimension -> accepted labels (short_code included for scope=all); "url_id" -> URL ids (hex)
    filters: dict[str, list[str]] = field(default_factory=dict)
    #: dimension -> labels whose clicks are left out (wins over filters)
    exclude: dict[str, list[str]] = field(default_factory=dict)
    exclude_bots: bool = False
    row_cap: int = 100_000
    #: the host's declared dimensions: name -> dotted field path
    extra: dict[str, str] = field(default_factory=dict)

    def selection_order(self) -> tuple[str, ...]:
        """The order filters and exclusions are listed in: built-in, UTM, device, domain, declared, url_id."""
        return FIELD_DIMENSIONS + tuple(self.extra) + ("url_id",)


# ---------------------------------------------------------------- per-click facts


def click_instant(doc: dict[str, Any]) -> datetime:
    """The click's instant, aware UTC (documents hold naive UTC, as MongoDB returns them)."""
    at = doc["clicked_at"]
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def raw_value(doc: dict[str, Any], dim: str, extra: dict[str, str] | None = None) -> Any:
    if dim in ("short_code", "domain"):  # meta.short_code, meta.domain
        meta = doc.get("meta")
        return meta.get(dim) if isinstance(meta, dict) else None
    if dim == "url_id":
        value = (doc.get("meta") or {}).get("url_id")
        return None if value is None else str(value)
    if extra and dim in extra:  # a dotted path into sub-documents
        node: Any = doc
        for part in extra[dim].split("."):
            node = node.get(part) if isinstance(node, dict) else None
        return node
    return doc.get(dim)


def label(doc: dict[str, Any], dim: str, extra: dict[str, str] | None = None) -> str:
    """What a report shows for the click: the value, or Unknown (Direct for referrer)."""
    value = raw_value(doc, dim, extra)
    if value is None or value == "":
        return "Direct" if dim == "referrer" else "Unknown"
    return value


def redirect_ms(doc: dict[str, Any]) -> float | None:
    """The redirect time where it is a number (booleans and text are not)."""
    value = doc.get("redirect_ms")
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """First and last millisecond of a local day, found by walking UTC minutes (offsets are whole minutes)."""
    minute = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(days=1)
    while minute.astimezone(zone).date() < day:
        minute += timedelta(minutes=1)
    first = minute
    while minute.astimezone(zone).date() <= day:
        minute += timedelta(minutes=1)
    return first, minute - timedelta(milliseconds=1)


def visitor(doc: dict[str, Any]) -> tuple[Any, Any]:
    """(ip_address, user_agent); an absent field counts as null."""
    return (doc.get("ip_address"), doc.get("user_agent"))


def is_bot(doc: dict[str, Any]) -> bool:
    name = doc.get("bot_name")
    return name is not None and name != ""


def format_offset(offset: timedelta) -> str:
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def time_label(instant: datetime, granularity: str, zone: ZoneInfo) -> tuple[datetime, str]:
    """(sort key, label) of the bucket holding ``instant``.

    The key of an hour, 10min or minute bucket is the first real instant it holds (by brute
    force: the first minute from its wall start read with its offset on, that lands in it);
    after a 45-minute zone's change two buckets can share that wall-start instant.
    Day/week/month labels sort as dates.
    """
    local = instant.astimezone(zone)
    if granularity in CLOCK_MINUTES:
        text = _clock_text(instant, granularity, zone)
        size = CLOCK_MINUTES[granularity]
        wall = datetime(local.year, local.month, local.day, local.hour, local.minute // size * size, tzinfo=UTC)
        return _first_instant(wall - local.utcoffset(), text, granularity, zone), text
    day = local.date()
    if granularity == "day":
        key = day
        text = f"{day.year:04d}-{day.month:02d}-{day.day:02d}"
    elif granularity == "week":
        key = day - timedelta(days=day.weekday())  # Monday
        text = f"{key.year:04d}-{key.month:02d}-{key.day:02d}"
    elif granularity == "month":
        key = date(day.year, day.month, 1)
        text = f"{day.year:04d}-{day.month:02d}"
    else:
        raise ValueError(granularity)
    return datetime(key.year, key.month, key.day), text


_FIRST: dict[tuple[str, str, str], datetime] = {}


def _first_instant(nominal: datetime, text: str, granularity: str, zone: ZoneInfo) -> datetime:
    key = (str(zone), granularity, text)
    if key not in _FIRST:
        minute = nominal
        while _clock_text(minute, granularity, zone) != text:
            minute += timedelta(minutes=1)
            assert minute < nominal + timedelta(minutes=CLOCK_MINUTES[granularity]), text
        _FIRST[key] = minute
    return _FIRST[key]


def _clock_text(instant: datetime, granularity: str, zone: ZoneInfo) -> str:
    """``2025-11-02T01:10:00-04:00``: the local wall time cut down to the bucket size, and the offset."""
    local = instant.astimezone(zone)
    start_minute = local.minute // CLOCK_MINUTES[granularity] * CLOCK_MINUTES[granularity]
    return f"{local.year:04d}-{local.month:02d}-{local.day:02d}T{local.hour:02d}:{start_minute:02d}:00" + format_offset(
        local.utcoffset()
    )


# ---------------------------------------------------------------- whole export


def default_granularity(start: datetime, end: datetime) -> str:
    """Never minute or 10min: those are only used when asked for."""
    span = end - start
    if span <= timedelta(hours=48):
        return "hour"
    if span <= timedelta(days=92):
        return "day"
    if span <= timedelta(days=731):
        return "week"
    return "month"


def all_buckets(start: datetime, end: datetime, granularity: str, zone: ZoneInfo) -> list[str]:
    """Every bucket label from the one holding start to the one holding end, in time order."""
    labels: list[str] = []

    def see(instant: datetime) -> None:
        text = time_label(instant, granularity, zone)[1]
        if text not in labels[-1:]:
            labels.append(text)

    if granularity in CLOCK_MINUTES:
        # Every local hour, 10-minute and minute boundary falls on a whole UTC minute: visiting
        # start, each whole minute after it and end visits every such bucket in between.
        see(start)
        minute = start.replace(second=0, microsecond=0) + timedelta(minutes=1)
        while minute <= end:
            see(minute)
            minute += timedelta(minutes=1)
        see(end)
        return labels
    day = start.astimezone(zone).date()
    last = end.astimezone(zone).date()
    while day <= last:
        see(datetime(day.year, day.month, day.day, 12, tzinfo=zone))
        day += timedelta(days=1)
    return labels


def selected(clicks: list[dict[str, Any]], q: Query) -> list[dict[str, Any]]:
    """The clicks the export counts."""
    out = []
    for doc in clicks:
        meta = doc.get("meta") or {}
        if q.scope == "all":
            if "owner_id" not in meta or meta["owner_id"] != q.owner_id:
                continue
        elif q.url_id is not None:  # one urlsV2 URL: its clicks carry its id, whatever their short code
            if raw_value(doc, "url_id") != q.url_id:
                continue
        elif (
            meta.get("short_code") != q.short_code or meta.get("url_id") is not None or meta.get("owner_id") is not None
        ):
            continue  # a legacy URL (ownerless): its code, on ownerless clicks of no urlsV2 URL
        if not q.start <= click_instant(doc) <= q.end:
            continue
        if q.exclude_bots and is_bot(doc):
            continue
        if any(label(doc, dim, q.extra) in values for dim, values in q.exclude.items()):
            continue
        if all(label(doc, dim, q.extra) in values for dim, values in q.filters.items()):
            out.append(doc)
    return out


@dataclass(frozen=True)
class Resolved:
    """What SPEC's Access rule makes of ``scope=anon``: a URL (``url`` is its document, None for a legacy
    one), or an error ``status`` naming ``param``."""

    status: int = 200
    param: str | None = None
    url: dict[str, Any] | None = None
    legacy: str | None = None

    @property
    def url_id(self) -> str | None:
        return None if self.url is None else str(self.url["_id"])


def resolve_anon(
    urls: list[dict[str, Any]],
    legacy_codes: tuple[str, ...],
    alias: str,
    domain: str | None,
    domain_field: str = "domain",
) -> Resolved:
    """The one URL ``scope=anon`` reads: the URLs with the alias (a legacy one on the main domain, unless
    a urlsV2 URL holds the alias there), kept to those on ``domain`` when one is given (a custom domain
    compared lower-cased); none: 404, several: 400 naming ``domain``. ``domain=`` (empty) is no domain,
    unless that leaves several: then the main domain."""

    def on(url: dict[str, Any] | None) -> str:
        return "" if url is None else (url.get(domain_field) or "").lower()

    found: list[dict[str, Any] | None] = [u for u in urls if u["alias"] == alias]
    if alias in legacy_codes and not any(on(u) == "" for u in found):
        found.append(None)  # the legacy URL
    if domain or (domain == "" and len(found) > 1):
        found = [u for u in found if on(u) == domain.lower()]
    if not found:
        return Resolved(404, "short_code")
    if len(found) > 1:
        return Resolved(400, "domain")
    return Resolved(url=found[0]) if found[0] is not None else Resolved(legacy=alias)


def _metrics(docs: list[dict[str, Any]], metrics: tuple[str, ...], whole: int) -> dict[str, Any]:
    share = round(len(docs) / whole, 4) if whole else None
    values = {"clicks": len(docs), "unique_clicks": len({visitor(d) for d in docs}), "share": share}
    return {m: values[m] for m in metrics}


def _iso(instant: datetime | None, zone: ZoneInfo) -> str | None:
    return None if instant is None else instant.astimezone(zone).isoformat()


def expected_export(clicks: list[dict[str, Any]], q: Query) -> dict[str, Any]:
    """The parts of the JSON export that the clicks and the query determine."""
    zone = ZoneInfo(q.timezone)
    granularity = q.granularity or default_granularity(q.start, q.end)
    docs = selected(clicks, q)
    instants = [click_instant(d) for d in docs]

    by_bucket: dict[str, int] = {}
    for doc in docs:
        text = time_label(click_instant(doc), granularity, zone)[1]
        by_bucket[text] = by_bucket.get(text, 0) + 1

    def dim_rows(dim: str) -> list[dict[str, Any]]:
        groups: dict[str, list[dict[str, Any]]] = {}
        for doc in docs:
            groups.setdefault(label(doc, dim, q.extra), []).append(doc)
        rows = [{dim: name, **_metrics(group, q.metrics, len(docs))} for name, group in groups.items()]
        rows.sort(key=lambda r: r[dim])
        rows.sort(key=lambda r: -len(groups[r[dim]]))  # stable: clicks desc, then label asc
        return rows

    def time_rows() -> list[dict[str, Any]]:
        groups: dict[str, list[dict[str, Any]]] = {}
        for doc in docs:
            groups.setdefault(time_label(click_instant(doc), granularity, zone)[1], []).append(doc)
        return [
            {"time": text, **_metrics(groups.get(text, []), q.metrics, len(docs))}
            for text in all_buckets(q.start, q.end, granularity, zone)
        ]

    def time_dim_rows(dim: str) -> list[dict[str, Any]]:
        groups: dict[tuple[datetime, str, str], list[dict[str, Any]]] = {}
        for doc in docs:
            key, text = time_label(click_instant(doc), granularity, zone)
            groups.setdefault((key, text, label(doc, dim, q.extra)), []).append(doc)
        order = sorted(groups, key=lambda k: (k[0], -len(groups[k]), k[2]))
        return [{"time": k[1], dim: k[2], **_metrics(groups[k], q.metrics, by_bucket[k[1]])} for k in order]

    breakdowns: dict[str, list[dict[str, Any]]] = {}
    for dim in q.group_by:
        breakdowns[dim] = time_rows() if dim == "time" else dim_rows(dim)
    if "time" in q.group_by:
        for dim in q.group_by:
            if dim != "time":
                breakdowns[f"time,{dim}"] = time_dim_rows(dim)
    truncated = [name for name, rows in breakdowns.items() if len(rows) > q.row_cap]
    breakdowns = {name: rows[: q.row_cap] for name, rows in breakdowns.items()}

    return {
        "scope": q.scope,
        "timezone": q.timezone,
        "start_date": _iso(q.start, zone),
        "end_date": _iso(q.end, zone),
        "granularity": granularity,
        "group_by": list(q.group_by),
        "metrics": list(q.metrics),
        "filters": {dim: list(q.filters[dim]) for dim in q.selection_order() if q.filters.get(dim)},
        "exclude": {dim: list(q.exclude[dim]) for dim in q.selection_order() if q.exclude.get(dim)},
        "exclude_bots": q.exclude_bots,
        "summary": {
            "total_clicks": len(docs),
            "unique_clicks": len({visitor(d) for d in docs}),
            "unique_rate": round(len({visitor(d) for d in docs}) / len(docs), 4) if docs else None,
            "avg_redirect_ms": (
                round(sum(timed) / len(timed), 1)
                if (timed := [v for d in docs if (v := redirect_ms(d)) is not None])
                else None
            ),
            "first_click": _iso(min(instants) if instants else None, zone),
            "last_click": _iso(max(instants) if instants else None, zone),
            "truncated": bool(truncated),
            "truncated_breakdowns": truncated,
        },
        "breakdowns": breakdowns,
    }


# ---------------------------------------------------------------- raw clicks (<route>/clicks)

#: The raw export's columns read from a click (after ``time``, before the declared ones).
RAW_FIELD_COLUMNS = ("short_code", "browser", "os", "country", "city", "referrer") + UTM + STAMPED


def raw_columns(extra: dict[str, str] | None = None) -> tuple[str, ...]:
    return ("time",) + RAW_FIELD_COLUMNS + tuple(extra or {}) + ("bot_name", "visitor")


def local_time_text(instant: datetime, zone: ZoneInfo) -> str:
    """``2025-03-09T01:00:00.000-05:00``: wall time with milliseconds, then the offset in force."""
    local = instant.astimezone(zone)
    return (
        f"{local.year:04d}-{local.month:02d}-{local.day:02d}T{local.hour:02d}:{local.minute:02d}:"
        f"{local.second:02d}.{local.microsecond // 1000:03d}" + format_offset(local.utcoffset())
    )


def visitor_pseudonym(key: bytes, doc: dict[str, Any]) -> str:
    """SPEC: the first 16 hex digits of HMAC-SHA256(key, ip + "\\n" + user agent); absent or null = ""."""
    import hashlib
    import hmac

    ip, agent = visitor(doc)
    message = ("" if ip is None else str(ip)) + "\n" + ("" if agent is None else str(agent))
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()[:16]


def expected_clicks(clicks: list[dict[str, Any]], q: Query, key: bytes | None = None) -> list[dict[str, Any]]:
    """The raw export's rows: the selected clicks oldest first (ties in any order), every column;
    ``visitor`` only when the HMAC ``key`` is known (else left out)."""
    zone = ZoneInfo(q.timezone)
    rows = []
    for doc in sorted(selected(clicks, q), key=click_instant):
        row = {"time": local_time_text(click_instant(doc), zone)}
        for dim in RAW_FIELD_COLUMNS + tuple(q.extra):
            row[dim] = label(doc, dim, q.extra)
        bot = doc.get("bot_name")
        row["bot_name"] = "" if bot is None else bot
        if key is not None:
            row["visitor"] = visitor_pseudonym(key, doc)
        rows.append(row)
    return rows


# ---------------------------------------------------------------- compare= (SPEC "Periods and comparisons")

MS = timedelta(milliseconds=1)
ALL_METRICS = ("clicks", "unique_clicks", "share")


def _wall(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def year_earlier(instant: datetime, zone: ZoneInfo) -> datetime:
    """The same local wall time a calendar year earlier (29 February: the 28th), by trying every offset the
    zone uses within a day of it: the first instant showing that wall time; where none does (a DST gap),
    the wall time read with the offset in force just before the gap."""
    local = _wall(instant, zone)
    day = 28 if (local.month, local.day) == (2, 29) else local.day
    target = local.replace(year=local.year - 1, day=day)
    probe, offsets, before = target - timedelta(hours=30), set(), None
    while probe <= target + timedelta(hours=30):  # probe: a UTC minute
        offset = probe.replace(tzinfo=UTC).astimezone(zone).utcoffset()
        offsets.add(offset)
        if _wall(probe.replace(tzinfo=UTC), zone) < target:
            before = offset
        probe += timedelta(minutes=15)
    shown = sorted(
        (target - o).replace(tzinfo=UTC) for o in offsets if _wall((target - o).replace(tzinfo=UTC), zone) == target
    )
    return shown[0] if shown else (target - before).replace(tzinfo=UTC)


def earlier_range(compare: str, start: datetime, end: datetime, zone_name: str) -> tuple[datetime, datetime]:
    """SPEC's three rules: whole local months -> as many months just before; whole local days -> as many
    days just before; else the same length ending 1 ms before start. previous_year: a year earlier."""
    zone = ZoneInfo(zone_name)
    if compare == "previous_year":
        earlier_start, earlier_end = year_earlier(start, zone), year_earlier(end, zone)
        # From a repeated hour's first pass into its second the wall times run backwards a year
        # earlier: then the same length from the earlier start.
        return earlier_start, earlier_end if earlier_end >= earlier_start else earlier_start + (end - start)
    first, last = start.astimezone(zone).date(), end.astimezone(zone).date()
    if day_bounds(first, zone)[0] == start and day_bounds(last, zone)[1] == end:
        days = (last - first).days + 1
        if first.day == 1 and (last + timedelta(days=1)).day == 1:
            months = (last.year - first.year) * 12 + last.month - first.month + 1
            back = first
            for _ in range(months):  # a month back: the day before the 1st, then its 1st
                back = (back - timedelta(days=1)).replace(day=1)
            return day_bounds(back, zone)[0], start - MS
        return day_bounds(first - timedelta(days=days), zone)[0], start - MS
    return start - MS - (end - start), start - MS


def _change(clicks: int, previous: int | None) -> float | None:
    return round((clicks - previous) / previous, 4) if previous else None


def expected_compared_export(clicks: list[dict[str, Any]], q: Query, compare: str) -> dict[str, Any]:
    """:func:`expected_export` with ``compare``: the ``comparison`` block after ``summary``, and on ``time``
    rows (by position) and single-dimension rows (by label, 0 when absent) ``previous_time`` (time only),
    ``previous_<metric>`` and ``clicks_change``. ``time,<dim>`` rows are unchanged."""
    out = expected_export(clicks, q)
    granularity = out["granularity"]
    full = replace(q, metrics=ALL_METRICS, row_cap=10**9, granularity=granularity)
    current = expected_export(clicks, full)["breakdowns"]
    start, end = earlier_range(compare, q.start, q.end, q.timezone)
    earlier = expected_export(clicks, replace(full, start=start, end=end))
    total = earlier["summary"]["total_clicks"]
    zone = ZoneInfo(q.timezone)
    breakdowns: dict[str, list[dict[str, Any]]] = {}
    for name, rows in out["breakdowns"].items():
        if "," in name:
            breakdowns[name] = rows
            continue
        by_label = {row[name]: row for row in earlier["breakdowns"][name]}
        compared = []
        nothing = {"clicks": 0, "unique_clicks": 0, "share": round(0 / total, 4) if total else None}
        for index, row in enumerate(rows):
            clicks_now = current[name][index]["clicks"]
            extra: dict[str, Any] = {}
            if name == "time":  # past the end of a shorter earlier range: no bucket, nothing counted
                earlier_time = earlier["breakdowns"]["time"]
                extra["previous_time"] = earlier_time[index]["time"] if index < len(earlier_time) else None
                before = earlier_time[index] if index < len(earlier_time) else nothing
            else:
                before = by_label.get(row[name]) or nothing
            for m in q.metrics:
                extra[f"previous_{m}"] = before[m]
            extra["clicks_change"] = _change(clicks_now, before["clicks"])
            compared.append({**row, **extra})
        breakdowns[name] = compared
    summary = earlier["summary"]
    comparison = {
        "compare": compare,
        "start_date": _iso(start, zone),
        "end_date": _iso(end, zone),
        "summary": {k: summary[k] for k in ("total_clicks", "unique_clicks", "unique_rate", "avg_redirect_ms")},
    }
    head = {k: v for k, v in out.items() if k != "breakdowns"}
    return {**head, "comparison": comparison, "breakdowns": breakdowns}
