"""The checks and parsers behind :class:`~spoo_export_plugin.core.settings.ExportSettings`.

Each takes one value (a URI, an origin list, algorithm names, an environment string) and
returns it parsed or raises :class:`ConfigurationError`; none needs the settings object, so
they live apart from it.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from limits.storage import SCHEMES as RATELIMIT_STORAGE_SCHEMES
from limits.strategies import STRATEGIES as RATELIMIT_STRATEGIES

from .exceptions import ConfigurationError
from .request.dimensions import parse_declared

ENV_PREFIX = "SPOO_EXPORT_"

#: Shortest ``visitor_id_secret`` accepted, in UTF-8 bytes: a short key is guessed by brute force, and
#: with it the IP address behind a pseudonym (a /24 of addresses is 256 HMACs per guess).
VISITOR_ID_SECRET_MIN_BYTES = 32
VISITOR_ID_SECRET_HOWTO = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


def check_visitor_id_secret(secret: str) -> None:
    """At least :data:`VISITOR_ID_SECRET_MIN_BYTES` bytes; the message never holds the value."""
    if len(secret.encode("utf-8", "surrogatepass")) < VISITOR_ID_SECRET_MIN_BYTES:
        raise ConfigurationError(
            f"visitor_id_secret is too short: it must be at least {VISITOR_ID_SECRET_MIN_BYTES} bytes of random "
            f"text (a short key is guessed by brute force, and visitors' IP addresses with it); make one "
            f"with: {VISITOR_ID_SECRET_HOWTO}"
        )


def check_mongodb_uri_scheme(uri: Any) -> str:
    """``mongodb://`` or ``mongodb+srv://``, returned; anything else would fail only at the first query (a 500)."""
    if not isinstance(uri, str):
        raise ConfigurationError(f"mongodb_uri is not valid: expected a string, not {type(uri).__name__}")
    if not uri.startswith(("mongodb://", "mongodb+srv://")):
        # Only the scheme is echoed: the rest of a URI may hold a password.
        found = f" (it starts with {uri.split('://', 1)[0] + '://'!r})" if "://" in uri else ""
        raise ConfigurationError(f"mongodb_uri is not valid: it must start with mongodb:// or mongodb+srv://{found}")
    return uri


def mongodb_uri_problem(uri: str) -> str | None:
    """Why a ``mongodb://`` URI does not parse, or None (other schemes, and ``mongodb+srv://``,
    whose check needs DNS and happens at first use, are not judged here)."""
    if not uri.startswith("mongodb://"):
        return None
    from pymongo.errors import PyMongoError
    from pymongo.uri_parser import parse_uri

    try:
        parse_uri(uri)
    except (ValueError, TypeError, PyMongoError) as exc:
        return str(exc)
    return None


def check_ratelimit_values(uri: str, strategy: str) -> None:
    """The storage scheme and strategy are names ``limits`` knows; a mongodb:// URI parses.

    Only values are checked here. The storage itself is built when the app is composed
    (:class:`~spoo_export_plugin.access.ratelimit.Throttle`), which reports a missing driver or a
    strategy the storage cannot run, still at start-up.
    """
    scheme = uri.split("://", 1)[0] if "://" in uri else ""
    if scheme not in RATELIMIT_STORAGE_SCHEMES:
        raise ConfigurationError(
            f"ratelimit_storage_uri={uri!r} is not usable (unknown scheme {scheme!r}); use memory://, "
            "redis://host:6379 (pip install 'spoo_export_plugin[redis]') or mongodb://host:27017"
        )
    problem = mongodb_uri_problem(uri)
    if problem:
        raise ConfigurationError(f"ratelimit_storage_uri={uri!r} is not usable ({problem})")
    if strategy not in RATELIMIT_STRATEGIES:
        raise ConfigurationError(
            f"ratelimit_strategy={strategy!r}: unknown strategy; expected one of {sorted(RATELIMIT_STRATEGIES)}"
        )


_ORIGIN = re.compile(r"[a-z][a-z0-9+.-]*://(\[[0-9a-f:.]+\]|[^\s/?#@:\[\]]+)(:\d{1,5})?")


def parse_cors_origins(value: Any) -> Any:
    """``None`` (CORS off), ``"*"``, or a tuple of origins (``scheme://host[:port]``, lower case) from a
    list or a comma list. An origin with a path or a trailing slash would never match what browsers
    send in ``Origin``: a configuration error, as is ``*`` inside a list."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str) and value.strip() == "*":
        return "*"
    try:
        items = value.split(",") if isinstance(value, str) else list(value)
    except TypeError:
        raise ConfigurationError(f"cors_origins must be a list of origins or '*', not {value!r}") from None
    origins: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ConfigurationError(f"cors_origins: {item!r} is not a string")
        origin = item.strip().lower()
        if not origin:
            continue
        if origin == "*":
            raise ConfigurationError("cors_origins: '*' allows every origin and stands alone, not in a list")
        if not _ORIGIN.fullmatch(origin):
            raise ConfigurationError(
                f"cors_origins: {item.strip()!r} is not an origin; write scheme://host[:port] "
                "with no path and no trailing slash, e.g. https://app.example.com"
            )
        origins.append(origin)
    return tuple(dict.fromkeys(origins)) or None


#: Algorithms verified with ``jwt_secret``; every other accepted one uses ``jwt_public_key``.
HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
PUBLIC_KEY_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


def parse_algorithms(value: Any) -> tuple[str, ...]:
    """``"HS256,RS256"`` (or a list) as a tuple; ``none`` and unknown names are configuration errors."""
    names = re.split(r"[\s,]+", value.strip()) if isinstance(value, str) else list(value or ())
    names = [n for n in names if n]
    if not names:
        raise ConfigurationError("jwt_algorithms names no algorithm")
    for name in names:
        if name not in HMAC_ALGORITHMS | PUBLIC_KEY_ALGORITHMS:
            raise ConfigurationError(
                f"jwt_algorithms: {name!r} is not supported; use HS256/384/512, RS256/384/512, "
                "PS256/384/512, ES256/384/512 or EdDSA"
            )
    return tuple(dict.fromkeys(names))


#: ``job_queue`` URI schemes (huey's storages; ``immediate`` runs a job inside its POST).
JOB_QUEUE_SCHEMES = ("immediate", "sqlite", "redis", "rediss")


def check_job_values(settings: Any) -> None:
    """``job_queue``, ``signing_secret`` and ``webhook_secret``, at start-up; the values of secrets are never echoed."""
    queue = settings.job_queue
    if queue == "":
        object.__setattr__(settings, "job_queue", None)  # an empty variable is an unset one
    elif queue is not None:
        scheme = queue.partition("://")[0] if isinstance(queue, str) and "://" in queue else None
        if scheme not in JOB_QUEUE_SCHEMES:
            raise ConfigurationError(
                f"job_queue={str(queue)[:80]!r}: expected immediate://, sqlite:///path/jobs.db or redis://host:6379/0"
            )
        if scheme == "sqlite" and not queue[len("sqlite://") :].startswith("/"):
            raise ConfigurationError("job_queue: sqlite:/// needs a file path, e.g. sqlite:///var/lib/spoo/jobs.db")
    for name in ("signing_secret", "webhook_secret"):
        value = getattr(settings, name)
        if value == "":
            object.__setattr__(settings, name, None)
        elif value is not None and not isinstance(value, str):
            raise ConfigurationError(f"{name} must be a string")
    if settings.signing_secret is not None and len(settings.signing_secret.encode()) < 32:
        raise ConfigurationError("signing_secret must be at least 32 bytes (a short key is brute-forced)")
    if settings.webhook_secret is not None:
        check_webhook_secret(settings.webhook_secret)


def check_webhook_secret(secret: str) -> None:
    """Standard Webhooks' key format: ``whsec_`` and base64 of at least 24 bytes."""
    body = secret[len("whsec_") :] if secret.startswith("whsec_") else None
    try:
        key = base64.b64decode(body or "", validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if body is None or len(key) < 24:
        raise ConfigurationError("webhook_secret must be whsec_<base64 of at least 24 random bytes>")


def convert_env_value(name: str, raw: str, default: Any) -> Any:
    """One ``SPOO_EXPORT_<NAME>`` string as the type of the setting's default."""
    if name == "extra_dimensions":
        return parse_declared(raw)  # device=device_type,lang=language
    if isinstance(default, bool):
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ConfigurationError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a boolean")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise ConfigurationError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not an integer") from None
    return raw
