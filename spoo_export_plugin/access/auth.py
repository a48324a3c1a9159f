"""Who is calling: API keys (``Bearer spoo_<key>``) and pluggable authenticators.

The rule everywhere: credentials that are presented but not accepted are an error (401/403),
never a silent fall-back to anonymous access.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any, Protocol, runtime_checkable

from ..core.engine.store import Store
from ..core.exceptions import Forbidden, Unauthorized

API_KEY_PREFIX = "spoo_"
EXPORT_SCOPES = frozenset({"stats:read", "urls:read", "admin:all"})
AUTH_PARAM = "Authorization"


@runtime_checkable
class Authenticator(Protocol):
    """What a host implements to map a request to the owner id of its clicks.

    ``req`` is the :class:`falcon.Request` (``req.get_header(...)``, ``req.cookies``, and the
    WSGI environ as ``req.env``, so a Flask or Django session can be read from it).

    Return the owner id exactly as stored in ``meta.owner_id`` / ``urlsV2.owner_id`` (an
    ``ObjectId`` for spoo.me), or ``None`` when the request carries no credentials this
    authenticator knows. Raise :class:`~spoo_export_plugin.Unauthorized` (401) for
    credentials that are present but invalid or expired, or
    :class:`~spoo_export_plugin.Forbidden` (403) for valid ones that may not export.
    When it returns ``None`` although an ``Authorization`` header was sent, the request is
    refused with 401 rather than served anonymously.
    """

    def __call__(self, req: Any) -> Any:  # pragma: no cover - a protocol
        ...


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; None for another scheme or none."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    if not token:
        raise Unauthorized("the Authorization header has an empty bearer token", AUTH_PARAM)
    return token


def owner_from_api_key(store: Store, token: str, now: datetime | None = None) -> Any:
    """The owner of a ``spoo_`` key; 401 unknown/revoked/expired, 403 without an export scope."""
    secret = token[len(API_KEY_PREFIX) :]
    if not secret:
        raise Unauthorized("the API key is not valid", AUTH_PARAM)
    digest = hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()
    doc = store.find_api_key(digest)
    if doc is None:
        raise Unauthorized("the API key is not valid", AUTH_PARAM)
    if doc.get("revoked"):
        raise Unauthorized("the API key has been revoked", AUTH_PARAM)
    expires = doc.get("expires_at")
    if expires is not None:
        if not isinstance(expires, datetime):
            # An expiry we cannot read is not a key that never expires.
            raise Unauthorized("the API key has expired", AUTH_PARAM)
        now = now or datetime.now(timezone.utc)
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=timezone.utc)
        if expires <= now:
            raise Unauthorized("the API key has expired", AUTH_PARAM)
    owner = doc.get("user_id")
    if owner is None:
        raise Unauthorized("the API key has no owner", AUTH_PARAM)
    scopes = doc.get("scopes")
    if not has_export_scope([scopes] if isinstance(scopes, str) else scopes):  # a lone string is one scope
        raise Forbidden("the API key lacks the stats:read, urls:read or admin:all scope", AUTH_PARAM)
    return owner


def has_export_scope(scopes: Any) -> bool:
    """Whether granted scopes (a list of strings) allow an export; anything else grants nothing."""
    if not isinstance(scopes, (list, tuple)):
        return False
    return bool(EXPORT_SCOPES.intersection(s for s in scopes if isinstance(s, str)))


def identify(store: Store, authenticator: Authenticator | None, authorization: str | None, req: Any) -> Any:
    """The caller's owner id, or None for an anonymous request; raises 401/403 for bad credentials.

    ``Bearer spoo_<key>`` is always an API key. Anything else goes to the authenticator
    (the host's, or the built-in JWT one); a header nobody accepts is refused.
    """
    token = bearer_token(authorization)
    if token is not None and token.startswith(API_KEY_PREFIX):
        return owner_from_api_key(store, token)
    owner = authenticator(req) if authenticator is not None else None
    if owner is None and authorization:
        if token is None:
            raise Unauthorized("Authorization must be 'Bearer spoo_<key>'", AUTH_PARAM)
        raise Unauthorized("the bearer token is not a valid spoo_ API key or session token", AUTH_PARAM)
    return owner
