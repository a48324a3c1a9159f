"""Data factories shaped like spoo.me's documents."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timezone
from typing import Any

from bson import Decimal128, ObjectId

ROUTE = "/api/v1/export"


def add_api_key(
    db: Any, owner_id: Any, *, scopes=("stats:read",), revoked: bool = False, expires_at: datetime | None = None
) -> str:
    """Insert an API key document the way spoo.me stores it; return the full key text."""
    secret = secrets.token_urlsafe(24)
    doc = {
        "user_id": owner_id,
        "token_hash": hashlib.sha256(secret.encode()).hexdigest(),
        "scopes": list(scopes),
        "revoked": revoked,
    }
    if expires_at is not None:
        doc["expires_at"] = expires_at
    db["api-keys"].insert_one(doc)
    return "spoo_" + secret


def url_id_for(alias: str, owner_id: Any = None, domain: str | None = None) -> ObjectId:
    """The ``_id`` :func:`add_url` gives a URL and :func:`make_click` puts in its clicks' ``meta.url_id``.

    Derived from (alias, owner, domain), so a test's clicks belong to the URL of the same alias and
    owner, as spoo.me's do, without threading ids through every test.
    """
    text = f"{alias}\x00{owner_id}\x00{domain or ''}"
    return ObjectId(hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:24])


def add_url(
    db: Any,
    alias: str,
    owner_id: Any = None,
    *,
    created_at: datetime | None = None,
    private_stats: bool = False,
    domain: str | None = None,
) -> ObjectId:
    """Insert a urlsV2 document (``domain``: its custom domain; None = the main domain); return its id."""
    doc = {
        "_id": url_id_for(alias, owner_id, domain),
        "alias": alias,
        "created_at": created_at or datetime(2025, 1, 1),
        "private_stats": private_stats,
    }
    if owner_id is not None:
        doc["owner_id"] = owner_id
    if domain is not None:
        doc["domain"] = domain
    db.urlsV2.insert_one(doc)
    return doc["_id"]


def make_click(
    short_code: str, owner_id: Any, clicked_at: datetime, *, url_id: Any = None, legacy: bool = False, **fields: Any
) -> dict[str, Any]:
    """A spoo.me-shaped click; pass a field as None to leave it out of the document.

    ``meta.url_id`` is ``url_id``, by default the id :func:`add_url` gives the URL of this alias and
    owner on the main domain; a ``legacy`` URL's click has none. ``bot_name`` defaults to an explicit
    null, as spoo.me stores human clicks.
    """
    if clicked_at.tzinfo is not None:
        clicked_at = clicked_at.astimezone(timezone.utc).replace(tzinfo=None)
    doc = {
        "clicked_at": clicked_at,
        "meta": {
            "url_id": url_id if url_id is not None else url_id_for(short_code, owner_id),
            "short_code": short_code,
            "owner_id": owner_id,
        },
        "ip_address": "203.0.113.1",
        "user_agent": "Mozilla/5.0",
        "browser": "Chrome",
        "os": "Windows",
        "country": "United States",
        "city": "New York",
        "referrer": "https://google.com",
        "redirect_ms": 12,
        "bot_name": None,
    }
    if legacy:
        del doc["meta"]["url_id"]
    doc.update(fields)
    return {k: v for k, v in doc.items() if not (k in fields and v is None)}


#: Decimal redirect times whose average depends on how they are summed: in decimal (as MongoDB's
#: ``$sum`` does) 0.45, a mean of 0.15 that is the double just below 0.15, so 0.1 in the report; read
#: as doubles they sum to a mean of 0.15000000000000002, 0.2.
DECIMAL_REDIRECTS = (Decimal128("0.01"), Decimal128("0.16"), Decimal128("0.28"))


def decimal_redirect_clicks(db: Any) -> str:
    """Three clicks timed in decimals (and one not-a-number); the API key of their owner."""
    owner = ObjectId()
    redirects = (*DECIMAL_REDIRECTS, "12")
    db.clicks.insert_many(
        [make_click("a1", owner, datetime(2025, 5, 1, 12, i), redirect_ms=value) for i, value in enumerate(redirects)]
    )
    return add_api_key(db, owner)


def unused_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_url_or_skip() -> str:
    """The machine's Redis server, or a visible skip when nothing answers on 127.0.0.1:6379."""
    import socket

    import pytest

    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            pass
    except OSError:
        pytest.skip("Redis is not reachable on 127.0.0.1:6379 (start redis-server to run this test)")
    return "redis://127.0.0.1:6379/0"
