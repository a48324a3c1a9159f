"""Fuzz the query string: thousands of generated requests, never a 5xx, errors always JSON.

A seeded generator (reproducible: the failing request is printed) mixes real parameter
names with junk, valid values with unicode, huge numbers, JSON junk, operator-looking
strings, broken percent-encoding and repeated parameters, over a tiny mongomock dataset.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

import pytest
from bson import ObjectId

from ..factories import ROUTE, add_api_key, add_url, make_click
from ..scenarios import make_client

#: HTTP-level: each test runs through both doors (WSGI and ASGI, tests/doors.py).
pytestmark = pytest.mark.usefixtures("door")

SEED = int(os.environ.get("FUZZ_SEED", 20261126))
REQUESTS = int(os.environ.get("FUZZ_REQUESTS", 2500))
OWNER = ObjectId("650000000000000000000005")

NAMES = (
    "format",
    "scope",
    "short_code",
    "start_date",
    "end_date",
    "group_by",
    "metrics",
    "timezone",
    "granularity",
    "exclude_bots",
    "filters",
    "browser",
    "os",
    "country",
    "city",
    "referrer",
)
JUNK_NAMES = (
    "",
    "$where",
    "format[]",
    "filters[browser]",
    "FORMAT",
    "scope ",
    "__proto__",
    "a" * 300,
    "%00",
    "ü",
    "group_by[$ne]",
    "callback",
    "_id",
)
VALID = {
    "format": ("json", "csv", "xlsx", "xml"),
    "scope": ("all", "anon"),
    "short_code": ("a1", "ü🙂", "nope", "a1,b1"),
    "start_date": ("2025-03-01", "2025-03-09T01:30:00-05:00", "1741500000", "2025-03-08T12:00:00Z"),
    "end_date": ("2025-03-10", "2025-03-09T23:00:00+05:30", "1741600000.5", "2026-01-01"),
    "group_by": ("time", "time,browser,os,country,city,referrer,short_code", "browser", "referrer,time"),
    "metrics": ("clicks", "unique_clicks", "clicks,unique_clicks"),
    "timezone": ("UTC", "America/New_York", "Australia/Lord_Howe", "us/eastern", "Asia/Kolkata"),
    "granularity": ("minute", "10min", "hour", "day", "week", "month"),
    "exclude_bots": ("true", "1", "false", "0"),
    "filters": ('{"browser": ["Chrome"]}', '{"referrer": ["Direct"], "os": ["Unknown"]}', "{}"),
    "browser": ("Chrome", "Chrome,Firefox", "Unknown"),
    "os": ("Windows",),
    "country": ("United States",),
    "city": ("New York",),
    "referrer": ("Direct",),
}
NASTY = (
    "",
    " ",
    ",",
    ",,,",
    "null",
    "None",
    "true",
    "-1",
    "0",
    "1e308",
    "-1e308",
    "1e999",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "99999999999999999999999999",
    "-99999999999999",
    "253402300800",
    "0x10",
    "1_000",
    "١٢٣",
    "{",
    "}",
    "[]",
    "[1,2]",
    '{"$ne": null}',
    '{"browser": "Chrome"}',
    '{"browser": [1, 2]}',
    '{"browser": [null]}',
    '{"nope": ["x"]}',
    '{"short_code": ["a1"]}',
    '{"browser": {"$gt": ""}}',
    '"string"',
    "[[[[[[[[[[]]]]]]]]]]",
    '{"a":' * 50,
    "[" * 1024 + "]" * 1024,
    '{"browser":' * 400 + "1" + "}" * 400,
    '{"browser": ["' + "\\u0000" * 300 + '"]}',
    "$where",
    "$ne",
    "$gt",
    "{$gt: 1}",
    "this.a==1",
    "0000-00-00",
    "9999-12-31T23:59:59+14:00",
    "0001-01-01T00:00:00+01:00",
    "2025-02-30",
    "2025-13-01",
    "2025-03-09T02:30:00",
    "2025-03-09 02:30",
    "24:00",
    "2025-W10",
    "2025-068",
    "P1D",
    "today",
    "now",
    "1970-01-01T00:00:00Z",
    "9998-12-31",
    "+05:30",
    "Europe/../../etc/passwd",
    "/etc/localtime",
    "America/New_York\x00",
    "Etc/GMT+14",
    "ＵＴＣ",
    "ü🙂",
    "\u202e",
    "\ud800",
    "🙂" * 500,
    "a" * 5000,
    "x," * 1200,
    "<xml/>",
    "=cmd|' /C calc'!A0",
    "%",
    "%zz",
    "%ff%fe",
    "%00",
    "\r\nX-Injected: 1",
)


def _value(rng: random.Random, name: str) -> str:
    roll = rng.random()
    if roll < 0.45 and name in VALID:
        return rng.choice(VALID[name])
    if roll < 0.9:
        return rng.choice(NASTY)
    return "".join(
        chr(rng.choice((rng.randrange(32, 127), rng.randrange(0x80, 0x2FFF), rng.randrange(0x1F300, 0x1F6FF))))
        for _ in range(rng.randrange(1, 20))
    )


def _encode(rng: random.Random, text: str) -> str:
    if rng.random() < 0.05:
        # Raw bytes, possibly broken percent-encoding, as a PEP 3333 server passes them on.
        return text.replace(" ", "+").encode("utf-8", "surrogatepass").decode("latin-1")
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def generate(rng: random.Random) -> tuple[str, dict[str, str]]:
    """One query string and the headers to send with it."""
    pairs: list[tuple[str, str]] = []
    if rng.random() < 0.8:
        pairs.append(("format", rng.choice(VALID["format"]) if rng.random() < 0.8 else _value(rng, "format")))
    for _ in range(rng.randrange(0, 8)):
        name = rng.choice(NAMES) if rng.random() < 0.85 else rng.choice(JUNK_NAMES)
        pairs.append((name, _value(rng, name)))
        if rng.random() < 0.1:  # the same parameter again
            pairs.append((name, _value(rng, name)))
    rng.shuffle(pairs)
    query = "&".join(_encode(rng, k) + ("=" + _encode(rng, v) if rng.random() < 0.97 else "") for k, v in pairs)
    roll = rng.random()
    headers = {}
    if roll < 0.5:
        headers["Authorization"] = "Bearer {key}"
    elif roll < 0.6:
        headers["Authorization"] = rng.choice(
            (
                "Bearer",
                "Bearer spoo_",
                "Bearer spoo_nope",
                "Basic abc",
                "Bearer eyJhbGciOiJub25lIn0.e30.",
                "bearer  {key} ",
                "Bearer {other}",
                "Bearer {noscope}",
            )
        )
    return query, headers


@pytest.fixture
def fuzz_client(db: Any) -> tuple[Any, dict[str, str]]:
    keys = {
        "{key}": add_api_key(db, OWNER),
        "{other}": add_api_key(db, ObjectId()),
        "{noscope}": add_api_key(db, OWNER, scopes=("urls:write",)),
    }
    add_url(db, "a1", OWNER, created_at=datetime(2025, 3, 1))
    add_url(db, "ü🙂", OWNER, created_at=datetime(2025, 3, 2), private_stats=True)
    add_url(db, "b1", ObjectId(), created_at=datetime(2025, 3, 3))
    db.clicks.insert_many(
        [
            make_click("a1", OWNER, datetime(2025, 3, 9, 6, 59)),
            make_click("a1", OWNER, datetime(2025, 3, 9, 7, 1), browser=None, referrer=""),
            make_click("ü🙂", OWNER, datetime(2025, 3, 9, 12), bot_name="Googlebot", ip_address=None),
            make_click("b1", ObjectId(), datetime(2025, 3, 9, 13), country="Germany"),
        ]
    )
    return make_client(db, max_buckets=2_000), keys


def _check_error(status: int, body: bytes, content_type: str, describe: Callable[[], str]) -> None:
    assert content_type == "application/json", describe()
    payload = json.loads(body)
    assert isinstance(payload, dict) and set(payload) == {"error", "param"}, describe()
    assert isinstance(payload["error"], str) and payload["error"], describe()
    assert payload["param"] is None or isinstance(payload["param"], str), describe()
    assert "Traceback" not in payload["error"], describe()


def test_fuzzed_query_strings_never_5xx(fuzz_client: tuple[Any, dict[str, str]]) -> None:
    client, keys = fuzz_client
    rng = random.Random(SEED)
    statuses: dict[int, int] = {}
    params_named: set[Any] = set()
    for number in range(REQUESTS):
        query, headers = generate(rng)
        for placeholder, key in keys.items():
            headers = {k: v.replace(placeholder, key) for k, v in headers.items()}
        resp = client.simulate_get(ROUTE, query_string=query, headers=headers)
        statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1

        def describe(
            number: int = number, query: str = query, headers: dict[str, str] = headers, resp: Any = resp
        ) -> str:  # lazy: a binary body is decoded only for a failure's message
            return f"request #{number}: ?{query} headers={headers} -> {resp.status_code} {resp.text[:300]}"

        assert resp.status_code < 500, describe()
        assert resp.status_code in (200, 400, 401, 403, 404), describe()
        if resp.status_code == 200:
            assert resp.headers["content-disposition"].startswith("attachment"), describe()
            assert resp.content, describe()
        else:
            _check_error(resp.status_code, resp.content, resp.headers.get("content-type"), describe)
            params_named.add(resp.json["param"])
    # The generator reaches every outcome and most parameters (a weak generator would not).
    assert {200, 400, 401, 403, 404} <= set(statuses), statuses
    assert statuses[200] >= 50 and statuses[400] >= REQUESTS // 3, statuses
    assert {
        "format",
        "scope",
        "start_date",
        "end_date",
        "group_by",
        "metrics",
        "timezone",
        "granularity",
        "exclude_bots",
        "filters",
        "short_code",
        "Authorization",
    } <= params_named, params_named
