"""Where a webhook may go, and a connection that goes exactly there.

A webhook URL is chosen by a caller, and the server POSTs to it: without care, that is a way to
make the server talk to its own loopback, the cloud metadata address (169.254.169.254) or the
private network behind it (server-side request forgery). :func:`resolve_target` resolves the
host once and judges every address it resolves to; :class:`PinnedConnection` then connects to
one of exactly those addresses, so a DNS answer that changes between the check and the connect
(DNS rebinding) never reaches the socket. The hostname still goes in ``Host``, in TLS SNI and in
the certificate check, so name-based hosting and certificate verification work as for any client.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from ..core.exceptions import BadRequest
from ..core.settings import ExportSettings

PARAM = "webhook_url"
#: Longer URLs are refused (and never echoed): a receiver's address fits in far less.
MAX_URL_LENGTH = 2048
#: Printable ASCII but the space: kept as written in a request target; anything else is percent-encoded.
_TARGET_SAFE = "".join(chr(code) for code in range(0x21, 0x7F))
#: IPv6 prefixes that carry an IPv4 address in their last 32 bits (IPv4-mapped, NAT64's well-known
#: prefix): such an address reaches that IPv4 address, so the IPv4 address is what is judged.
_EMBEDDING_IPV4 = (ipaddress.IPv6Network("::ffff:0:0/96"), ipaddress.IPv6Network("64:ff9b::/96"))
_SHARED_ADDRESS_SPACE = ipaddress.IPv4Network("100.64.0.0/10")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnresolvableHost(BadRequest):
    """The host does not resolve (now): refused at submission, retried at delivery (DNS may recover)."""


@dataclass(frozen=True)
class WebhookTarget:
    """A checked webhook URL: where to connect (the addresses judged) and what to ask for."""

    scheme: str
    host: str  # ASCII (IDNA) form: Host header, TLS SNI and certificate name
    port: int
    request_target: str  # path and query
    addresses: tuple[tuple[int, Any], ...]  # (family, sockaddr) from getaddrinfo, all judged

    @property
    def origin(self) -> str:
        """``scheme://host:port``: what logs show (a receiver's path may hold its own secret)."""
        return f"{self.scheme}://{self.host}:{self.port}"


def address_refusal(address: IPAddress) -> str | None:
    """What kind of non-public address this is (for the message), or None when it is public.

    Python's ``is_global`` is the base; multicast and reserved blocks are named on their own
    (some are ``is_global``), and an IPv6 address that embeds an IPv4 one is judged by the
    IPv4 address it reaches (``::ffff:127.0.0.1`` is loopback).
    """
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id is not None:  # fe80::1%eth0: the scope says which link, not what the address is
            address = ipaddress.IPv6Address(str(address).partition("%")[0])
        for network in _EMBEDDING_IPV4:
            if address in network:
                return address_refusal(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address.sixtofour is not None and address_refusal(address.sixtofour) is not None:
            return "6to4 address of a non-public IPv4 address"
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("shared address space (carrier-grade NAT)", address in _SHARED_ADDRESS_SPACE),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("non-public", not address.is_global),
    )
    return next((name for name, applies in checks if applies), None)


def resolve_target(url: object, settings: ExportSettings) -> WebhookTarget:
    """The webhook URL checked and resolved, else a :class:`BadRequest` naming ``webhook_url``.

    Every address the host resolves to must be public (unless ``webhook_allow_private``): a
    name that resolves to one public and one private address is refused, since a client may
    use either.
    """
    if settings.webhook_secret is None:
        raise BadRequest("webhooks are off on this server: the operator must set webhook_secret to sign them", PARAM)
    if not isinstance(url, str) or not url:
        raise BadRequest("webhook_url must be a string: an absolute https:// URL", PARAM)
    if len(url) > MAX_URL_LENGTH:
        raise BadRequest(f"webhook_url is longer than {MAX_URL_LENGTH} characters", PARAM)
    if any(char.isspace() or not char.isprintable() for char in url):
        raise BadRequest("webhook_url contains spaces or control characters", PARAM)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise BadRequest("webhook_url is not a valid URL (its host or port cannot be read)", PARAM) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.netloc:
        raise BadRequest("webhook_url must be an absolute https:// URL", PARAM)
    if scheme == "http" and not settings.webhook_allow_http:
        raise BadRequest("webhook_url must use https (this server sends no webhook over plain http)", PARAM)
    if parts.username is not None or parts.password is not None:
        raise BadRequest("webhook_url must not carry a user name or password (user:pass@)", PARAM)
    if not parts.hostname:
        raise BadRequest("webhook_url has no host", PARAM)
    try:
        host = parts.hostname.encode("idna").decode("ascii")
    except UnicodeError:
        raise BadRequest("webhook_url's host is not a valid host name", PARAM) from None
    if port is None:
        port = 443 if scheme == "https" else 80
    if port == 0:
        raise BadRequest("webhook_url's port must be between 1 and 65535", PARAM)
    addresses = _resolve(host, port)
    if not settings.webhook_allow_private:
        for _family, sockaddr in addresses:
            refusal = address_refusal(ipaddress.ip_address(sockaddr[0]))
            if refusal is not None:
                raise BadRequest(
                    f"webhook_url's host resolves to a {refusal} address ({sockaddr[0]}); "
                    "webhooks go to public addresses only",
                    PARAM,
                )
    path = quote(parts.path or "/", safe=_TARGET_SAFE)
    query = "?" + quote(parts.query, safe=_TARGET_SAFE) if parts.query else ""
    return WebhookTarget(scheme, host, port, path + query, addresses)


def _resolve(host: str, port: int) -> tuple[tuple[int, Any], ...]:
    shown = host if len(host) <= 80 else host[:80] + "..."
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        raise UnresolvableHost(f"webhook_url's host {shown!r} does not resolve", PARAM) from None
    addresses = tuple(dict.fromkeys((family, sockaddr) for family, _type, _proto, _name, sockaddr in infos))
    if not addresses:
        raise UnresolvableHost(f"webhook_url's host {shown!r} does not resolve", PARAM)
    return addresses


class PinnedConnection(http.client.HTTPConnection):
    """An HTTP(S) connection to one given address, speaking to the hostname it was checked for.

    ``http.client`` would resolve ``host`` again when it connects; here the socket goes to
    ``address`` (one of the addresses :func:`resolve_target` judged), while ``Host``, SNI and the
    certificate check use the hostname. ``http.client`` follows no redirects. :meth:`abort`
    ends a connection from another thread (the attempt's overall deadline).
    """

    def __init__(
        self, host: str, port: int, address: tuple[int, Any], *, timeout: float, tls: ssl.SSLContext | None
    ) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address
        self.tls = tls
        self._handle: socket.socket | None = None  # a duplicate of the socket, for abort()
        self._lock = threading.Lock()
        self.aborted = False

    def connect(self) -> None:
        family, sockaddr = self.address
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            with self._lock:
                if self.aborted:
                    raise TimeoutError("timed out")
                self._handle = sock.dup()
            sock.connect(sockaddr)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock = self.tls.wrap_socket(sock, server_hostname=self.host) if self.tls else sock
        except BaseException:
            sock.close()
            raise

    def abort(self) -> None:
        """Stop whatever the connection is waiting for: its reads see the end of the stream."""
        with self._lock:
            self.aborted = True
            if self._handle is not None:
                try:
                    self._handle.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # not connected yet (its connect timeout applies) or already closed

    def close(self) -> None:
        super().close()
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None
