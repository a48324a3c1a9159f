"""Who is calling: API keys (``Bearer spoo_<key>``) and pluggable authenticators."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any, Optional

from .exceptions import Forbidden, Unauthorized
from .store import Store

API_KEY_PREFIX = "spoo_"
EXPORT_SCOPES = frozenset({"stats:read", "urls:read", "admin:all"})


def bearer_token(authorization: Optional[str]) -> Optional[str]:
    """The token of an ``Authorization: Bearer <token>`` header; 401 on any other scheme."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization must be 'Bearer spoo_<key>'", "Authorization")
    return token.strip()


def owner_from_api_key(store: Store, token: str, now: Optional[datetime] = None) -> Any:
    """The owner of a ``spoo_`` key; 401 unknown/revoked/expired, 403 without an export scope."""
    secret = token[len(API_KEY_PREFIX):]
    digest = hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()
    doc = store.find_api_key(digest)
    if doc is None or not secret:
        raise Unauthorized("the API key is not valid", "Authorization")
    if doc.get("revoked"):
        raise Unauthorized("the API key has been revoked", "Authorization")
    expires = doc.get("expires_at")
    if isinstance(expires, datetime):
        now = now or datetime.now(timezone.utc)
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=timezone.utc)
        if expires <= now:
            raise Unauthorized("the API key has expired", "Authorization")
    scopes = doc.get("scopes") or []
    if not isinstance(scopes, list) or not EXPORT_SCOPES.intersection(s for s in scopes if isinstance(s, str)):
        raise Forbidden("the API key lacks the stats:read, urls:read or admin:all scope", "Authorization")
    owner = doc.get("user_id")
    if owner is None:
        raise Unauthorized("the API key has no owner", "Authorization")
    return owner
