"""The built-in JWT authenticator (optional extra ``jwt``: PyJWT).

It reads ``Authorization: Bearer <jwt>`` or, failing that, the session cookie
(``access_token`` by default) that spoo.me's dashboard sends, so the dashboard's export
button works unchanged. The token's ``sub`` is the owner id. A token that is present but
invalid, expired, from the wrong issuer or audience, or a refresh token is a 401, never
anonymous access; a delegated token whose ``scp`` claim lacks an export scope is a 403.

The audience is PyJWT's default: with ``jwt_audience`` unset, a token that names an
audience (``aud``) is refused, since it was minted for some other service to accept.
"""

from __future__ import annotations

from typing import Any

from ..core.engine.store import owner_id_from_text
from ..core.exceptions import ConfigurationError, Forbidden, Unauthorized
from ..core.setting_checks import HMAC_ALGORITHMS
from ..core.settings import keyed_algorithms
from .auth import API_KEY_PREFIX, AUTH_PARAM, Authenticator, bearer_token, has_export_scope


def pem_text(key: str) -> str:
    """A PEM key as PyJWT reads it, also when given on one line with ``\\n`` escapes (as ``.env`` files hold it).

    Only a value that looks like PEM is touched, and only its escapes: base64 and the armour lines
    hold no backslash. A secret (``jwt_secret``) never goes through here: it is used as given.
    """
    if key.lstrip().startswith("-----BEGIN ") and "\\n" in key:
        return key.strip().replace("\\r\\n", "\n").replace("\\n", "\n")
    return key


class JWTAuthenticator:
    """``(req) -> owner id | None`` from a signed JWT; built once at start-up."""

    def __init__(self, settings: Any):
        try:
            import jwt
        except ImportError:  # pragma: no cover - depends on the install
            raise ConfigurationError(
                "jwt_secret/jwt_public_key need PyJWT: pip install 'spoo_export_plugin[jwt]'"
            ) from None
        self._jwt = jwt
        self.cookie = settings.jwt_cookie
        self.issuer: str | None = settings.jwt_issuer or None
        self.audience: str | None = settings.jwt_audience or None
        algorithms = jwt.algorithms.get_default_algorithms()
        self.keys: dict[str, Any] = {}
        for name in keyed_algorithms(settings):  # only algorithms whose key is configured are accepted
            raw = settings.jwt_secret if name in HMAC_ALGORITHMS else pem_text(settings.jwt_public_key)
            if name not in algorithms:  # pragma: no cover - PyJWT without cryptography
                raise ConfigurationError(f"jwt_algorithms: {name} needs 'PyJWT[crypto]'")
            try:
                self.keys[name] = algorithms[name].prepare_key(raw)
            except Exception as exc:
                which = "jwt_secret" if name in HMAC_ALGORITHMS else "jwt_public_key"
                raise ConfigurationError(f"{which} cannot be used for {name}: {exc}") from None

    def token(self, req: Any) -> tuple[str | None, str]:
        """The raw token and where it came from (the header wins over the cookie)."""
        token = bearer_token(req.get_header("Authorization"))
        if token is not None:
            return (None if token.startswith(API_KEY_PREFIX) else token), AUTH_PARAM
        cookie = (req.cookies or {}).get(self.cookie) if self.cookie else None
        return (cookie.strip() or None if isinstance(cookie, str) else None), self.cookie

    def __call__(self, req: Any) -> Any:
        token, source = self.token(req)
        if token is None:
            return None
        jwt = self._jwt
        try:
            alg = jwt.get_unverified_header(token).get("alg")
            key = self.keys.get(alg) if isinstance(alg, str) else None
            if key is None:
                raise Unauthorized("the session token is signed with an algorithm this server does not accept", source)
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                issuer=self.issuer,
                audience=self.audience,
                options={"require": ["sub"]},  # aud verified as PyJWT does by default (see the docstring)
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the session token has expired", source) from None
        except jwt.InvalidAudienceError:
            raise Unauthorized(
                "the session token is for an audience (aud) this server does not accept", source
            ) from None
        except jwt.PyJWTError:
            raise Unauthorized("the session token is not valid", source) from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject.strip():
            raise Unauthorized("the session token names no user", source)
        if claims.get("type") == "refresh":
            raise Unauthorized("a refresh token cannot be used as an access token", source)
        # Delegated (device-app) tokens carry their scopes in "scp", like API keys;
        # a malformed claim grants nothing. Interactive sessions have no "scp".
        scopes = claims.get("scp")
        if scopes is not None and not has_export_scope(scopes):
            raise Forbidden("the token lacks the stats:read, urls:read or admin:all scope", source)
        return owner_id_from_text(subject.strip())


def build_authenticator(settings: Any) -> Authenticator | None:
    """The host's authenticator if given, else the built-in JWT one when a key is configured."""
    if settings.authenticator is not None:
        if not callable(settings.authenticator):
            raise ConfigurationError("authenticator must be a callable (req) -> owner id or None")
        return settings.authenticator
    if settings.jwt_secret or settings.jwt_public_key:
        return JWTAuthenticator(settings)
    return None
