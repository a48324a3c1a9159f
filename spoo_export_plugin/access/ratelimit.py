"""Tiered rate limits (the ``limits`` library), per route, with one store per app.

Authenticated callers are keyed by owner (all their keys and sessions share one budget);
everyone else, including requests whose credentials were refused, by client IP. No
Falcon here: the hook hands in the WSGI environ and gets a :class:`Decision` back.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItem, parse_many
from limits.storage import MongoDBStorage, Storage, storage_from_string
from limits.strategies import STRATEGIES, RateLimiter

from ..core.exceptions import ConfigurationError

log = logging.getLogger("spoo_export_plugin.ratelimit")

NAMESPACE = "spoo-export"


class _LazyMongoDBStorage(MongoDBStorage):
    """limits' MongoDB storage, minus the connection its ``__del__`` opens when it never had one.

    Defining no ``STORAGE_SCHEME`` keeps it out of limits' scheme registry.
    """

    def __del__(self) -> None:
        client = getattr(self, "_storage", None)
        if client is not None:
            client.close()


def build_storage(uri: str, timeout_ms: int = 1_000) -> Storage:
    """A storage from ``memory://``, ``redis://...`` or ``mongodb://...``; no connection is opened yet.

    Network stores get short timeouts, so an unreachable one costs a request about
    ``timeout_ms`` before the fail-open/fail-closed rule applies, not a hung worker.
    """
    scheme = urllib.parse.urlparse(uri).scheme
    seconds = timeout_ms / 1000
    if scheme in ("mongodb", "mongodb+srv"):
        if scheme == "mongodb":  # (an SRV URI would need DNS here; it is checked at first use)
            from pymongo.uri_parser import parse_uri

            parse_uri(uri)  # a malformed URI fails now, not at the first request
        return _LazyMongoDBStorage(
            uri,
            wrap_exceptions=True,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            socketTimeoutMS=max(timeout_ms, 2_000),
        )
    if scheme.startswith(("redis", "rediss", "valkey")):
        return _synchronous(
            storage_from_string(
                uri, wrap_exceptions=True, socket_connect_timeout=seconds, socket_timeout=max(seconds, 2.0)
            )
        )
    return _synchronous(storage_from_string(uri, wrap_exceptions=True))


def _synchronous(storage: Any) -> Storage:
    """The limiter runs in WSGI threads: an ``async+...`` storage cannot serve it."""
    if not isinstance(storage, Storage):
        raise ConfigurationError(
            f"ratelimit_storage_uri: {type(storage).__name__} is an asyncio storage; use the scheme without 'async+'"
        )
    return storage


def build_strategy(storage: Storage, strategy: str) -> RateLimiter:
    """The named strategy over ``storage``; unknown names and unsupported pairs raise ValueError."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; expected one of {sorted(STRATEGIES)}")
    try:
        return STRATEGIES[strategy](storage)
    except NotImplementedError:
        raise ValueError(f"{type(storage).__name__} does not support the {strategy} strategy") from None


def client_ip(environ: Mapping[str, Any], trusted_proxies: int) -> str:
    """The client address: the Nth X-Forwarded-For entry from the right for N trusted hops.

    With 0 trusted hops, or a header shorter than the hop count, the socket peer
    (``REMOTE_ADDR``) is the client: a client cannot pick its own rate-limit key.
    """
    remote = str(environ.get("REMOTE_ADDR") or "unknown")
    if trusted_proxies <= 0:
        return remote
    forwarded = [part.strip() for part in str(environ.get("HTTP_X_FORWARDED_FOR") or "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < trusted_proxies:
        return remote
    candidate = forwarded[-trusted_proxies]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


@dataclass(frozen=True)
class Decision:
    """The outcome of one request against its tier, and the headers that describe it."""

    allowed: bool
    limit: int
    remaining: int
    reset: int  # Unix time (seconds) when the reported window frees a slot
    retry_after: int | None = None  # seconds, when refused
    storage_failed: bool = False
    window: str = ""  # the reported limit in words, e.g. "10 per 1 minute"

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(0, self.remaining)),
            "X-RateLimit-Reset": str(self.reset),
        }


def _configured_storage(settings: Any) -> Storage:
    """The settings' storage; a missing driver or a refused URI is a start-up error."""
    uri = settings.ratelimit_storage_uri
    try:
        return build_storage(uri, settings.server_selection_timeout_ms)  # lazy: no connection yet
    except Exception as exc:
        raise ConfigurationError(
            f"ratelimit_storage_uri={_redacted(uri)!r} is not usable ({type(exc).__name__}: {exc}); use memory://, "
            "redis://host:6379 (pip install 'spoo_export_plugin[redis]') or mongodb://host:27017"
        ) from None


class Throttle:
    """Counts requests of one route against the caller's tier; build one per app."""

    def __init__(self, settings: Any, *, storage: Storage | None = None, clock: Callable[[], float] | None = None):
        self.settings = settings
        self.storage = storage or _configured_storage(settings)
        try:
            self.strategy = build_strategy(self.storage, settings.ratelimit_strategy)
        except ValueError as exc:
            raise ConfigurationError(f"ratelimit_strategy={settings.ratelimit_strategy!r}: {exc}") from None
        self.authenticated: tuple[RateLimitItem, ...] = tuple(parse_many(settings.authenticated_limits))
        self.anonymous: tuple[RateLimitItem, ...] = tuple(parse_many(settings.anonymous_limits))
        self._clock = clock

    def clock(self) -> float:
        return (self._clock or time.time)()

    def identity(
        self, route: str, owner_id: Any, environ: Mapping[str, Any]
    ) -> tuple[tuple[RateLimitItem, ...], tuple[str, ...]]:
        """The tier and the key parts: the route, then the owner or the client IP."""
        if owner_id is not None:
            return self.authenticated, (NAMESPACE, route, "owner", str(owner_id))
        return self.anonymous, (NAMESPACE, route, "ip", client_ip(environ, self.settings.trusted_proxies))

    def check(self, route: str, owner_id: Any, environ: Mapping[str, Any]) -> Decision:
        """Count this request; never raises (a broken store yields ``storage_failed``)."""
        tier, key = self.identity(route, owner_id, environ)
        try:
            return self._check(tier, key)
        except Exception as exc:  # storage down, timeout, driver bug: the API must not crash
            log.warning(
                "rate-limit storage %s failed (%s: %s); fail_open=%s",
                _redacted(self.settings.ratelimit_storage_uri),
                type(exc).__name__,
                exc,
                self.settings.ratelimit_fail_open,
            )
            return self._unknown(tier)

    def _check(self, tier: Sequence[RateLimitItem], key: tuple[str, ...]) -> Decision:
        now = self.clock()
        stats = [self.strategy.get_window_stats(item, *key) for item in tier]
        exhausted = [i for i, s in enumerate(stats) if s.remaining < 1]
        if not exhausted:
            # Test first, then hit: a request refused by one limit uses up no other budget.
            # Each hit is atomic in the store, so concurrent workers never over-admit.
            for i, item in enumerate(tier):
                if not self.strategy.hit(item, *key):
                    exhausted.append(i)
                    break
        if exhausted:
            reset, worst = max((self._reset(stats[i].reset_time, tier[i], now), i) for i in exhausted)
            wait = max(1, math.ceil(reset - now))
            return Decision(False, tier[worst].amount, 0, math.ceil(reset), retry_after=wait, window=str(tier[worst]))
        after = [
            (s.remaining - 1, self._reset(s.reset_time, item, now), item) for s, item in zip(stats, tier, strict=True)
        ]
        remaining, reset, item = min(after, key=lambda a: (a[0], -a[1]))
        return Decision(True, item.amount, remaining, math.ceil(reset), window=str(item))

    @staticmethod
    def _reset(reset_time: float, item: RateLimitItem, now: float) -> float:
        # An empty window reports "now"; the hit just made opens one that ends a period later.
        return reset_time if reset_time > now else now + item.get_expiry()

    def _unknown(self, tier: Sequence[RateLimitItem]) -> Decision:
        """Headers when the store cannot say: the tightest limit, nothing counted."""
        now = self.clock()
        item = min(tier, key=lambda i: (i.amount, i.get_expiry()))
        allowed = bool(self.settings.ratelimit_fail_open)
        retry = int(self.settings.retry_after_seconds)
        return Decision(
            allowed,
            item.amount,
            item.amount if allowed else 0,
            math.ceil(now + (item.get_expiry() if allowed else retry)),
            retry_after=None if allowed else retry,
            storage_failed=True,
            window=str(item),
        )


def _redacted(uri: str) -> str:
    """The storage URI without a password, for logs."""
    parts = urllib.parse.urlsplit(uri)
    if parts.password:
        netloc = parts.netloc.replace(":" + parts.password + "@", ":***@")
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    return uri
