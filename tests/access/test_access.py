"""Who may export what: the full access matrix through the real app (mongomock).

Every API-key state x scope x privacy x owner, with the exact status and JSON ``param``.
The expectations are written out by hand from SPEC's "Access" section (``expected`` below),
not derived from the product's own code.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta, timezone
from typing import Any

import falcon.testing
import pytest
from bson import ObjectId

from spoo_export_plugin import ExportSettings, Unauthorized

from ..doors import make_app
from ..factories import ROUTE, add_api_key, add_url, make_click

#: HTTP-level: each test runs through both doors (WSGI and ASGI, tests/doors.py).
pytestmark = pytest.mark.usefixtures("door")

ME = ObjectId("64b7f0c2a1b2c3d4e5f60718")
OTHER = ObjectId("64b7f0c2a1b2c3d4e5f60999")

# Click counts per short code (distinct numbers, so a total names the URLs it came from).
CLICKS = {"pub_me": 1, "priv_me": 2, "pub_other": 4, "priv_other": 8, "legacy": 16}
CODES = {
    ("public", "own"): "pub_me",
    ("private", "own"): "priv_me",
    ("public", "other"): "pub_other",
    ("private", "other"): "priv_other",
    ("legacy", "own"): "legacy",
    ("legacy", "other"): "legacy",
}
RANGE = {"start_date": "2025-03-01T00:00:00Z", "end_date": "2025-03-31T23:59:59Z", "granularity": "month"}

KEY_STATES = [
    "none",
    "valid:stats:read",
    "valid:urls:read",
    "valid:admin:all",
    "unknown",
    "revoked",
    "expired",
    "wrong_scope",
    "no_scopes",
]


def seed(db: Any) -> dict[str, str]:
    """URLs of two owners plus a legacy URL, their clicks, and one API key per key state."""
    add_url(db, "pub_me", ME)
    add_url(db, "priv_me", ME, private_stats=True)
    add_url(db, "pub_other", OTHER)
    add_url(db, "priv_other", OTHER, private_stats=True)
    db.urls.insert_one({"_id": "legacy", "url": "https://example.com", "created_at": datetime(2025, 1, 1)})
    clicks = []
    for code, n in CLICKS.items():
        owner = {"pub_me": ME, "priv_me": ME, "pub_other": OTHER, "priv_other": OTHER}.get(code)
        for i in range(n):
            clicks.append(
                make_click(
                    code, owner, datetime(2025, 3, 10, 12, i), ip_address=f"198.51.100.{i}", legacy=code == "legacy"
                )
            )
    db.clicks.insert_many(clicks)
    past = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(days=1)
    future = datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(days=30)
    return {
        "valid:stats:read": add_api_key(db, ME, scopes=["stats:read"], expires_at=future),
        "valid:urls:read": add_api_key(db, ME, scopes=["urls:read", "shorten:create"]),
        "valid:admin:all": add_api_key(db, ME, scopes=["admin:all"]),
        "unknown": "spoo_" + secrets.token_urlsafe(24),
        "revoked": add_api_key(db, ME, scopes=["stats:read"], revoked=True),
        "expired": add_api_key(db, ME, scopes=["stats:read"], expires_at=past),
        "wrong_scope": add_api_key(db, ME, scopes=["shorten:create", "urls:write"]),
        "no_scopes": add_api_key(db, ME, scopes=[]),
    }


def make_client(db: Any, **settings: Any) -> falcon.testing.TestClient:
    settings.setdefault("authenticated_limits", "100000/minute")
    settings.setdefault("anonymous_limits", "100000/minute")
    return falcon.testing.TestClient(make_app(ExportSettings(database=db, **settings)))


@pytest.fixture
def world(db: Any) -> tuple[falcon.testing.TestClient, dict[str, str]]:
    keys = seed(db)
    return make_client(db), keys


def expected(key_state: str, scope: str, privacy: str, owner: str) -> tuple[int, str | None, int | None]:
    """(status, param, total_clicks) as SPEC's Access section states it."""
    if key_state in ("unknown", "revoked", "expired"):
        return 401, "Authorization", None
    if key_state in ("wrong_scope", "no_scopes"):
        return 403, "Authorization", None
    authenticated = key_state != "none"
    code = CODES[(privacy, owner)]
    if scope == "all":
        if not authenticated:
            return 401, "scope", None
        # Only the caller's own clicks, whatever the short_code filter names.
        own = privacy != "legacy" and owner == "own"
        return 200, None, CLICKS[code] if own else 0
    if privacy == "private":
        if not authenticated:
            return 401, "short_code", None
        if owner == "other":
            return 403, "short_code", None
    return 200, None, CLICKS[code]


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


#: Parameters a refused credential is named by in these tests (a key, a token or a host session);
#: a 401 naming anything else asks for credentials that were not sent.
SENT_CREDENTIALS = {"Authorization", "access_token", "session"}


def assert_error(resp: Any, status: int, param: str | None) -> None:
    """The JSON error; a 401 challenges for a bearer token (RFC 6750), saying when the one sent was refused."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/json"
    body = resp.json
    assert set(body) == {"error", "param"}
    assert body["param"] == param
    assert isinstance(body["error"], str) and body["error"]
    if status == 401:
        refused = param in SENT_CREDENTIALS
        assert resp.headers["www-authenticate"] == ('Bearer error="invalid_token"' if refused else "Bearer")
    else:
        assert "www-authenticate" not in resp.headers


@pytest.mark.parametrize("owner", ["own", "other"])
@pytest.mark.parametrize("privacy", ["public", "private", "legacy"])
@pytest.mark.parametrize("scope", ["all", "anon"])
@pytest.mark.parametrize("key_state", KEY_STATES)
def test_access_matrix(world, key_state, scope, privacy, owner):
    client, keys = world
    code = CODES[(privacy, owner)]
    status, param, total = expected(key_state, scope, privacy, owner)
    resp = client.simulate_get(
        ROUTE,
        params={"format": "json", "scope": scope, "short_code": code, **RANGE},
        headers=bearer(keys.get(key_state)),
    )
    if status != 200:
        assert_error(resp, status, param)
        return
    assert resp.status_code == 200, resp.text
    body = resp.json
    assert body["scope"] == scope
    assert body["summary"]["total_clicks"] == total
    assert body["breakdowns"]["time"] == [{"time": "2025-03", "clicks": total, "unique_clicks": total}]


@pytest.mark.parametrize("key_state", KEY_STATES)
def test_scope_all_without_filter_reads_only_own_clicks(world, key_state):
    client, keys = world
    resp = client.simulate_get(
        ROUTE,
        params={"format": "json", "scope": "all", "group_by": "short_code", **RANGE},
        headers=bearer(keys.get(key_state)),
    )
    status, param, _ = expected(key_state, "all", "public", "own")
    if status != 200:
        assert_error(resp, status, param)
        return
    assert resp.status_code == 200, resp.text
    assert resp.json["summary"]["total_clicks"] == CLICKS["pub_me"] + CLICKS["priv_me"]
    assert resp.json["breakdowns"]["short_code"] == [
        {"short_code": "priv_me", "clicks": 2, "unique_clicks": 2},
        {"short_code": "pub_me", "clicks": 1, "unique_clicks": 1},
    ]


@pytest.mark.parametrize(
    "query",
    [
        {"filters": '{"short_code": ["pub_other", "priv_other", "legacy"]}'},
        {"short_code": "pub_other,priv_other"},
        {"filters": '{"short_code": ["pub_me", "priv_other"]}', "group_by": "short_code"},
    ],
)
def test_scope_all_filters_never_reach_other_owners(world, query):
    client, keys = world
    resp = client.simulate_get(
        ROUTE, params={"format": "json", "scope": "all", **RANGE, **query}, headers=bearer(keys["valid:stats:read"])
    )
    assert resp.status_code == 200, resp.text
    own = CLICKS["pub_me"] if "pub_me" in str(query) else 0
    assert resp.json["summary"]["total_clicks"] == own


@pytest.mark.parametrize("key_state", KEY_STATES)
def test_unknown_short_code(world, key_state):
    client, keys = world
    resp = client.simulate_get(
        ROUTE,
        params={"format": "json", "scope": "anon", "short_code": "nope", **RANGE},
        headers=bearer(keys.get(key_state)),
    )
    status, param, _ = expected(key_state, "anon", "public", "own")
    if status == 200:
        status, param = 404, "short_code"
    assert_error(resp, status, param)


@pytest.mark.parametrize(
    "header",
    [
        "Bearer spoo_",  # empty key
        "Bearer ",  # empty token
        "Bearer not-a-spoo-key",  # another kind of token, no authenticator configured
        "Basic dXNlcjpwYXNz",  # another scheme
        "spoo_abc",  # no scheme
        "Bearer spoo_" + "A" * 5000,  # oversized
    ],
)
@pytest.mark.parametrize("short_code", ["pub_me", "legacy"])
def test_malformed_credentials_are_never_anonymous(world, header, short_code):
    client, _ = world
    resp = client.simulate_get(
        ROUTE,
        params={"format": "json", "scope": "anon", "short_code": short_code, **RANGE},
        headers={"Authorization": header},
    )
    assert_error(resp, 401, "Authorization")


def test_key_matches_by_sha256_of_the_text_after_the_prefix(db):
    secret = "my-very-own-secret"
    db["api-keys"].insert_one(
        {
            "user_id": ME,
            "token_hash": hashlib.sha256(secret.encode()).hexdigest(),
            "scopes": ["stats:read"],
            "revoked": False,
        }
    )
    add_url(db, "priv_me", ME, private_stats=True)
    client = make_client(db)
    params = {"format": "json", "scope": "anon", "short_code": "priv_me", **RANGE}
    assert client.simulate_get(ROUTE, params=params, headers=bearer("spoo_" + secret)).status_code == 200
    # The hash of the whole text (prefix included) is not what is stored.
    assert_error(client.simulate_get(ROUTE, params=params, headers=bearer("spoo_spoo_" + secret)), 401, "Authorization")
    # The scheme is case-insensitive, the key is not.
    assert (
        client.simulate_get(ROUTE, params=params, headers={"Authorization": "bearer spoo_" + secret}).status_code == 200
    )
    assert_error(
        client.simulate_get(ROUTE, params=params, headers=bearer("spoo_" + secret.upper())), 401, "Authorization"
    )


@pytest.mark.parametrize(
    "doc_changes, status",
    [
        ({"expires_at": None}, 200),  # explicit "never expires"
        ({"expires_at": "2999-01-01"}, 401),  # an unreadable expiry is not "never"
        ({"scopes": "stats:read"}, 200),  # a lone string scope
        ({"scopes": None}, 403),
        ({"scopes": [{"$ne": 1}, "write"]}, 403),
        ({"user_id": None}, 401),
        ({"revoked": 1}, 401),
    ],
)
def test_odd_key_documents(db, doc_changes, status):
    key = add_api_key(db, ME, scopes=["stats:read"])
    db["api-keys"].update_one({}, {"$set": doc_changes})
    add_url(db, "priv_me", ME, private_stats=True)
    resp = make_client(db).simulate_get(
        ROUTE, params={"format": "json", "scope": "anon", "short_code": "priv_me", **RANGE}, headers=bearer(key)
    )
    if status == 200:
        assert resp.status_code == 200, resp.text
    else:
        assert_error(resp, status, "Authorization")


def test_credentials_are_checked_before_parameters(world):
    client, keys = world
    resp = client.simulate_get(
        ROUTE, params={"format": "pdf", "scope": "anon", "short_code": "pub_me"}, headers=bearer(keys["revoked"])
    )
    assert_error(resp, 401, "Authorization")
    resp = client.simulate_get(
        ROUTE,
        params={"format": "pdf", "scope": "anon", "short_code": "pub_me"},
        headers=bearer(keys["valid:stats:read"]),
    )
    assert_error(resp, 400, "format")


# --------------------------------------------------------------------------------------
# Pluggable authenticators
# --------------------------------------------------------------------------------------


class HeaderAuthenticator:
    """A host authenticator: ``X-User`` names the owner; ``X-User: bad`` is a refused session."""

    def __call__(self, req: Any) -> Any:
        user = req.get_header("X-User")
        if user is None:
            return None
        if user == "bad":
            raise Unauthorized("session expired", "session")
        return {"me": ME, "other": OTHER}[user]


def test_authenticator_protocol_is_public():
    from spoo_export_plugin.access.auth import Authenticator

    assert isinstance(HeaderAuthenticator(), Authenticator)


@pytest.mark.parametrize(
    "user, scope, code, status, param, total",
    [
        ("me", "all", None, 200, None, 3),
        ("other", "all", None, 200, None, 12),
        ("me", "anon", "priv_me", 200, None, 2),
        ("other", "anon", "priv_me", 403, "short_code", None),
        (None, "anon", "priv_me", 401, "short_code", None),
        (None, "anon", "pub_me", 200, None, 1),
        (None, "all", None, 401, "scope", None),
        ("bad", "anon", "pub_me", 401, "session", None),
    ],
)
def test_host_authenticator(db, user, scope, code, status, param, total):
    seed(db)
    client = make_client(db, authenticator=HeaderAuthenticator(), jwt_secret="ignored-when-a-host-one-is-set")
    params = {"format": "json", "scope": scope, **RANGE}
    if code:
        params["short_code"] = code
    resp = client.simulate_get(ROUTE, params=params, headers={"X-User": user} if user else {})
    if status != 200:
        assert_error(resp, status, param)
    else:
        assert resp.status_code == 200, resp.text
        assert resp.json["summary"]["total_clicks"] == total


def test_host_authenticator_and_api_keys_coexist(db):
    keys = seed(db)
    client = make_client(db, authenticator=HeaderAuthenticator())
    params = {"format": "json", "scope": "all", **RANGE}
    assert client.simulate_get(ROUTE, params=params, headers=bearer(keys["valid:admin:all"])).status_code == 200
    assert_error(client.simulate_get(ROUTE, params=params, headers=bearer(keys["revoked"])), 401, "Authorization")
    # A header the host authenticator does not recognise is refused, not served anonymously.
    resp = client.simulate_get(
        ROUTE,
        params={"format": "json", "scope": "anon", "short_code": "pub_me", **RANGE},
        headers={"Authorization": "Bearer something-else"},
    )
    assert_error(resp, 401, "Authorization")


def test_non_callable_authenticator_fails_at_start_up(db):
    from spoo_export_plugin import ConfigurationError

    with pytest.raises(ConfigurationError):
        make_app(ExportSettings(database=db, authenticator="not callable"))
