"""A spoo.me-shaped click dataset with realistic cardinalities, generated deterministically.

One owner with ~50 links; ~30 browsers, ~15 OSes, ~120 countries, ~2000 cities, ~300
referrers (null, "" and absent included); a few per cent bots; visitors (ip, user agent)
repeating with a Zipf-like distribution, each visitor keeping its browser/OS/place, a fifth
of them sharing an IP with another (so counting IPs alone would give other numbers).
A tenth as many clicks of another owner sit beside them, so the ``$match`` has work to do.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import secrets
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId

#: The data covers exactly this range (30 days: the plugin picks day buckets by itself).
START = datetime(2025, 3, 1)
END = datetime(2025, 3, 30, 23, 59, 59)
LINKS = 50
BATCH = 5_000
_ABSENT = object()


def _zipf_cum(n: int, s: float) -> list[float]:
    return list(itertools.accumulate(1.0 / (rank**s) for rank in range(1, n + 1)))


class Universe:
    """The value pools, fixed by the seed."""

    def __init__(self, rng: random.Random):
        self.browsers = ["Chrome", "Safari", "Firefox", "Edge", "Samsung Internet", "Opera"] + [
            f"Browser {i}" for i in range(24)
        ]
        self.oses = ["Windows", "Android", "iOS", "macOS", "Linux", "Chrome OS"] + [f"OS {i}" for i in range(9)]
        self.countries = ["United States", "India", "Germany", "United Kingdom", "Brazil", "France"] + [
            f"Country {i:03d}" for i in range(114)
        ]
        # ~2000 cities, each in one country (more cities in the big countries).
        country_cum = _zipf_cum(len(self.countries), 1.0)
        self.cities = [(f"City {i:04d}", rng.choices(self.countries, cum_weights=country_cum)[0]) for i in range(2000)]
        self.referrers: list[Any] = [None, "", _ABSENT] + [
            f"https://site{i}.example/{'path' if i % 3 else ''}" for i in range(297)
        ]
        self.links = [f"l{i:02d}" for i in range(LINKS - 1)] + ["🦄"]


def _visitor(rng: random.Random, u: Universe, number: int) -> dict[str, Any]:
    city, country = rng.choices(u.cities, cum_weights=_CITY_CUM)[0]
    ip = number - 1 if number % 5 == 1 else number  # a fifth of visitors share an IP (NAT, households)
    doc: dict[str, Any] = {
        "ip_address": f"10.{ip >> 16 & 255}.{ip >> 8 & 255}.{ip & 255}",
        "browser": rng.choices(u.browsers, cum_weights=_BROWSER_CUM)[0],
        "os": rng.choices(u.oses, cum_weights=_OS_CUM)[0],
        "country": country,
        "city": city,
    }
    if rng.random() >= 0.01:  # 1 % of visitors send no User-Agent
        doc["user_agent"] = f"Mozilla/5.0 ({doc['os']}) {doc['browser']}/{rng.randint(90, 130)}.0 v{number % 7}"
    if rng.random() < 0.06:
        doc["bot_name"] = rng.choice(["Googlebot", "bingbot", "facebookexternalhit", "Twitterbot"])
    else:
        doc["bot_name"] = None
    return doc


_CITY_CUM = _zipf_cum(2000, 0.9)
_BROWSER_CUM = _zipf_cum(30, 1.4)
_OS_CUM = _zipf_cum(15, 1.3)


def clicks(n: int, owner: ObjectId, seed: int) -> Iterator[dict[str, Any]]:
    """``n`` clicks of ``owner`` spread uniformly over START..END."""
    rng = random.Random(seed)
    u = Universe(rng)
    visitors = [_visitor(rng, u, i) for i in range(max(50, n // 4))]
    visitor_cum = _zipf_cum(len(visitors), 1.05)
    referrer_cum = _zipf_cum(len(u.referrers), 1.0)
    link_cum = _zipf_cum(len(u.links), 1.1)
    url_ids = {code: ObjectId() for code in u.links}
    span = (END - START).total_seconds()
    for _ in range(n):
        v = rng.choices(visitors, cum_weights=visitor_cum)[0]
        code = rng.choices(u.links, cum_weights=link_cum)[0]
        doc = {
            "clicked_at": START + timedelta(seconds=rng.random() * span),
            "meta": {"url_id": url_ids[code], "short_code": code, "owner_id": owner},
            **v,
            "redirect_ms": rng.randint(3, 400),
        }
        doc["clicked_at"] = doc["clicked_at"].replace(microsecond=doc["clicked_at"].microsecond // 1000 * 1000)
        ref = rng.choices(u.referrers, cum_weights=referrer_cum)[0]
        if ref is not _ABSENT:
            doc["referrer"] = ref
        yield doc


def seed(db: Any, n: int, seed_value: int = 42) -> tuple[ObjectId, str]:
    """Fill ``db`` with n clicks of one owner (+ n/10 of another); return (owner, API key)."""
    owner, other = ObjectId(), ObjectId()
    for name in ("clicks", "urlsV2", "api-keys"):
        db[name].drop()
    db.clicks.create_index([("meta.owner_id", 1), ("clicked_at", 1)])
    db.clicks.create_index([("meta.short_code", 1), ("clicked_at", 1)])
    for who, count, offset in ((owner, n, 0), (other, n // 10, 1)):
        batch: list[dict[str, Any]] = []
        for doc in clicks(count, who, seed_value + offset):
            batch.append(doc)
            if len(batch) >= BATCH:
                db.clicks.insert_many(batch, ordered=False)
                batch = []
        if batch:
            db.clicks.insert_many(batch, ordered=False)
    u = Universe(random.Random(seed_value))
    db.urlsV2.insert_many(
        [
            {
                "_id": ObjectId(),
                "alias": code,
                "owner_id": owner,
                "created_at": START - timedelta(days=90),
                "private_stats": False,
            }
            for code in u.links
        ]
    )
    secret = secrets.token_urlsafe(24)
    db["api-keys"].insert_one(
        {
            "user_id": owner,
            "token_hash": hashlib.sha256(secret.encode()).hexdigest(),
            "scopes": ["stats:read"],
            "revoked": False,
        }
    )
    return owner, "spoo_" + secret
