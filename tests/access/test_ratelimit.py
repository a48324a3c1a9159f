"""Rate limits through the real app: tiers, headers, 429, keying, proxies, storage failures.

Cheap requests (a 404 for an unknown short code) count like exports, which keeps these fast.
Time is moved with a fake clock shared by the plugin and limits' memory storage, so the
minute and day windows are exercised without waiting.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from datetime import datetime
from typing import Any

import falcon.testing
import limits.aio.storage
import limits.storage.memory
import pytest
from bson import ObjectId

import spoo_export_plugin.access.ratelimit as ratelimit
from spoo_export_plugin import ConfigurationError, ExportSettings
from spoo_export_plugin.access.ratelimit import client_ip

from ..doors import make_app
from ..factories import ROUTE, add_api_key, add_url, make_click, redis_url_or_skip, unused_port

#: HTTP-level: each test runs through both doors (WSGI and ASGI, tests/doors.py).
pytestmark = pytest.mark.usefixtures("door")

OWNER = ObjectId()
MISSING = {"format": "json", "scope": "anon", "short_code": "no-such-code"}
RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")


class FakeTime:
    """``time`` with a settable ``time()``; everything else is the real module."""

    def __init__(self, start: float):
        self.now = start

    def time(self) -> float:
        return self.now

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    fake = FakeTime(1_800_000_000.25)
    monkeypatch.setattr(limits.storage.memory, "time", fake)
    monkeypatch.setattr(ratelimit, "time", fake)
    return fake


def app(db: Any, **settings: Any) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(make_app(ExportSettings(database=db, **settings)))


def get(
    client: falcon.testing.TestClient,
    *,
    key: str | None = None,
    ip: str = "192.0.2.10",
    headers: dict[str, str] | None = None,
    route: str = ROUTE,
    **params: Any,
) -> Any:
    h = dict(headers or {})
    if key:
        h["Authorization"] = f"Bearer {key}"
    return client.simulate_get(route, params={**MISSING, **params}, headers=h, remote_addr=ip)


def rate(resp: Any) -> tuple[int, int, int]:
    return tuple(int(resp.headers[name]) for name in RATE_HEADERS)  # type: ignore[return-value]


def assert_429(resp: Any, limit: int, retry_after: int | None = None) -> None:
    assert resp.status_code == 429, resp.text
    assert resp.headers["content-type"] == "application/json"
    assert set(resp.json) == {"error", "param"} and resp.json["param"] is None
    assert "rate limit" in resp.json["error"]
    assert int(resp.headers["x-ratelimit-limit"]) == limit
    assert int(resp.headers["x-ratelimit-remaining"]) == 0
    wait = int(resp.headers["retry-after"])
    assert wait >= 1
    if retry_after is not None:
        assert wait == retry_after


# --------------------------------------------------------------------------------------
# Tiers
# --------------------------------------------------------------------------------------


def test_default_tiers_are_the_specified_ones(db):
    s = ExportSettings(database=db)
    assert (s.authenticated_limits, s.anonymous_limits) == ("30/minute;1000/day", "10/minute;200/day")
    assert s.ratelimit_storage_uri == "memory://" and s.ratelimit_strategy == "moving-window"
    assert s.trusted_proxies == 0 and s.ratelimit_fail_open is True


def test_anonymous_tier_10_per_minute(db, clock):
    client = app(db)
    for i in range(10):
        resp = get(client)
        assert resp.status_code == 404
        # The minute limit is the most restrictive one: it is the one reported.
        assert rate(resp) == (10, 9 - i, math.ceil(clock.now + 60))
    assert_429(get(client), 10, retry_after=60)
    clock.now += 30
    assert_429(get(client), 10, retry_after=30)
    clock.now += 31
    assert get(client).status_code == 404


def test_authenticated_tier_30_per_minute_keyed_by_owner(db, clock):
    key = add_api_key(db, OWNER)
    client = app(db)
    for i in range(30):
        resp = get(client, key=key)
        assert resp.status_code == 404, resp.text
        assert rate(resp)[:2] == (30, 29 - i)
    assert_429(get(client, key=key), 30, retry_after=60)
    # The owner's budget is not the IP's: anonymous requests from the same address still pass.
    assert get(client).status_code == 404


def test_anonymous_day_limit_200(db, clock):
    client = app(db)
    start = clock.now
    for _ in range(19):
        for _ in range(10):
            assert get(client).status_code == 404
        assert_429(get(client), 10)
        clock.now += 61
    for _ in range(10):
        assert get(client).status_code == 404
    # Both limits are spent now: the one that frees up last is reported.
    for _ in range(2):
        resp = get(client)
        assert_429(resp, 200, retry_after=math.ceil(start + 86400 - clock.now))
        assert int(resp.headers["x-ratelimit-reset"]) == math.ceil(start + 86400)
        clock.now += 61


def test_authenticated_day_limit_1000(db, clock):
    key = add_api_key(db, OWNER, scopes=["admin:all"])
    client = app(db)
    served = 0
    while True:
        resp = get(client, key=key)
        if resp.status_code == 429:
            if int(resp.headers["x-ratelimit-limit"]) == 1000:
                break
            clock.now += 61  # the minute budget is spent; the next minute has another 30
            continue
        assert resp.status_code == 404
        served += 1
    assert served == 1000


def test_several_limits_report_the_lowest_remaining(db, clock):
    client = app(db, anonymous_limits="2/minute;3/day")
    t0 = clock.now
    assert rate(get(client)) == (2, 1, math.ceil(t0 + 60))
    assert rate(get(client)) == (2, 0, math.ceil(t0 + 60))
    assert_429(get(client), 2, retry_after=60)
    clock.now += 61
    # The refused request used no day budget: one is left, and the day is now the tightest.
    assert rate(get(client)) == (3, 0, math.ceil(t0 + 86400))
    assert_429(get(client), 3, retry_after=math.ceil(t0 + 86400 - clock.now))


@pytest.mark.parametrize("strategy", ["moving-window", "fixed-window", "sliding-window-counter"])
def test_strategy_is_selectable(db, strategy):
    client = app(db, anonymous_limits="3/hour", ratelimit_strategy=strategy)
    assert [get(client).status_code for _ in range(3)] == [404, 404, 404]
    resp = get(client)
    assert_429(resp, 3)
    assert 1 <= int(resp.headers["retry-after"]) <= 3600
    assert time.time() < int(resp.headers["x-ratelimit-reset"]) <= time.time() + 3601


# --------------------------------------------------------------------------------------
# Headers on every response of the route
# --------------------------------------------------------------------------------------


def test_headers_on_success_and_every_error(db):
    add_url(db, "pub", None)
    add_url(db, "priv", ObjectId(), private_stats=True)
    db.clicks.insert_one(make_click("pub", None, datetime(2025, 3, 9, 12)))
    key = add_api_key(db, OWNER)
    bad_scope = add_api_key(db, OWNER, scopes=["urls:write"])
    client = app(db, anonymous_limits="6/minute", authenticated_limits="5/minute")
    window = {"start_date": "2025-03-09", "end_date": "2025-03-10"}
    cases = [
        (200, (6, 5), {"short_code": "pub", **window}, None),
        (400, (6, 4), {"short_code": "pub", "format": "pdf"}, None),
        (404, (6, 3), {}, None),
        (401, (6, 2), {"short_code": "priv"}, None),
        (401, (6, 1), {}, "spoo_unknown"),
        (403, (6, 0), {}, bad_scope),
        (429, (6, 0), {}, None),
        (404, (5, 4), {}, key),
        (200, (5, 3), {"short_code": "pub", "format": "csv", **window}, key),
    ]
    for status, (limit, remaining), params, token in cases:
        resp = get(client, key=token, **params)
        assert resp.status_code == status, (status, resp.text)
        assert rate(resp)[:2] == (limit, remaining), status
        assert int(resp.headers["x-ratelimit-reset"]) >= int(time.time())


def test_headers_on_503_when_mongodb_is_down():
    closed = unused_port()
    client = falcon.testing.TestClient(
        make_app(ExportSettings(mongodb_uri=f"mongodb://127.0.0.1:{closed}", server_selection_timeout_ms=100))
    )
    resp = get(client)
    assert resp.status_code == 503
    assert resp.json["param"] is None and int(resp.headers["retry-after"]) >= 1
    assert rate(resp)[:2] == (10, 9)


# --------------------------------------------------------------------------------------
# Keying
# --------------------------------------------------------------------------------------


def test_keys_of_one_owner_share_a_budget_other_owners_do_not(db):
    first, second = add_api_key(db, OWNER), add_api_key(db, OWNER, scopes=["urls:read"])
    stranger = add_api_key(db, ObjectId())
    client = app(db, authenticated_limits="3/minute")
    assert [get(client, key=k).status_code for k in (first, second, first)] == [404, 404, 404]
    assert_429(get(client, key=second), 3)
    assert_429(get(client, key=first, ip="198.51.100.99"), 3)  # another address, same owner
    assert get(client, key=stranger).status_code == 404


def test_jwt_and_api_key_of_one_owner_share_a_budget(db):
    import jwt

    owner = ObjectId()
    key = add_api_key(db, owner)
    secret = "x" * 40
    token = jwt.encode({"sub": str(owner), "exp": int(time.time()) + 600}, secret, algorithm="HS256")
    client = app(db, authenticated_limits="2/minute", jwt_secret=secret)
    assert get(client, key=key).status_code == 404
    assert get(client, headers={"Cookie": f"access_token={token}"}).status_code == 404
    assert_429(get(client, key=key), 2)


def test_two_ips_do_not_share(db):
    client = app(db, anonymous_limits="2/minute")
    for ip in ("192.0.2.1", "192.0.2.2", "2001:db8::1"):
        assert [get(client, ip=ip).status_code for _ in range(2)] == [404, 404]
        assert_429(get(client, ip=ip), 2)


def test_bad_credentials_count_against_the_ip(db):
    valid = add_api_key(db, OWNER)
    revoked = add_api_key(db, OWNER, revoked=True)
    wrong_scope = add_api_key(db, OWNER, scopes=["shorten:create"])
    client = app(db, anonymous_limits="3/minute", authenticated_limits="5/minute")
    ip = "203.0.113.7"
    for token, status in ((revoked, 401), ("spoo_nope", 401), (wrong_scope, 403)):
        resp = get(client, key=token, ip=ip)
        assert resp.status_code == status
    # The address has used its anonymous budget; bad credentials now get 429 too.
    assert_429(get(client, ip=ip), 3)
    assert_429(get(client, key="spoo_nope", ip=ip), 3)
    # The owner's own budget was never touched, and other addresses are unaffected.
    resp = get(client, key=valid, ip=ip)
    assert resp.status_code == 404 and rate(resp)[:2] == (5, 4)
    assert get(client, ip="203.0.113.8").status_code == 404


# --------------------------------------------------------------------------------------
# Client address and proxies
# --------------------------------------------------------------------------------------


def test_spoofed_forwarded_for_is_ignored_without_trusted_proxies(db):
    client = app(db, anonymous_limits="2/minute")
    for i in range(2):
        assert get(client, headers={"X-Forwarded-For": f"10.9.9.{i}"}).status_code == 404
    assert_429(get(client, headers={"X-Forwarded-For": "10.9.9.200"}), 2)


def test_one_trusted_proxy_uses_the_rightmost_address(db):
    client = app(db, anonymous_limits="2/minute", trusted_proxies=1)
    proxy = "10.0.0.1"  # every request arrives from the proxy
    # The client may prepend anything; only the address the proxy appended counts.
    assert get(client, ip=proxy, headers={"X-Forwarded-For": "6.6.6.6, 198.51.100.1"}).status_code == 404
    assert get(client, ip=proxy, headers={"X-Forwarded-For": "7.7.7.7, 198.51.100.1"}).status_code == 404
    assert_429(get(client, ip=proxy, headers={"X-Forwarded-For": "198.51.100.1"}), 2)
    # Another client behind the same proxy has its own budget.
    assert get(client, ip=proxy, headers={"X-Forwarded-For": "198.51.100.2"}).status_code == 404


@pytest.mark.parametrize(
    "hops, remote, forwarded, client",
    [
        (0, "192.0.2.1", "1.1.1.1", "192.0.2.1"),
        (1, "10.0.0.1", "1.1.1.1", "1.1.1.1"),
        (1, "10.0.0.1", "9.9.9.9, 1.1.1.1", "1.1.1.1"),
        (2, "10.0.0.2", "9.9.9.9, 1.1.1.1, 10.0.0.1", "1.1.1.1"),
        (2, "10.0.0.2", "1.1.1.1", "10.0.0.2"),  # fewer entries than hops: the peer
        (1, "10.0.0.1", "", "10.0.0.1"),
        (1, "10.0.0.1", "not-an-ip", "10.0.0.1"),
        (1, "10.0.0.1", " 2001:DB8::1 ", "2001:db8::1"),
        (3, "10.0.0.3", "1.1.1.1,2.2.2.2 , 3.3.3.3,4.4.4.4", "2.2.2.2"),
    ],
)
def test_client_ip(hops, remote, forwarded, client):
    environ = {"REMOTE_ADDR": remote}
    if forwarded:
        environ["HTTP_X_FORWARDED_FOR"] = forwarded
    assert client_ip(environ, hops) == client


# --------------------------------------------------------------------------------------
# Storage: one per app, validated at start-up, failing open or closed
# --------------------------------------------------------------------------------------


def test_one_store_per_app(db, monkeypatch):
    settings = ExportSettings(database=db, anonymous_limits="3/minute")  # validation builds a throw-away
    built = []
    real = ratelimit.build_storage
    monkeypatch.setattr(ratelimit, "build_storage", lambda *a, **k: built.append(1) or real(*a, **k))
    client = falcon.testing.TestClient(make_app(settings))
    assert len(built) == 1
    assert [get(client).status_code for _ in range(4)] == [404, 404, 404, 429]
    assert len(built) == 1
    # A second app has its own store and budget.
    assert get(app(db, anonymous_limits="3/minute")).status_code == 404


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"ratelimit_storage_uri": "bogus://x"}, "ratelimit_storage_uri"),
        ({"ratelimit_storage_uri": "mongodb://a:b:c"}, "ratelimit_storage_uri"),
        ({"ratelimit_strategy": "leaky-bucket"}, "ratelimit_strategy"),
        ({"anonymous_limits": "ten per minute"}, "anonymous_limits"),
        ({"authenticated_limits": ""}, "authenticated_limits"),
        ({"trusted_proxies": -1}, "trusted_proxies"),
    ],
)
def test_bad_rate_limit_settings_fail_at_start_up(db, settings, message):
    with pytest.raises(ConfigurationError, match=message):
        ExportSettings(database=db, **settings)  # names and notation: checked as values


def test_a_strategy_the_storage_cannot_run_fails_when_the_app_is_composed(db, monkeypatch):
    class NoMovingWindows:  # a storage that keeps counters only (as memcached does)
        pass

    monkeypatch.setattr(ratelimit, "build_storage", lambda uri, timeout_ms: NoMovingWindows())
    settings = ExportSettings(database=db, ratelimit_strategy="moving-window")
    with pytest.raises(ConfigurationError, match="ratelimit_strategy"):
        make_app(settings)


def test_bad_rate_limit_settings_from_env(db):
    with pytest.raises(ConfigurationError, match="ratelimit_strategy"):
        ExportSettings.from_env({"SPOO_EXPORT_RATELIMIT_STRATEGY": "token-bucket"}, database=db)
    s = ExportSettings.from_env(
        {
            "SPOO_EXPORT_RATELIMIT_STRATEGY": "fixed-window",
            "SPOO_EXPORT_TRUSTED_PROXIES": "2",
            "SPOO_EXPORT_RATELIMIT_FAIL_OPEN": "false",
        },
        database=db,
    )
    assert (s.ratelimit_strategy, s.trusted_proxies, s.ratelimit_fail_open) == ("fixed-window", 2, False)


@pytest.mark.parametrize("scheme", ["redis", "mongodb"])
def test_storage_down_fails_open_with_a_warning(db, scheme, caplog):
    uri = (
        f"{scheme}://:secret@127.0.0.1:{unused_port()}" if scheme == "redis" else f"mongodb://127.0.0.1:{unused_port()}"
    )
    client = app(db, ratelimit_storage_uri=uri, server_selection_timeout_ms=200, anonymous_limits="1/minute")
    with caplog.at_level(logging.WARNING, logger="spoo_export_plugin.ratelimit"):
        for _ in range(3):
            resp = get(client)
            assert resp.status_code == 404
            assert rate(resp)[:2] == (1, 1)
    warnings = [r.getMessage() for r in caplog.records if r.name == "spoo_export_plugin.ratelimit"]
    assert len(warnings) == 3 and "fail_open=True" in warnings[0]
    assert "secret" not in " ".join(warnings)


@pytest.mark.parametrize("scheme", ["redis", "mongodb"])
def test_storage_down_fails_closed_when_configured(db, scheme):
    client = app(
        db,
        ratelimit_storage_uri=f"{scheme}://127.0.0.1:{unused_port()}",
        ratelimit_fail_open=False,
        server_selection_timeout_ms=200,
        retry_after_seconds=7,
    )
    resp = get(client)
    assert resp.status_code == 503
    assert resp.json == {"error": resp.json["error"], "param": None}
    assert resp.headers["retry-after"] == "7"
    assert rate(resp)[:2] == (10, 0)


def test_storage_that_raises_anything_never_crashes(db, monkeypatch):
    client = app(db)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("driver bug")

    monkeypatch.setattr(limits.strategies.MovingWindowRateLimiter, "get_window_stats", broken)
    assert get(client).status_code == 404


# --------------------------------------------------------------------------------------
# Shared stores: Redis (and the per-route key)
# --------------------------------------------------------------------------------------


def test_apps_sharing_redis_share_a_budget_per_route(db):
    uri = redis_url_or_skip()
    route_a, route_b = f"/t-{uuid.uuid4().hex}/export", f"/t-{uuid.uuid4().hex}/export"
    one = app(db, route=route_a, ratelimit_storage_uri=uri, anonymous_limits="3/minute")
    two = app(db, route=route_a, ratelimit_storage_uri=uri, anonymous_limits="3/minute")
    other_route = app(db, route=route_b, ratelimit_storage_uri=uri, anonymous_limits="3/minute")
    assert [get(c, route=route_a).status_code for c in (one, two, one)] == [404, 404, 404]
    assert_429(get(two, route=route_a), 3)
    assert get(other_route, route=route_b).status_code == 404


def test_headers_through_the_middleware_and_host_routes_untouched(db):
    from spoo_export_plugin import ExportMiddleware

    def host(environ: dict, start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"host"]

    client = falcon.testing.TestClient(ExportMiddleware(host, ExportSettings(database=db, anonymous_limits="2/minute")))
    for _ in range(5):  # the host's routes are never counted
        resp = client.simulate_get("/elsewhere")
        assert resp.text == "host" and "x-ratelimit-limit" not in resp.headers
    assert [get(client).status_code for _ in range(2)] == [404, 404]
    assert_429(get(client), 2)


def test_an_asyncio_storage_is_refused_at_start_up():
    """The limiter runs in WSGI threads: ``async+memory://`` would hand it coroutines."""
    from spoo_export_plugin.access.ratelimit import build_storage
    from spoo_export_plugin.core.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match="asyncio storage"):
        build_storage("async+memory://")
    assert not isinstance(build_storage("memory://"), limits.aio.storage.Storage)
