"""Hypothesis strategies for oracle tests: click sets, queries, and the runner that compares.

Shared by the mongomock tier (``test_properties.py``) and the SecantusDB tier
(``integration/test_oracle_secantus.py``): the same scenarios, two databases.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import falcon.testing
from bson import ObjectId
from hypothesis import event
from hypothesis import strategies as st

from spoo_export_plugin import ExportSettings
from spoo_export_plugin.web.offload import wrapped_resource

from .core.test_periods import expected as expected_period  # brute force: scans minutes for midnights
from .doors import client_for, current_door
from .factories import ROUTE, add_api_key
from .oracle import (
    Query,
    Resolved,
    day_bounds,
    earlier_range,
    expected_clicks,
    expected_compared_export,
    expected_export,
    raw_columns,
    resolve_anon,
)

UTC = timezone.utc
#: SPEC "Periods and comparisons": the comparisons ``compare`` takes.
COMPARISONS = ("previous_period", "previous_year")
ABSENT = object()  # a field left out of the document

OWNER_A = ObjectId("650000000000000000000001")
OWNER_B = ObjectId("650000000000000000000002")
#: urlsV2 URLs by key: (alias, owner, custom domain). Aliases are unique per domain only: ``promo`` is A's
#: on the main domain and B's on b.example; ``old`` is B's on b.example and a legacy URL's on the main one;
#: ``c`` is only on b.example.
URL_DOCS = {
    "a1": ("a1", OWNER_A, None),
    "a2": ("a2", OWNER_A, None),
    "ü🙂": ("ü🙂", OWNER_A, None),
    "b1": ("b1", OWNER_B, None),
    "promo": ("promo", OWNER_A, None),
    "promo@b": ("promo", OWNER_B, "b.example"),
    "old@b": ("old", OWNER_B, "b.example"),
    "c@b": ("c", OWNER_B, "b.example"),
}
URL_IDS = {key: ObjectId(f"6600000000000000000000{i:02x}") for i, key in enumerate(sorted(URL_DOCS))}
#: Legacy URLs (``urls``, ``_id`` = the short code): ownerless, on the main domain; their clicks hold no url_id.
LEGACY_CODES = ("old",)
ALIASES = tuple(sorted({alias for alias, _, _ in URL_DOCS.values()} | set(LEGACY_CODES)))
#: scope=anon asks for (short_code, domain); the oracle's resolve_anon says which URL, or which error.
ANON_TARGETS = (
    ("a1", None),
    ("ü🙂", None),
    ("b1", None),
    ("a1", ""),
    ("promo", ""),
    ("promo", "b.example"),
    ("promo", "B.Example"),
    ("old", ""),
    ("old", "b.example"),
    ("c", None),
    ("c", ""),
)
#: ... and now and then one the rule refuses: a shared alias without domain (400), a wrong domain (404).
ANON_ERRORS = (("promo", None), ("old", None), ("a1", "b.example"), ("b1", "elsewhere.example"), ("zz", None))
#: The host's declared dimension in every scenario: a nested field.
EXTRA = {"platform": "ua_info.device"}

ZONES = ("UTC", "America/New_York", "Europe/Berlin", "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Chatham")
#: UTC instants where each zone's offset changes (2025), where most clicks are placed.
ZONE_ANCHORS = {
    "UTC": (),
    "America/New_York": (datetime(2025, 3, 9, 7, 0, tzinfo=UTC), datetime(2025, 11, 2, 6, 0, tzinfo=UTC)),
    "Europe/Berlin": (datetime(2025, 3, 30, 1, 0, tzinfo=UTC), datetime(2025, 10, 26, 1, 0, tzinfo=UTC)),
    "Asia/Kolkata": (datetime(2025, 6, 14, 18, 30, tzinfo=UTC),),  # local midnight, +05:30
    # +11:00 -> +10:30 (a 30-minute hour bucket), and back (a 30-minute one again).
    "Australia/Lord_Howe": (datetime(2025, 4, 5, 15, 0, tzinfo=UTC), datetime(2025, 10, 4, 15, 30, tzinfo=UTC)),
    "Pacific/Chatham": (datetime(2025, 4, 5, 14, 0, tzinfo=UTC), datetime(2025, 9, 27, 14, 0, tzinfo=UTC)),
}
#: Ranges end before this (the app reads an end after now as now, which the oracle cannot know).
LATEST_END = datetime(2026, 6, 1, tzinfo=UTC)
#: Anchors for any zone: a year end (week of Monday 2025-12-29) and everyone else's changes.
ANCHORS = (datetime(2025, 12, 31, 23, 30, tzinfo=UTC),) + tuple(a for anchors in ZONE_ANCHORS.values() for a in anchors)

BROWSERS = ("Chrome", "Firefox", "chrome", "Safari", "Unknown", None, "", ABSENT)
OSES = ("Windows", "macOS", "Linux", None, "", ABSENT)
COUNTRIES = ("United States", "Germany", "India", "Côte d'Ivoire", None, ABSENT)
CITIES = ("New York", "Berlin", "Mumbai", "", ABSENT)
REFERRERS = ("https://google.com", "https://t.co/x", "Direct", None, "", ABSENT)
IPS = ("203.0.113.1", "203.0.113.2", "2001:db8::1", "", None, ABSENT)
AGENTS = ("Mozilla/5.0", "curl/8.0", None, ABSENT)
BOTS = (None, None, None, "", ABSENT, "Googlebot")
SOURCES = ("newsletter", "twitter", "Twitter", "", None, ABSENT, ABSENT)
CAMPAIGNS = ("spring", "launch", None, ABSENT, ABSENT)
MEDIUMS = ("email", "social", ABSENT)
PLATFORMS = ("mobile", "desktop", "", None, ABSENT)
#: The built-in ``device`` as spoo.me stamps it; its literal ``unknown`` is a value of its own (not ``Unknown``).
DEVICES = ("mobile", "tablet", "desktop", "unknown", "", None, ABSENT)
#: ``meta.domain``: the custom domain a click came through (absent on the main domain and on older clicks).
CLICK_DOMAINS = ("links.example", "b.example", "B.example", "", None, ABSENT, ABSENT)
#: redirect_ms as stored: numbers (exact in binary, so sums do not depend on order), and not-numbers
REDIRECTS = (7, 12, 30, 7.5, 12.25, 0, None, "12", True, ABSENT)
FIELD_POOLS = {
    "browser": BROWSERS,
    "os": OSES,
    "country": COUNTRIES,
    "city": CITIES,
    "referrer": REFERRERS,
    "utm_source": SOURCES,
    "utm_campaign": CAMPAIGNS,
    "utm_medium": MEDIUMS,
    "device": DEVICES,
}
#: Values a filter may ask for: real ones, the Unknown/Direct labels, one nobody has.
FILTER_VALUES = {
    "browser": ("Chrome", "Firefox", "chrome", "Unknown", "Opera", ""),
    "os": ("Windows", "macOS", "Unknown", "BeOS"),
    "country": ("United States", "Germany", "Côte d'Ivoire", "Unknown"),
    "city": ("New York", "Berlin", "Unknown"),
    "referrer": ("https://google.com", "Direct", "https://t.co/x", ""),
    "short_code": ("a1", "a2", "ü🙂", "b1", "promo", "old", "zz", "Unknown"),
    "utm_source": ("newsletter", "Twitter", "Unknown"),
    "utm_campaign": ("spring", "Unknown", "summer"),
    "platform": ("mobile", "desktop", "Unknown"),
    "device": ("mobile", "tablet", "unknown", "Unknown"),
    "domain": ("links.example", "B.example", "Unknown", ""),
    "url_id": tuple(str(i) for i in URL_IDS.values()) + ("6600000000000000000000ff",),
}
#: Exclusions draw from the same values (url_id only with scope=all, like short_code).

#: Spans of the requested range, and the granularities worth asking for over each
#: (minute up to a few hours, 10min up to two days: a few hundred buckets at most).
SPANS = (
    (timedelta(0), ("minute", "10min", "hour", "day", "week", "month")),
    (timedelta(minutes=7), ("minute", "10min", "hour", "day")),
    (timedelta(minutes=50), ("minute", "10min", "hour")),
    (timedelta(hours=3), ("minute", "10min", "hour", "day")),
    (timedelta(hours=26), ("10min", "hour", "day", "week")),
    (timedelta(hours=48), ("10min", "hour", "day")),
    (timedelta(hours=48, milliseconds=1), ("10min", "hour", "day")),
    (timedelta(days=4, hours=5), ("hour", "day", "week", "month")),
    (timedelta(days=40), ("day", "week", "month")),
    (timedelta(days=92), ("day", "week")),
    (timedelta(days=92, seconds=1), ("day", "week", "month")),
    (timedelta(days=400), ("week", "month")),
    (timedelta(days=731), ("week", "month")),
    (timedelta(days=800), ("month",)),
)


def _ms(value: datetime) -> datetime:
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


@dataclass
class Scenario:
    clicks: list[dict[str, Any]]
    params: dict[str, Any]
    query: Query
    api_key: bool  # send the owner's key
    #: scope=anon: the oracle's resolution of (short_code, domain): a URL, or the error it expects
    resolved: Resolved | None = None
    #: A ``period=`` scenario: the request's instant (the app's clock is frozen there)
    now: datetime | None = None

    def client(self, db: Any, aggregation: str) -> falcon.testing.TestClient:
        """The app of ``aggregation`` over ``db`` (one per executor), its clock at :attr:`now`."""
        key = (id(db), aggregation, current_door.get())
        client = _FROZEN.get(key)
        if client is None:
            client = _FROZEN[key] = make_client(db, aggregation=aggregation)
        return freeze(client, self.now or datetime.now(UTC))


_FROZEN: dict[tuple[int, str, str], falcon.testing.TestClient] = {}


def freeze(client: falcon.testing.TestClient, now: datetime) -> falcon.testing.TestClient:
    """The client's app with its exporter's clock stopped at ``now`` (periods are computed from it)."""
    resource = wrapped_resource(client.app._router.find(ROUTE)[0])  # the ASGI door's adapter holds it
    resource.exporter.clock = lambda: now
    return client


@st.composite
def click_docs(draw: Any, lo: datetime, hi: datetime, edges: tuple[datetime, ...]) -> dict[str, Any]:
    """One click between lo and hi (or on/next to an edge), fields sometimes absent/null/empty."""
    if draw(st.integers(0, 5)) == 0:
        at = draw(st.sampled_from(edges)) + timedelta(milliseconds=draw(st.sampled_from((-1, 0, 0, 1))))
    else:
        span_ms = int((hi - lo) / timedelta(milliseconds=1))
        at = lo + timedelta(milliseconds=draw(st.integers(0, span_ms)))
    key = draw(st.sampled_from(sorted(URL_DOCS) + list(LEGACY_CODES)))
    at = _ms(at.astimezone(UTC).replace(tzinfo=None))  # MongoDB keeps milliseconds
    if key in LEGACY_CODES:  # a legacy URL's click: no url_id, no owner
        doc: dict[str, Any] = {"clicked_at": at, "meta": {"short_code": key}}
    else:
        code, url_owner, _ = URL_DOCS[key]
        owner = url_owner if draw(st.integers(0, 9)) else draw(st.sampled_from((OWNER_A, OWNER_B)))
        doc = {"clicked_at": at, "meta": {"url_id": URL_IDS[key], "short_code": code, "owner_id": owner}}
        if draw(st.integers(0, 7)) == 0:  # a renamed alias: the click keeps the code it came through
            doc["meta"]["short_code"] = draw(st.sampled_from(ALIASES))
        if draw(st.integers(0, 19)) == 0:
            del doc["meta"]["url_id"]  # no url_id filter selects it, nor any urlsV2 URL
    if draw(st.integers(0, 19)) == 0:
        del doc["meta"]["short_code"]  # shows as Unknown in group_by=short_code
    pools = dict(FIELD_POOLS, ip_address=IPS, user_agent=AGENTS, bot_name=BOTS, redirect_ms=REDIRECTS)
    for name, pool in pools.items():
        value = draw(st.sampled_from(pool))
        if value is not ABSENT:
            doc[name] = value
    domain = draw(st.sampled_from(CLICK_DOMAINS))
    if domain is not ABSENT:
        doc["meta"]["domain"] = domain
    platform = draw(st.sampled_from(PLATFORMS))
    if platform is not ABSENT:
        doc["ua_info"] = {"device": platform}
    elif draw(st.booleans()):
        doc["ua_info"] = "not a document"  # the path reads nothing: Unknown
    return doc


@st.composite
def scenarios(draw: Any, *, max_clicks: int = 40, row_cap: int = 100_000, compare: bool = False) -> Scenario:
    """A scenario; with ``compare``, a ``compare=`` of either kind, its range often whole local days or
    months (SPEC's other two rules), and clicks in the earlier range too."""
    zone_name = draw(st.sampled_from(ZONES))
    own = ZONE_ANCHORS[zone_name]
    anchor = draw(st.sampled_from(own if own and draw(st.integers(0, 3)) else ANCHORS))
    span, grains = draw(st.sampled_from(SPANS))
    # Put the anchor somewhere inside (or just outside) the range.
    lead = draw(st.floats(-0.1, 1.1)) if span else 0.0
    start = _ms(anchor - span * lead + timedelta(milliseconds=draw(st.integers(-90_000, 90_000))))
    end = start + span
    if end > LATEST_END:  # an end after now is read as now: keep ranges in the past, spans intact
        start, end = start - (end - LATEST_END), LATEST_END
    granularity = draw(st.one_of(st.none(), st.sampled_from(grains)))
    snap = draw(st.sampled_from((None, "days", "months"))) if compare else None
    if snap is not None:  # whole local days or months around the anchor
        zone = ZoneInfo(zone_name)
        first = (anchor - timedelta(days=draw(st.integers(0, 3)))).astimezone(zone).date()
        if snap == "days":
            last = first + timedelta(days=draw(st.integers(0, 9)))
        else:
            first = first.replace(day=1)
            last = first
            for _ in range(draw(st.integers(1, 3))):
                last = (last + timedelta(days=32)).replace(day=1)
            last -= timedelta(days=1)
        start, end = day_bounds(first, zone)[0], day_bounds(last, zone)[1]
        span = end - start
        granularity = draw(st.sampled_from((None, "day", "week", "month") + (("hour",) if snap == "days" else ())))

    margin = max(span / 4, timedelta(hours=2))
    # Most clicks fall near the anchor (where DST changes), the rest anywhere around the range;
    # "close" hits the minute and 10-minute buckets right at a change (Chatham's cut-short ones).
    near = (anchor - timedelta(hours=3), anchor + timedelta(hours=3))
    close = (anchor - timedelta(minutes=6), anchor + timedelta(minutes=6))
    around = (start - margin, end + margin)
    edges = (start, end, anchor)
    inside = (start, end)
    # Sparse sets leave empty buckets (gap filling), dense ones fill rows and ties.
    n = draw(st.integers(0, 5) if draw(st.integers(0, 2)) == 0 else st.integers(8, max_clicks))
    clicks = []
    for _ in range(n):
        lo, hi = draw(st.sampled_from((inside, inside, near, close, around)))
        clicks.append(draw(click_docs(lo, hi, edges)))
    compared = draw(st.sampled_from(COMPARISONS)) if compare else None
    if compared is not None:  # clicks in the earlier range, some on its edges
        earlier = earlier_range(compared, start, end, zone_name)
        # (a range from a fall-back's first hour into its repeat is upside down a year earlier)
        low, high = min(earlier), max(earlier)
        for _ in range(draw(st.integers(0, max_clicks // 2))):
            clicks.append(draw(click_docs(low, high, earlier)))
    # Repeated visitors: copy some clicks' visitor onto others.
    for i in range(len(clicks)):
        if i and draw(st.integers(0, 3)) == 0:
            src = clicks[draw(st.integers(0, i - 1))]
            for key in ("ip_address", "user_agent"):
                clicks[i].pop(key, None)
                if key in src:
                    clicks[i][key] = src[key]

    scope = draw(st.sampled_from(("all", "all", "anon")))
    dims = [
        "time",
        "browser",
        "os",
        "country",
        "city",
        "referrer",
        "utm_source",
        "utm_campaign",
        "device",
        "domain",
        "platform",
    ] + (["short_code"] if scope == "all" else [])
    group_by = draw(st.one_of(st.none(), st.lists(st.sampled_from(dims), min_size=1, max_size=7, unique=True)))
    metrics = draw(
        st.one_of(
            st.none(),
            st.lists(st.sampled_from(("clicks", "unique_clicks", "share")), min_size=1, max_size=3, unique=True),
        )
    )

    params: dict[str, Any] = {
        "format": "json",
        "scope": scope,
        "timezone": zone_name,
        "start_date": _iso_param(draw, start),
        "end_date": _iso_param(draw, end),
    }
    short_code: str | None = None
    resolved: Resolved | None = None
    if scope == "anon":
        short_code, domain = draw(st.sampled_from(ANON_ERRORS if draw(st.integers(0, 5)) == 0 else ANON_TARGETS))
        params["short_code"] = short_code
        if domain is not None:
            params["domain"] = domain
        resolved = resolve_anon(url_documents(), LEGACY_CODES, short_code, domain)
    if granularity:
        params["granularity"] = granularity
    if compared is not None:
        params["compare"] = compared
    if group_by is not None:
        params["group_by"] = ",".join(group_by)
    if metrics is not None:
        params["metrics"] = ",".join(metrics)
    exclude = draw(st.sampled_from((None, "true", "1", "false", "0")))
    if exclude is not None:
        params["exclude_bots"] = exclude

    filters: dict[str, list[str]] = {}
    json_filters: dict[str, list[str]] = {}
    filter_dims = [d for d in FILTER_VALUES if scope == "all" or d not in ("short_code", "url_id")]
    n_filters = draw(st.sampled_from((0, 0, 0, 1, 1, 2, 3)))
    for dim in draw(st.lists(st.sampled_from(filter_dims), min_size=n_filters, max_size=n_filters, unique=True)):
        values = draw(st.lists(st.sampled_from(FILTER_VALUES[dim]), min_size=1, max_size=3, unique=True))
        # some through JSON, the rest as a parameter; with scope=anon the domain parameter picks the URL, so the
        # domain dimension is filtered there through JSON only
        cut = len(values) if (scope == "anon" and dim == "domain") else draw(st.integers(0, len(values)))
        as_json, as_param = values[:cut], values[cut:]
        if as_json:
            json_filters[dim] = as_json
        if as_param:
            params["short_code" if dim == "short_code" else dim] = ",".join(as_param)
        # A blank value is no value (as in a comma list): it filters nothing.
        wanted = [v for v in as_json + [v for v in as_param if v not in as_json] if v]
        if wanted:
            filters[dim] = wanted
    if json_filters:
        params["filters"] = json.dumps(json_filters)
    exclusions: dict[str, list[str]] = {}
    for dim in draw(st.lists(st.sampled_from(filter_dims), max_size=draw(st.sampled_from((0, 0, 1, 2))), unique=True)):
        exclusions[dim] = draw(st.lists(st.sampled_from(FILTER_VALUES[dim]), min_size=1, max_size=2, unique=True))
    if exclusions:
        params["exclude"] = json.dumps(exclusions)
    exclusions = {dim: [v for v in values if v] for dim, values in exclusions.items()}

    query = Query(
        scope=scope,
        start=start,
        end=end,
        timezone=zone_name,
        owner_id=OWNER_A if scope == "all" else None,
        short_code=short_code,
        url_id=resolved.url_id if resolved is not None else None,
        granularity=granularity,
        group_by=tuple(group_by or ("time",)),
        metrics=tuple(metrics or ("clicks", "unique_clicks")),
        filters=filters,
        exclude={dim: values for dim, values in exclusions.items() if values},
        exclude_bots=exclude in ("true", "1"),
        row_cap=row_cap,
        extra=EXTRA,
    )
    api_key = scope == "all" or draw(st.booleans())
    return Scenario(clicks, params, query, api_key, resolved)


def _iso_param(draw: Any, instant: datetime) -> str:
    """The same instant written as UTC ISO, ISO with another offset, naive ISO or Unix seconds."""
    style = draw(st.integers(0, 3))
    if style == 0:
        return instant.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if style == 1:
        return instant.astimezone(timezone(timedelta(hours=-7, minutes=-30))).isoformat(timespec="milliseconds")
    if style == 2:
        return instant.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds")
    return f"{instant.timestamp():.3f}"


# ---------------------------------------------------------------- the app and the comparison


def make_client(db: Any, **settings: Any) -> falcon.testing.TestClient:
    """The real app over ``db`` (through the running test's door, tests/doors.py), with rate limits
    far out of the way of test loops."""
    settings.setdefault("extra_dimensions", EXTRA)
    settings.setdefault("authenticated_limits", "1000000/minute")
    settings.setdefault("anonymous_limits", "1000000/minute")
    return client_for(ExportSettings(database=db, **settings))


def url_documents() -> list[dict[str, Any]]:
    """The urlsV2 documents of every scenario (a URL on the main domain has no ``domain`` field)."""
    docs = []
    for key, (alias, owner, domain) in URL_DOCS.items():
        doc = {
            "_id": URL_IDS[key],
            "alias": alias,
            "owner_id": owner,
            "created_at": datetime(2024, 1, 1),
            "private_stats": False,
        }
        docs.append(dict(doc, domain=domain) if domain else doc)
    return docs


def load(db: Any, clicks: list[dict[str, Any]]) -> str:
    """Empty the collections, insert URLs (urlsV2 and legacy), a key for OWNER_A and the clicks; return the key."""
    for name in ("clicks", "urlsV2", "urls", "api-keys"):
        db[name].delete_many({})
    db.urlsV2.insert_many(url_documents())
    db.urls.insert_many(
        [
            {"_id": code, "url": "https://example.com/" + code, "created_at": datetime(2024, 1, 1)}
            for code in LEGACY_CODES
        ]
    )
    if clicks:
        db.clicks.insert_many([dict(c, meta=dict(c["meta"])) for c in clicks])
    return add_api_key(db, OWNER_A)


def check(client: falcon.testing.TestClient, db: Any, scenario: Scenario) -> dict[str, Any]:
    """Run the scenario through the app and assert the JSON equals the oracle's."""
    key = load(db, scenario.clicks)
    headers = {"Authorization": f"Bearer {key}"} if scenario.api_key else {}
    resp = client.simulate_get(ROUTE, params=scenario.params, headers=headers)
    if _refused(resp, scenario):
        return {}
    assert resp.status_code == 200, (resp.status_code, resp.text, scenario.params)
    assert resp.headers["content-type"] == "application/json"
    body = resp.json
    compare = scenario.params.get("compare")
    if compare:
        expected = expected_compared_export(scenario.clicks, scenario.query, compare)
        assert body["comparison"] == expected["comparison"], (body["comparison"], expected["comparison"])
        assert list(body)[list(body).index("summary") + 1] == "comparison"
        event(
            f"{compare}: " + ("no earlier click" if not expected["comparison"]["summary"]["total_clicks"] else "some")
        )
    else:
        expected = expected_export(scenario.clicks, scenario.query)
        assert "comparison" not in body
    event(f"{expected['granularity']} in {scenario.query.timezone}")
    event(
        "clicks counted: "
        + (
            "none"
            if not expected["summary"]["total_clicks"]
            else "1-5"
            if expected["summary"]["total_clicks"] <= 5
            else "6+"
        )
    )
    for key_name in (
        "scope",
        "timezone",
        "start_date",
        "end_date",
        "granularity",
        "group_by",
        "metrics",
        "filters",
        "exclude",
        "exclude_bots",
        "summary",
    ):
        assert body[key_name] == expected[key_name], (
            key_name,
            body[key_name],
            expected[key_name],
            scenario.params,
            scenario.clicks,
        )
    assert body["short_code"] == scenario.params.get("short_code")
    assert list(body["breakdowns"]) == list(expected["breakdowns"]), scenario.params
    for name, rows in expected["breakdowns"].items():
        got = body["breakdowns"][name]
        assert got == rows, (name, scenario.params, got, rows, scenario.clicks)
        assert all(list(g) == list(r) for g, r in zip(got, rows, strict=True)), ("column order", name)
    return body


def _refused(resp: Any, scenario: Scenario) -> bool:
    """Whether the oracle expects the request refused (an alias on several domains, or on none asked
    for), and then that the answer is that error, naming that parameter."""
    resolved = scenario.resolved
    if resolved is None:
        return False
    if resolved.status == 200:
        event(
            "scope=anon: "
            + (
                "a legacy URL"
                if resolved.url is None
                else "a shared alias"
                if sum(d["alias"] == resolved.url["alias"] for d in url_documents()) > 1
                else "a urlsV2 URL"
            )
        )
        return False
    assert (resp.status_code, resp.json["param"]) == (resolved.status, resolved.param), (resp.text, scenario.params)
    event(f"scope=anon refused: {resolved.status} {resolved.param}")
    return True


#: docs/configuration.md, ``report_max_bytes``: a row counts 160 bytes plus its labels' size in memory.
ROW_BYTES = 160


def row_size(row: dict[str, Any], breakdown: str) -> int:
    """A report row's estimated memory, from its JSON form (time buckets are not counted)."""
    return ROW_BYTES + sum(sys.getsizeof(row[dim]) for dim in breakdown.split(",") if dim != "time")


def check_budgeted(client: falcon.testing.TestClient, db: Any, scenario: Scenario, max_bytes: int) -> dict[str, Any]:
    """The scenario through an app with ``report_max_bytes=max_bytes`` against the oracle's whole report.

    Everything but the breakdowns' lengths equals the oracle's; each breakdown holds the oracle's
    top rows (a prefix of its rows in the documented order); ``truncated_breakdowns`` names exactly
    the shortened ones, never ``time``; the kept rows fit the budget, use it to within one row when
    something was cut, and no breakdown holds much more than a cut one.
    """
    key = load(db, scenario.clicks)
    headers = {"Authorization": f"Bearer {key}"} if scenario.api_key else {}
    resp = client.simulate_get(ROUTE, params=scenario.params, headers=headers)
    if _refused(resp, scenario):
        return resp.json
    assert resp.status_code == 200, (resp.status_code, resp.text, scenario.params)
    body = resp.json
    expected = expected_export(scenario.clicks, scenario.query)
    for key_name in (
        "scope",
        "timezone",
        "start_date",
        "end_date",
        "granularity",
        "group_by",
        "metrics",
        "filters",
        "exclude",
        "exclude_bots",
    ):
        assert body[key_name] == expected[key_name], (key_name, scenario.params)
    truncated = ("truncated", "truncated_breakdowns")
    assert {k: v for k, v in body["summary"].items() if k not in truncated} == {
        k: v for k, v in expected["summary"].items() if k not in truncated
    }
    assert list(body["breakdowns"]) == list(expected["breakdowns"])
    cut, held, sizes = [], {}, []
    for name, rows in expected["breakdowns"].items():
        got = body["breakdowns"][name]
        assert got == rows[: len(got)], (name, scenario.params, got, rows)
        if len(got) < len(rows):
            cut.append(name)
        if name != "time":
            held[name] = sum(row_size(row, name) for row in got)
            sizes += [row_size(row, name) for row in rows]
    event("cut by the budget: " + ("none" if not cut else "some"))
    assert "time" not in cut
    assert body["summary"]["truncated_breakdowns"] == cut and body["summary"]["truncated"] == bool(cut)
    biggest = max(sizes, default=0)
    assert sum(held.values()) <= max_bytes
    if cut:
        assert sum(held.values()) > max_bytes - biggest
    for name in cut:
        assert all(other <= held[name] + 2 * biggest for other in held.values()), (name, held)
    return body


# ---------------------------------------------------------------- raw clicks (<route>/clicks)

#: The visitor_id_secret of the raw-click scenario clients: the oracle recomputes every pseudonym.
VISITOR_SECRET = "oracle-known-visitor-secret-0123456789"
#: Statistics-only parameters the raw-click route refuses.
GROUPING_PARAMETERS = ("group_by", "metrics", "granularity")


def check_clicks(
    client: falcon.testing.TestClient, db: Any, scenario: Scenario, *, raw_row_cap: int = 1_000_000
) -> dict[str, Any] | None:
    """The scenario's clicks through ``<route>/clicks`` (json, the owner's key) against the oracle's rows.

    Order: the time column equals the oracle's exactly (ties share a time); rows, visitor included,
    equal the oracle's as a multiset (cut at ``raw_row_cap``: each kept row is one of the oracle's).
    A ``scope=anon`` scenario on another owner's URL must be a 403.
    """
    key = load(db, scenario.clicks)
    params = {k: v for k, v in scenario.params.items() if k not in GROUPING_PARAMETERS}
    resp = client.simulate_get(ROUTE + "/clicks", params=params, headers={"Authorization": f"Bearer {key}"})
    q = scenario.query
    if _refused(resp, scenario):
        return None
    resolved = scenario.resolved
    if resolved is not None and (resolved.url is None or resolved.url["owner_id"] != OWNER_A):
        assert resp.status_code == 403 and resp.json["param"] == "short_code", (resp.status_code, resp.text)
        event("raw clicks: another owner's (or a legacy) URL refused")
        return None
    assert resp.status_code == 200, (resp.status_code, resp.text, params)
    assert resp.headers["content-type"] == "application/json"
    body = resp.json
    expected = expected_export(scenario.clicks, q)
    rows = expected_clicks(scenario.clicks, q, VISITOR_SECRET.encode())
    event("raw clicks: " + ("none" if not rows else "1-5" if len(rows) <= 5 else "6+"))
    for name in ("scope", "timezone", "start_date", "end_date", "filters", "exclude", "exclude_bots"):
        assert body[name] == expected[name], (name, body[name], expected[name], params)
    assert body["short_code"] == params.get("short_code")
    assert body["summary"] == {"total_clicks": len(rows), "truncated": len(rows) > raw_row_cap}
    got = body["clicks"]
    assert [r["time"] for r in got] == [r["time"] for r in rows][:raw_row_cap], (params, got, rows)
    assert all(list(r) == list(raw_columns(q.extra)) for r in got), "column order"
    canonical = sorted(json.dumps(r, sort_keys=True) for r in rows)
    if len(rows) <= raw_row_cap:
        assert sorted(json.dumps(r, sort_keys=True) for r in got) == canonical, (params, got, rows, scenario.clicks)
    else:  # each kept row is one of the oracle's (a multiset inclusion: ties at the cut may go either way)
        left = Counter(canonical)
        left.subtract(json.dumps(r, sort_keys=True) for r in got)
        assert min(left.values(), default=0) >= 0, (got, rows)
    return body


# ---------------------------------------------------------------- period= (SPEC "Periods and comparisons")

#: The presets; ``all`` starts at the URLs' creation (2024-01-01, every scenario URL's).
PERIODS = (
    "today",
    "yesterday",
    "last_24_hours",
    "last_7_days",
    "last_30_days",
    "last_90_days",
    "this_week",
    "last_week",
    "this_month",
    "last_month",
    "this_year",
    "last_year",
    "all",
)
CREATED = datetime(2024, 1, 1, tzinfo=UTC)


@st.composite
def period_scenarios(draw: Any, *, max_clicks: int = 30) -> Scenario:
    """``period=`` (and now and then ``compare=``) at an instant near a zone's DST change or a year end;
    the oracle's range by the brute-force calendar of ``core/test_periods.py``."""
    zone_name = draw(st.sampled_from(ZONES))
    own = ZONE_ANCHORS[zone_name]
    anchor = draw(st.sampled_from(own if own and draw(st.integers(0, 3)) else ANCHORS))
    now = _ms(anchor + timedelta(milliseconds=draw(st.integers(-40 * 86_400_000, 40 * 86_400_000))))
    period = draw(st.sampled_from(PERIODS))
    start, end = expected_period(period, now, zone_name)
    start = start if start is not None else CREATED
    compared = draw(st.sampled_from((None,) + COMPARISONS))
    margin = timedelta(days=2)
    windows = [(start - margin, start + margin), (end - margin, end), (start, end), (anchor - margin, anchor + margin)]
    edges = (start, end, anchor, now)
    if compared is not None:
        earlier = earlier_range(compared, start, end, zone_name)
        windows += [(min(earlier), max(earlier)), (earlier[0] - margin, earlier[0] + margin)]
        windows.append((earlier[1] - margin, earlier[1] + margin))
        edges += earlier
    clicks = [draw(click_docs(*draw(st.sampled_from(windows)), edges)) for _ in range(draw(st.integers(0, max_clicks)))]
    group_by = draw(
        st.lists(st.sampled_from(("time", "browser", "country", "device")), min_size=1, max_size=3, unique=True)
    )
    metrics = draw(st.lists(st.sampled_from(("clicks", "unique_clicks", "share")), min_size=1, max_size=3, unique=True))
    granularity = draw(st.sampled_from((None, "day") if end - start <= timedelta(days=400) else (None,)))
    params: dict[str, Any] = {
        "format": "json",
        "scope": "all",
        "timezone": zone_name,
        "period": period,
        "group_by": ",".join(group_by),
        "metrics": ",".join(metrics),
    }
    if granularity:
        params["granularity"] = granularity
    if compared is not None:
        params["compare"] = compared
    query = Query(
        scope="all",
        start=start,
        end=end,
        timezone=zone_name,
        owner_id=OWNER_A,
        granularity=granularity,
        group_by=tuple(group_by),
        metrics=tuple(metrics),
        extra=EXTRA,
    )
    event(f"period={period}" + (f", compare={compared}" if compared else ""))
    return Scenario(clicks, params, query, True, now=now)
