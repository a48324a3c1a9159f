"""The built-in JWT authenticator (extra ``jwt``) through the real app.

Tokens are minted here with PyJWT and ``cryptography`` directly, the way spoo.me's auth
service would: ``Authorization: Bearer <jwt>`` or the ``access_token`` cookie, HS256 or
RS256, ``sub`` = the owner's ObjectId as hex.
"""

from __future__ import annotations

import time
from typing import Any

import falcon.testing
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from spoo_export_plugin import ConfigurationError, ExportSettings

from ..doors import make_app
from ..factories import ROUTE, add_api_key
from .test_access import CLICKS, ME, OTHER, RANGE, assert_error, make_client, seed

#: HTTP-level: each test runs through both doors (WSGI and ASGI, tests/doors.py).
pytestmark = pytest.mark.usefixtures("door")

SECRET = "hs256-secret-for-tests-that-is-long-enough-0123456789-0123456789abcdef"
ISSUER = "spoo.me"
AUDIENCE = "spoo.me-dashboard"


@pytest.fixture(scope="module")
def rsa_keys() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def claims(sub: Any = str(ME), **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    body = {"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 900}
    body.update(extra)
    return {k: v for k, v in body.items() if v is not None}


def hs(payload: dict[str, Any], secret: str = SECRET, alg: str = "HS256") -> str:
    return jwt.encode(payload, secret, algorithm=alg)


@pytest.fixture
def app(db: Any, rsa_keys: tuple[str, str]) -> falcon.testing.TestClient:
    seed(db)
    return make_client(db, jwt_secret=SECRET, jwt_public_key=rsa_keys[1], jwt_issuer=ISSUER, jwt_audience=AUDIENCE)


def call(
    client: falcon.testing.TestClient,
    scope: str,
    code: str | None = None,
    *,
    header: str | None = None,
    cookie: str | None = None,
) -> Any:
    params = {"format": "json", "scope": scope, **RANGE}
    if code:
        params["short_code"] = code
    headers = {"Authorization": f"Bearer {header}"} if header else {}
    if cookie:
        headers["Cookie"] = f"theme=dark; access_token={cookie}"
    return client.simulate_get(ROUTE, params=params, headers=headers)


@pytest.mark.parametrize("via", ["header", "cookie"])
@pytest.mark.parametrize("alg", ["HS256", "RS256"])
def test_valid_token_is_the_owner(app, rsa_keys, via, alg):
    token = hs(claims()) if alg == "HS256" else jwt.encode(claims(), rsa_keys[0], algorithm="RS256")
    kw = {via: token}
    # scope=all matches meta.owner_id only if the hex sub became an ObjectId.
    resp = call(app, "all", **kw)
    assert resp.status_code == 200, resp.text
    assert resp.json["summary"]["total_clicks"] == CLICKS["pub_me"] + CLICKS["priv_me"]
    assert call(app, "anon", "priv_me", **kw).status_code == 200
    assert_error(call(app, "anon", "priv_other", **kw), 403, "short_code")


@pytest.fixture(scope="module")
def bad_tokens() -> dict[str, str]:
    """name -> token; each must be refused with 401."""
    now = int(time.time())
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {
        "expired": hs(claims(exp=now - 5, iat=now - 1000)),
        "not_yet_valid": hs(claims(nbf=now + 3600)),
        "wrong_secret": hs(claims(), secret="another-secret-another-secret-another-secret!"),
        "wrong_issuer": hs(claims(iss="evil.example")),
        "no_issuer": hs(claims(iss=None)),
        "wrong_audience": hs(claims(aud="someone-else")),
        "no_audience": hs(claims(aud=None)),
        "no_sub": hs(claims(sub=None)),
        "empty_sub": hs(claims(sub="")),
        "hs512_not_accepted": hs(claims(), alg="HS512"),
        "rs256_other_key": jwt.encode(claims(), other_key, algorithm="RS256"),
        "alg_none": jwt.encode(claims(), None, algorithm="none"),
        "tampered": _tamper(hs(claims())),
        "garbage": "not.a.jwt",
        "refresh_token": hs(claims(type="refresh")),
        "sub_not_a_string": jwt.api_jws.encode(
            f'{{"sub": 42, "iss": "{ISSUER}", "aud": "{AUDIENCE}", "exp": {now + 60}}}'.encode(),
            SECRET,
            algorithm="HS256",
        ),
    }


def _tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    forged = jwt.utils.base64url_encode(
        jwt.utils.base64url_decode(payload).replace(str(ME).encode(), str(OTHER).encode())
    ).decode()
    return ".".join([header, forged, signature])


BAD = [
    "expired",
    "not_yet_valid",
    "wrong_secret",
    "wrong_issuer",
    "no_issuer",
    "wrong_audience",
    "no_audience",
    "no_sub",
    "empty_sub",
    "hs512_not_accepted",
    "rs256_other_key",
    "alg_none",
    "tampered",
    "garbage",
    "refresh_token",
    "sub_not_a_string",
]


@pytest.mark.parametrize("scope, code", [("all", None), ("anon", "pub_me"), ("anon", "legacy"), ("anon", "priv_me")])
@pytest.mark.parametrize("name", BAD)
def test_invalid_token_is_401_never_anonymous(app, bad_tokens, name, scope, code):
    token = bad_tokens[name]
    assert_error(call(app, scope, code, header=token), 401, "Authorization")
    assert_error(call(app, scope, code, cookie=token), 401, "access_token")


def test_header_wins_over_cookie_and_api_keys_still_work(app, db, bad_tokens):
    key = add_api_key(db, OTHER, scopes=["stats:read"])
    good, bad = hs(claims()), bad_tokens["expired"]
    # A bad header is not rescued by a good cookie, and the reverse header wins.
    assert_error(call(app, "all", header=bad, cookie=good), 401, "Authorization")
    assert call(app, "all", header=good, cookie=bad).status_code == 200
    # spoo_ keys are API keys even when JWT is on, and they decide the owner.
    resp = app.simulate_get(
        ROUTE,
        params={"format": "json", "scope": "all", **RANGE},
        headers={"Authorization": f"Bearer {key}", "Cookie": f"access_token={good}"},
    )
    assert resp.status_code == 200
    assert resp.json["summary"]["total_clicks"] == CLICKS["pub_other"] + CLICKS["priv_other"]


def test_non_hex_sub_stays_a_string(db):
    db.urlsV2.insert_one({"alias": "mine", "owner_id": "user-42", "private_stats": True})
    client = make_client(db, jwt_secret=SECRET)
    token = jwt.encode({"sub": "user-42", "exp": int(time.time()) + 60}, SECRET, algorithm="HS256")
    resp = call(client, "anon", "mine", header=token)
    assert resp.status_code == 200, resp.text


def test_without_an_issuer_setting_it_is_not_checked(db):
    seed(db)
    client = make_client(db, jwt_secret=SECRET)
    assert call(client, "all", cookie=hs(claims(iss="anyone", aud=None))).status_code == 200
    assert call(client, "all", header=hs(claims(iss=None, aud=None))).status_code == 200


@pytest.mark.parametrize("aud", ["anything", AUDIENCE, ["a", "b"]])
def test_without_an_audience_setting_a_token_naming_an_audience_is_refused(db, aud):
    """PyJWT's default: a token minted for an audience is not taken by a server that accepts none."""
    seed(db)
    client = make_client(db, jwt_secret=SECRET)
    token = hs(claims(aud=aud))
    for resp, param in [
        (call(client, "all", header=token), "Authorization"),
        (call(client, "all", cookie=token), "access_token"),
    ]:
        assert_error(resp, 401, param)  # with WWW-Authenticate: Bearer error="invalid_token"
        assert "audience" in resp.json["error"]


@pytest.mark.parametrize(
    "aud, status", [(AUDIENCE, 200), ([AUDIENCE, "other"], 200), ("other", 401), (["x", "y"], 401)]
)
def test_with_an_audience_setting_only_that_audience_passes(db, aud, status):
    seed(db)
    client = make_client(db, jwt_secret=SECRET, jwt_audience=AUDIENCE)
    resp = call(client, "all", cookie=hs(claims(iss=None, aud=aud)))
    if status == 200:
        assert resp.status_code == 200, resp.text
        assert resp.json["summary"]["total_clicks"] == CLICKS["pub_me"] + CLICKS["priv_me"]
    else:
        assert_error(resp, 401, "access_token")
    assert_error(call(client, "all", cookie=hs(claims(iss=None, aud=None))), 401, "access_token")  # aud required


def test_custom_cookie_name(db):
    seed(db)
    client = make_client(db, jwt_secret=SECRET, jwt_cookie="session")
    token = hs(claims(iss=None, aud=None))
    resp = client.simulate_get(
        ROUTE, params={"format": "json", "scope": "all", **RANGE}, headers={"Cookie": f"session={token}"}
    )
    assert resp.status_code == 200
    # The default name is no longer read: no credentials at all.
    assert_error(call(client, "all", cookie=token), 401, "scope")


def test_jwt_is_off_without_a_key(db):
    seed(db)
    client = make_client(db)
    assert_error(call(client, "all", header=hs(claims())), 401, "Authorization")
    # A cookie nobody reads is no credential: anonymous public access still works.
    assert call(client, "anon", "pub_me", cookie=hs(claims())).status_code == 200


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"jwt_secret": SECRET, "jwt_algorithms": "RS256"}, "no algorithm whose key is configured"),
        ({"jwt_secret": SECRET, "jwt_algorithms": "none"}, "not supported"),
        ({"jwt_secret": SECRET, "jwt_algorithms": ""}, "names no algorithm"),
        ({"jwt_public_key": "not a pem", "jwt_algorithms": "RS256"}, "jwt_public_key"),
    ],
)
def test_bad_jwt_configuration_fails_at_start_up(db, settings, message):
    """Names are checked when settings are built; the key itself when the app is composed."""
    with pytest.raises(ConfigurationError, match=message):
        make_app(ExportSettings(database=db, **settings))


def test_rs256_only_with_public_key(db, rsa_keys):
    seed(db)
    client = make_client(db, jwt_public_key=rsa_keys[1])
    payload = claims(aud=None)  # no jwt_audience here: a token naming one would be refused for that
    assert call(client, "all", header=jwt.encode(payload, rsa_keys[0], algorithm="RS256")).status_code == 200
    # An HS256 token signed with the public key text (algorithm confusion) is refused.
    token = _hs256_with_raw_key(payload, rsa_keys[1])
    assert_error(call(client, "all", header=token), 401, "Authorization")


def _hs256_with_raw_key(payload: dict[str, Any], key: str) -> str:
    import base64
    import hashlib
    import hmac
    import json

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(payload).encode())
    sig = hmac.new(key.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


def test_jwt_settings_from_env(db, rsa_keys):
    seed(db)
    env = {
        "SPOO_EXPORT_JWT_SECRET": SECRET,
        "SPOO_EXPORT_JWT_ISSUER": ISSUER,
        "SPOO_EXPORT_JWT_AUDIENCE": AUDIENCE,
        "SPOO_EXPORT_ANONYMOUS_LIMITS": "1000/minute",
    }
    client = falcon.testing.TestClient(make_app(ExportSettings.from_env(env, database=db)))
    assert call(client, "all", cookie=hs(claims())).status_code == 200
    assert_error(call(client, "all", cookie=hs(claims(iss="x"))), 401, "access_token")


@pytest.mark.parametrize(
    "scp, status",
    [
        (None, 200),  # an interactive session: not scope-restricted
        (["stats:read"], 200),
        (["urls:read", "shorten:create"], 200),
        (["admin:all"], 200),
        (["shorten:create"], 403),
        ([], 403),
        ("stats:read", 403),  # malformed: grants nothing
    ],
)
def test_delegated_token_scopes(app, scp, status):
    token = hs(claims(scp=scp, app_id="app-1" if scp is not None else None, type="access"))
    resp = call(app, "all", header=token)
    if status == 200:
        assert resp.status_code == 200, resp.text
    else:
        assert_error(resp, 403, "Authorization")
        assert_error(call(app, "anon", "pub_me", cookie=token), 403, "access_token")


def _one_line(pem: str, newline: str = "\\n") -> str:
    """The PEM on one line with literal backslash escapes, as .env files and CI secrets hold it."""
    return pem.strip().replace("\n", newline)


@pytest.mark.parametrize("newline", ["\\n", "\\r\\n"])
def test_public_key_with_escaped_newlines_from_the_environment(db, rsa_keys, newline):
    seed(db)
    one_line = _one_line(rsa_keys[1], newline)
    assert "\n" not in one_line and newline in one_line
    env = {
        "SPOO_EXPORT_JWT_PUBLIC_KEY": one_line,
        "SPOO_EXPORT_JWT_ALGORITHMS": "RS256",
        "SPOO_EXPORT_ANONYMOUS_LIMITS": "1000/minute",
    }
    client = falcon.testing.TestClient(make_app(ExportSettings.from_env(env, database=db)))
    resp = call(client, "all", cookie=jwt.encode(claims(iss=None, aud=None), rsa_keys[0], algorithm="RS256"))
    assert resp.status_code == 200, resp.text
    assert resp.json["summary"]["total_clicks"] == CLICKS["pub_me"] + CLICKS["priv_me"]
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert_error(call(client, "all", header=jwt.encode(claims(), other, algorithm="RS256")), 401, "Authorization")


def test_a_broken_one_line_public_key_still_fails_at_start_up(db, rsa_keys):
    broken = _one_line(rsa_keys[1]).replace("MII", "XXX", 1)
    with pytest.raises(ConfigurationError, match="jwt_public_key cannot be used for RS256"):
        make_app(ExportSettings(database=db, jwt_public_key=broken, jwt_algorithms="RS256"))


def test_a_pem_looking_secret_is_used_exactly_as_given(db):
    """Only the public key is unescaped: an HS256 secret in PEM armour (a label PyJWT does not take for a
    key) holding literal backslash-n escapes stays byte for byte."""
    seed(db)
    secret = "-----BEGIN SHARED SECRET-----\\n0123456789abcdef0123456789abcdef0123\\n-----END SHARED SECRET-----"
    client = make_client(db, jwt_secret=secret, jwt_algorithms="HS256")
    assert call(client, "all", header=hs(claims(iss=None, aud=None), secret=secret)).status_code == 200
    unescaped = secret.replace("\\n", "\n")
    assert_error(call(client, "all", header=hs(claims(iss=None, aud=None), secret=unescaped)), 401, "Authorization")


@pytest.mark.parametrize(
    "value",
    [
        "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----",  # real newlines: as given
        "ssh-rsa AAAAB3Nza\\nC1yc2E",  # not PEM: as given
        "not a key\\n",
    ],
)
def test_pem_text_changes_only_escaped_pem(value):
    from spoo_export_plugin.access.jwt_auth import pem_text

    assert pem_text(value) is value
    assert pem_text("  -----BEGIN PUBLIC KEY-----\\nMIIB\\r\\nAB\\n-----END PUBLIC KEY-----\\n ") == (
        "-----BEGIN PUBLIC KEY-----\nMIIB\nAB\n-----END PUBLIC KEY-----\n"
    )


def spoo_me_access_token(private_key: str, issuer: str = "spoo.me", audience: str = "spoo.me.api") -> str:
    """An access token as spoo.me's FastAPI app mints it (services/auth_service.py, RS256 with its key pair)."""
    now = int(time.time())
    payload = {
        "iss": issuer,
        "aud": audience,
        "sub": str(ME),
        "iat": now,
        "exp": now + 900,
        "amr": ["pwd"],
        "email_verified": True,
    }
    return jwt.encode(payload, private_key, algorithm="RS256")


def test_spoo_me_tokens_with_the_settings_docs_mounting_md_gives(db, rsa_keys):
    """docs/mounting.md: JWT_PUBLIC_KEY, JWT_ISSUER and JWT_AUDIENCE (spoo.me / spoo.me.api by default)."""
    seed(db)
    documented = make_client(
        db, jwt_public_key=rsa_keys[1], jwt_algorithms="RS256", jwt_issuer="spoo.me", jwt_audience="spoo.me.api"
    )
    resp = call(documented, "all", cookie=spoo_me_access_token(rsa_keys[0]))
    assert resp.status_code == 200, resp.text
    assert resp.json["summary"]["total_clicks"] == CLICKS["pub_me"] + CLICKS["priv_me"]
    # without jwt_audience its tokens (which always carry aud) are refused
    assert_error(
        call(make_client(db, jwt_public_key=rsa_keys[1]), "all", cookie=spoo_me_access_token(rsa_keys[0])),
        401,
        "access_token",
    )
    # spoo.me run with JWT_ISSUER= and JWT_AUDIENCE= empty mints iss "" and aud "": the plugin's two stay unset
    empty = make_client(db, jwt_public_key=rsa_keys[1], jwt_issuer="", jwt_audience="")
    assert call(empty, "all", cookie=spoo_me_access_token(rsa_keys[0], issuer="", audience="")).status_code == 200
