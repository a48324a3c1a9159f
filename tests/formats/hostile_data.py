"""The formats' shared data: city names every format must survive, and the request that fetches them.

A plain helper module: the ``dataset`` fixture (``conftest.py``) seeds it, the format tests fetch it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId

from ..factories import ROUTE, add_api_key, add_url, make_click

MEDIA_TYPES = {
    "json": "application/json",
    "xml": "application/xml",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "application/zip",
    "html": "text/html; charset=utf-8",
}
ALL_DIMENSIONS = "time,browser,os,country,city,referrer,short_code"
HOSTILE_CITIES = [
    '=HYPERLINK("http://evil.example","click")',
    "+1+2",
    "-3",
    "@SUM(A1)",
    "\tTabbed",
    "\rReturned",
    "#N/A",
    "Zürich",
    "🦄 Town",
    "]]> <script>alert(1)</script>",
    "Nul\x00l",
    "Ctl\x1b\x07Bell",
    "Non\ufffechar",
    "Line\nfeed",
    "Mid\rreturn",
    "",
]


def xml_chars(text: str) -> str:
    """XML 1.0's Char production, written out here independently of the product."""
    return "".join(
        ch
        for ch in text
        if ch in "\t\n\r" or 0x20 <= ord(ch) <= 0xD7FF or 0xE000 <= ord(ch) <= 0xFFFD or ord(ch) >= 0x10000
    )


def seed_hostile_dataset(db: Any) -> dict[str, Any]:
    """One owner's two URLs (one with an emoji alias) and a click per hostile city; its key and count."""
    owner = ObjectId()
    key = add_api_key(db, owner)
    add_url(db, "abc", owner, created_at=datetime(2025, 3, 1))
    add_url(db, "🦄", owner, created_at=datetime(2025, 3, 1))
    clicks = []
    for number, city in enumerate(HOSTILE_CITIES):
        clicks.append(
            make_click(
                "abc" if number % 3 else "🦄",
                owner,
                datetime(2025, 3, 8 + number % 3, number % 24, 5),
                city=city,
                ip_address=f"198.51.100.{number % 5}",
                browser=["Chrome", "Firefox", "Safari"][number % 3],
                referrer=[None, "", "https://t.co/x", "=cmd|' /C calc'!A0"][number % 4],
            )
        )
    clicks.append(make_click("abc", owner, datetime(2025, 3, 9, 12), city=None, browser=None, country=None))
    db.clicks.insert_many(clicks)
    return {"owner": owner, "auth": {"Authorization": f"Bearer {key}"}, "clicks": len(clicks)}


def fetch(client, dataset, fmt: str, **params: str):
    query = {
        "format": fmt,
        "scope": "all",
        "start_date": "2025-03-08",
        "end_date": "2025-03-10T23:59:59",
        "group_by": ALL_DIMENSIONS,
        "granularity": "day",
        **params,
    }
    headers = dataset["auth"] if query["scope"] == "all" else {}
    resp = client.simulate_get(ROUTE, params=query, headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == MEDIA_TYPES[fmt]
    return resp
