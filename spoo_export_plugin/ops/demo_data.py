"""A deterministic, spoo.me-shaped demo dataset (no database needed: it goes into mongomock).

Everything comes from one seeded :class:`random.Random` and an anchor instant, so every
gunicorn worker that builds it after the fork holds exactly the same documents, and the
API key printed by the parent process works in all of them.
"""

from __future__ import annotations

import base64
import hashlib
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from bson import ObjectId

DEMO_SEED = 20251126
#: Clicks of the whole dataset (about three quarters belong to the main owner). mongomock
#: runs pipelines in Python: this keeps the seven-dimension dashboard export of the main
#: owner under two seconds on a busy two-core machine.
DEFAULT_CLICKS = 200
DAYS = 60

# (browser, os, user agent) of human visitors, with rough real-world weights.
_AGENTS = [
    (
        "Chrome",
        "Windows",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
        30,
    ),
    (
        "Chrome",
        "Android",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Mobile Safari/537.36",
        16,
    ),
    (
        "Safari",
        "iOS",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        15,
    ),
    (
        "Chrome",
        "macOS",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
        9,
    ),
    (
        "Safari",
        "macOS",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.1 Safari/605.1.15",
        7,
    ),
    ("Firefox", "Windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0", 6),
    ("Firefox", "Linux", "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0", 4),
    (
        "Edge",
        "Windows",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
        7,
    ),
    (
        "Samsung Internet",
        "Android",
        "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like "
        "Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
        3,
    ),
    (
        "Opera",
        "Windows",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/130.0.0.0 Safari/537.36 OPR/115.0.0.0",
        2,
    ),
    (
        "Chrome",
        "Chrome OS",
        "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
        1,
    ),
]

_BOTS = [
    ("Googlebot", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
    ("bingbot", "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"),
    ("Twitterbot", "Twitterbot/1.0"),
    ("Slackbot", "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"),
    ("facebookexternalhit", "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"),
    ("Discordbot", "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)"),
]

# Country (full English name, as spoo.me stores it) -> cities, with weights.
_PLACES = [
    ("United States", ["New York", "San Francisco", "Seattle", "Austin", "Chicago"], 30),
    ("India", ["Mumbai", "Bengaluru", "Delhi", "Hyderabad"], 18),
    ("Germany", ["Berlin", "Munich", "Hamburg"], 9),
    ("United Kingdom", ["London", "Manchester"], 9),
    ("Canada", ["Toronto", "Vancouver", "Montréal"], 6),
    ("Brazil", ["São Paulo", "Rio de Janeiro"], 5),
    ("France", ["Paris", "Lyon"], 5),
    ("Japan", ["Tokyo", "Osaka"], 5),
    ("Netherlands", ["Amsterdam"], 4),
    ("Australia", ["Sydney", "Melbourne"], 4),
    ("Nigeria", ["Lagos"], 2),
    ("Türkiye", ["İstanbul"], 2),
]

_MISSING = object()  # a field left out of the document
# Referrer as sent by the browser; None, "" and an absent field all mean "Direct".
_REFERRERS = [
    ("https://www.google.com/", 22),
    ("https://t.co/", 12),
    ("https://www.reddit.com/", 8),
    ("https://news.ycombinator.com/", 6),
    ("https://www.linkedin.com/", 6),
    ("https://github.com/", 6),
    ("https://duckduckgo.com/", 3),
    ("https://www.facebook.com/", 3),
    (None, 18),
    ("", 8),
    (_MISSING, 8),
]

# (alias, owner index or None, share of clicks, private_stats, days before the anchor it was created)
_LINKS = [
    ("launch", 0, 0.30, False, 75),
    ("docs", 0, 0.16, False, 90),
    ("🚀", 0, 0.12, False, 50),
    ("blog-2025", 0, 0.10, False, 70),
    ("payroll", 0, 0.06, True, 65),  # private stats: only its owner's credentials read them
    ("meetup", 1, 0.10, False, 80),
    ("cv", 1, 0.04, True, 85),
    ("shop", 2, 0.06, False, 62),
    ("wiki", None, 0.03, False, 64),  # made without an account: no owner, public stats
]
LEGACY_CODE = "gh2019"
_LEGACY_SHARE = 0.03
BOT_SHARE = 0.06


@dataclass(frozen=True)
class DemoDataset:
    """The documents per collection and the handles the demo prints."""

    anchor: datetime
    api_key: str
    owner_ids: tuple[ObjectId, ...]
    collections: dict[str, list[dict[str, Any]]] = field(repr=False)
    #: Keys that do not export: name ("revoked", "expired", "no_scope", ...) -> key text.
    other_keys: dict[str, str] = field(default_factory=dict, repr=False)
    public_code: str = "launch"
    private_code: str = "payroll"
    emoji_code: str = "🚀"
    legacy_code: str = LEGACY_CODE

    @property
    def owner_id(self) -> ObjectId:
        """The owner of :attr:`api_key`."""
        return self.owner_ids[0]

    @property
    def public_url_id(self) -> str:
        """The id of :attr:`public_code` (the demo owner's), for the per-link route ``<route>/links/<url_id>``."""
        return str(next(u["_id"] for u in self.collections["urlsV2"] if u["alias"] == self.public_code))

    @property
    def start(self) -> datetime:
        return self.anchor - timedelta(days=DAYS)


def default_anchor(now: datetime | None = None) -> datetime:
    """The end of the dataset: the start of the current UTC hour (naive UTC, as BSON dates read back)."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return now.replace(minute=0, second=0, microsecond=0, tzinfo=None)


def _weighted(rng: random.Random, items: list[tuple]) -> tuple:
    return rng.choices(items, weights=[item[-1] for item in items])[0]


def _ip(rng: random.Random) -> str:
    """Documentation address ranges only (RFC 5737 / RFC 3849)."""
    if rng.random() < 0.15:
        return f"2001:db8:{rng.randrange(1 << 16):x}:{rng.randrange(1 << 16):x}::{rng.randrange(1, 1 << 16):x}"
    return f"{rng.choice(('192.0.2', '198.51.100', '203.0.113'))}.{rng.randrange(1, 255)}"


def _visitor(rng: random.Random) -> dict[str, Any]:
    browser, os_name, agent, _ = _weighted(rng, _AGENTS)
    country, cities, _ = _weighted(rng, _PLACES)
    visitor: dict[str, Any] = {
        "ip_address": _ip(rng),
        "user_agent": agent,
        "browser": browser,
        "os": os_name,
        "country": country,
        "city": rng.choice(cities),
    }
    if rng.random() < 0.04:
        visitor["user_agent"] = _MISSING  # privacy extensions and scripts send none
    if rng.random() < 0.08:
        visitor["city"] = _MISSING  # GeoIP knows the country only
    return visitor


def _bot(rng: random.Random) -> dict[str, Any]:
    name, agent = rng.choice(_BOTS)
    return {
        "ip_address": _ip(rng),
        "user_agent": agent,
        "browser": name,
        "os": _MISSING,
        "country": "United States",
        "city": rng.choice(["Mountain View", "Ashburn", _MISSING]),
        "bot_name": name,
    }


def _when(rng: random.Random, anchor: datetime, created: datetime, spike_day: int) -> datetime:
    """Within the last DAYS days, after creation; busier around a spike, in daytime, on weekdays."""
    first = max(anchor - timedelta(days=DAYS), created)
    span = (anchor - first).total_seconds()
    for _ in range(20):
        if rng.random() < 0.35:
            offset = DAYS - spike_day + rng.expovariate(0.5)  # days after the spike, decaying
            moment = anchor - timedelta(days=DAYS) + timedelta(days=offset)
        else:
            moment = first + timedelta(seconds=rng.random() * span)
        hour_weight = 0.3 if moment.hour < 7 else 1.0
        weekday_weight = 0.6 if moment.weekday() >= 5 else 1.0
        if first <= moment < anchor and rng.random() < hour_weight * weekday_weight:
            break
    else:
        moment = first + timedelta(seconds=rng.random() * span)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _api_key(
    rng: random.Random,
    owner: ObjectId,
    anchor: datetime,
    name: str,
    scopes: list[str],
    *,
    revoked: bool = False,
    expires_at: datetime | None = None,
) -> tuple[str, dict[str, Any]]:
    secret = base64.urlsafe_b64encode(rng.randbytes(24)).decode().rstrip("=")
    doc: dict[str, Any] = {
        "_id": ObjectId(rng.randbytes(12)),
        "user_id": owner,
        "name": name,
        "description": f"demo key: {name}",
        "token_prefix": secret[:8],
        "token_hash": hashlib.sha256(secret.encode()).hexdigest(),
        "scopes": scopes,
        "revoked": revoked,
        "created_at": anchor - timedelta(days=30),
        "last_used_at": None,
    }
    if expires_at is not None:
        doc["expires_at"] = expires_at
    return "spoo_" + secret, doc


def build_dataset(
    anchor: datetime | None = None, *, seed: int = DEMO_SEED, clicks: int = DEFAULT_CLICKS
) -> DemoDataset:
    """The same documents for the same (anchor, seed, clicks)."""
    anchor = default_anchor() if anchor is None else anchor.replace(tzinfo=None)
    rng = random.Random(seed)
    owners = tuple(ObjectId(rng.randbytes(12)) for _ in range(3))

    urls: list[dict[str, Any]] = []
    for alias, owner_index, _, private, age in _LINKS:
        doc: dict[str, Any] = {
            "_id": ObjectId(rng.randbytes(12)),
            "alias": alias,
            "long_url": f"https://example.com/{alias if alias.isascii() else 'rocket'}",
            "created_at": anchor - timedelta(days=age, hours=rng.randrange(24)),
            "private_stats": private,
            "status": "ACTIVE",
            "password": None,
            "max_clicks": None,
            "block_bots": False,
            "total_clicks": 0,
            "last_click": None,
        }
        if owner_index is not None:
            doc["owner_id"] = owners[owner_index]
        urls.append(doc)
    legacy_created = anchor - timedelta(days=400)
    legacy = [
        {
            "_id": LEGACY_CODE,
            "url": "https://github.com/spoo-me/spoo",
            "password": None,
            "creation-date": legacy_created.strftime("%Y-%m-%d"),
            "creation-time": "12:00:00",
            "total-clicks": 0,
            "max-clicks": None,
        }
    ]

    key, key_doc = _api_key(rng, owners[0], anchor, "dashboard export", ["stats:read", "urls:read"])
    others = {
        "revoked": _api_key(rng, owners[0], anchor, "old laptop", ["stats:read"], revoked=True),
        "expired": _api_key(rng, owners[0], anchor, "trial", ["stats:read"], expires_at=anchor - timedelta(days=1)),
        "no_scope": _api_key(rng, owners[1], anchor, "shortener bot", ["urls:write"]),
        "second_owner": _api_key(rng, owners[1], anchor, "reports", ["admin:all"]),
    }
    keys = [key_doc] + [doc for _, doc in others.values()]

    targets = [
        (u["alias"], u.get("owner_id"), u["_id"], u["created_at"], share)
        for u, (_, _, share, _, _) in zip(urls, _LINKS, strict=True)
    ]
    targets.append((LEGACY_CODE, None, None, legacy_created, _LEGACY_SHARE))
    visitors = [_visitor(rng) for _ in range(max(1, clicks * 3 // 5))]
    docs: list[dict[str, Any]] = []
    for alias, owner, url_id, created, share in targets:
        spike_day = rng.randrange(10, DAYS - 5)
        for _ in range(round(clicks * share)):
            if rng.random() < BOT_SHARE:
                person = _bot(rng)
            else:  # a prefix of random length: early visitors come back more often (a long tail)
                person = rng.choice(visitors[: rng.randrange(1, len(visitors) + 1)])
            referrer = _weighted(rng, _REFERRERS)[0]
            meta: dict[str, Any] = {"url_id": url_id, "short_code": alias, "owner_id": owner}
            if url_id is None:
                del meta["url_id"]
            if owner is None:
                del meta["owner_id"]
            doc = {
                "clicked_at": _when(rng, anchor, created, spike_day),
                "meta": meta,
                "bot_name": None,
                **person,
                "referrer": referrer,
                "redirect_ms": rng.randrange(3, 60),
            }
            docs.append({k: v for k, v in doc.items() if v is not _MISSING})
    docs.sort(key=lambda d: d["clicked_at"])
    return DemoDataset(
        anchor=anchor,
        api_key=key,
        owner_ids=owners,
        collections={"urlsV2": urls, "urls": legacy, "api-keys": keys, "clicks": docs},
        other_keys={name: text for name, (text, _) in others.items()},
    )


def seed_database(db: Any, dataset: DemoDataset) -> None:
    """Insert the dataset (copies: pymongo adds ``_id`` to what it inserts) and the export's index."""
    for name, documents in dataset.collections.items():
        if documents:
            db[name].insert_many([dict(d, meta=dict(d["meta"])) if "meta" in d else dict(d) for d in documents])
    db["clicks"].create_index([("meta.owner_id", 1), ("clicked_at", 1)])
    db["clicks"].create_index([("meta.url_id", 1), ("clicked_at", 1)])
    db["clicks"].create_index([("meta.short_code", 1), ("clicked_at", 1)])
    db["api-keys"].create_index("token_hash", unique=True)
