"""The scheduled reports' settings, checked at start-up: where e-mail goes out (``smtp_url``), from whom
(``email_from``), and the caps.

``smtp_url`` holds a password, so no message here ever echoes more of it than its scheme and host;
:func:`parse_smtp_url` is also what ``schedules/mail.py`` connects with, so the URL that passed the
start-up check is the URL that is used.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from .exceptions import ConfigurationError

#: One plausible ASCII mailbox (RFC 5321's dot-atom local part, a dotted host name): enough to refuse
#: typos, display names and header injection (no space, CR, LF, comma or angle bracket can pass).
#: Quoted local parts and internationalised (SMTPUTF8) addresses are refused on purpose.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+")
#: ``email_from`` may carry a display name: ``Spoo reports <reports@example.com>``.
_NAMED_ADDRESS = re.compile(r"([^<>\"\\\x00-\x1f\x7f]*?)\s*<([^<>]*)>")
#: RFC 5321's limits: 64 octets of local part, 254 in all.
ADDRESS_MAX_LENGTH = 254
LOCAL_PART_MAX_LENGTH = 64

#: Security of the connection: implicit TLS (``smtps://``), ``STARTTLS`` after connecting, or none.
SMTP_SECURITIES = ("tls", "starttls", "none")
_DEFAULT_PORTS = {"tls": 465, "starttls": 587, "none": 25}
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


def is_plausible_address(text: Any) -> bool:
    """A bare mailbox (``name@example.com``) within RFC 5321's lengths; never one holding CR or LF."""
    if not isinstance(text, str) or len(text) > ADDRESS_MAX_LENGTH or not _ADDRESS.fullmatch(text):
        return False
    return len(text.rpartition("@")[0]) <= LOCAL_PART_MAX_LENGTH


@dataclass(frozen=True)
class SmtpTarget:
    """Where and how to connect: what ``smtp_url`` says, parsed. The password is kept out of ``repr``."""

    host: str
    port: int
    security: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def shown(self) -> str:
        """The server as messages and logs may name it (no user, no password)."""
        return f"{self.host}:{self.port} ({self.security})"


def parse_smtp_url(url: str) -> SmtpTarget:
    """``smtp://[user:pass@]host[:port][?starttls=true]`` or ``smtps://[user:pass@]host[:port]``.

    Raises :class:`ConfigurationError` naming ``smtp_url`` and never its credentials. A password over
    an unencrypted connection is refused unless the server is on this machine (loopback).
    """
    if not isinstance(url, str):
        raise ConfigurationError(f"smtp_url must be a string, not {type(url).__name__}")
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in ("smtp", "smtps"):
        found = f" (it starts with {scheme + '://'!r})" if scheme else ""
        raise ConfigurationError(f"smtp_url must start with smtp:// or smtps://{found}")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # an unbalanced [ in the host
        raise ConfigurationError("smtp_url does not parse as scheme://user:password@host:port") from None
    if not host:
        raise ConfigurationError("smtp_url names no host, e.g. smtp://user:password@mail.example.com:587?starttls=true")
    if parts.path not in ("", "/") or parts.fragment:
        raise ConfigurationError(f"smtp_url for {host} has a path or fragment; only ?starttls=true may follow the host")
    security = "tls" if scheme == "smtps" else "none"
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key != "starttls":
            raise ConfigurationError(f"smtp_url for {host}: unknown option {key[:40]!r} (only starttls=true|false)")
        if value.lower() not in _TRUE + _FALSE:
            raise ConfigurationError(f"smtp_url for {host}: starttls={value[:40]!r} is not true or false")
        if value.lower() in _TRUE:
            if scheme == "smtps":
                raise ConfigurationError(
                    f"smtp_url for {host}: smtps:// is TLS from the start; starttls=true is for smtp://"
                )
            security = "starttls"
    try:
        port = parts.port or _DEFAULT_PORTS[security]
    except ValueError:
        raise ConfigurationError(f"smtp_url for {host}: the port is not a number from 1 to 65535") from None
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if (username is None) != (password is None):
        raise ConfigurationError(f"smtp_url for {host}: give both user and password (user:password@host), or neither")
    if password is not None and security == "none" and not _is_loopback(host):
        raise ConfigurationError(
            f"smtp_url would send its password unencrypted to {host}; add ?starttls=true or use smtps://"
        )
    return SmtpTarget(host, port, security, username, password)


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def sender_address(email_from: str) -> tuple[str, str]:
    """``(display name, address)`` of ``email_from`` (the name may be empty); ConfigurationError if implausible."""
    named = _NAMED_ADDRESS.fullmatch(email_from.strip())
    name, address = (named.group(1).strip(), named.group(2)) if named else ("", email_from.strip())
    if not is_plausible_address(address):
        raise ConfigurationError(
            f"email_from={email_from[:120]!r} is not an e-mail address (reports@example.com, "
            "or Reports <reports@example.com>)"
        )
    return name, address


def check_public_url(url: Any) -> None:
    """``public_url``: ``http(s)://host[:port][/prefix]``, no query or fragment (a file's path is joined to it)."""
    try:
        parts = urlsplit(url) if isinstance(url, str) else None
        port_ok = parts is not None and (parts.port or 1) > 0
    except ValueError:
        parts, port_ok = None, False
    if parts is not None and "@" in parts.netloc:  # never echo credentials
        raise ConfigurationError("public_url must not carry a user or password: scheme://host[:port][/path]")
    shown = str(url)[:120]
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise ConfigurationError(f"public_url={shown!r} must be an http(s) URL such as https://spoo.me")
    if parts.query or parts.fragment or url.endswith(("?", "#")) or any(c.isspace() or ord(c) < 32 for c in url):
        raise ConfigurationError(f"public_url={shown!r} must be scheme://host[:port][/path] with no query or fragment")


def check_schedule_values(settings: Any) -> None:
    """``smtp_url``, ``email_from``, ``email_attachment_max_bytes`` and ``schedules_collection``, at start-up.

    ``max_schedules_per_owner`` is checked with the other positive counts in ``settings.py``.
    """
    for name in ("smtp_url", "email_from", "public_url"):
        if getattr(settings, name) == "":
            object.__setattr__(settings, name, None)  # an empty variable is an unset one
    if settings.smtp_url is not None:
        parse_smtp_url(settings.smtp_url)
        if settings.email_from is None:
            raise ConfigurationError("email_from is needed with smtp_url: the address reports are sent from")
    if settings.email_from is not None:
        if not isinstance(settings.email_from, str) or "\r" in settings.email_from or "\n" in settings.email_from:
            raise ConfigurationError("email_from must be one line of text, e.g. Reports <reports@example.com>")
        sender_address(settings.email_from)
    if settings.public_url is not None:
        check_public_url(settings.public_url)
    size = settings.email_attachment_max_bytes
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ConfigurationError("email_attachment_max_bytes must be 0 or a positive integer (0: always send the link)")
    collection = settings.schedules_collection
    if not isinstance(collection, str) or not collection or "$" in collection or "\x00" in collection:
        raise ConfigurationError(f"schedules_collection={str(collection)[:80]!r} is not a collection name")
