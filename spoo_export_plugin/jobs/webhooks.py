"""Job webhooks: the target checked at submission, and a signed POST when the job ends.

Signed per Standard Webhooks (https://www.standardwebhooks.com): ``webhook-id`` names the
message (the same on every retry, so a receiver can drop a repeat), ``webhook-timestamp`` is
the attempt's time in seconds, ``webhook-signature`` is ``v1,<base64 HMAC-SHA256 of
"id.timestamp.body">`` under the key ``webhook_secret`` holds (``whsec_<base64>``). Signing goes
through the ``standardwebhooks`` library, so receivers' own verifiers agree with it.

The target is judged again before every attempt and the attempt connects to an address that
judgement accepted (:mod:`.net`): a host that resolved to a public address at submission and to
an internal one later is refused then, not connected to.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from standardwebhooks import Webhook

from .._version import __version__
from ..core.exceptions import BadRequest
from ..core.settings import ExportSettings
from .net import PinnedConnection, UnresolvableHost, WebhookTarget, resolve_target

log = logging.getLogger("spoo_export_plugin")

#: Attempts in all, and the seconds waited before the 2nd, 3rd, 4th and 5th.
ATTEMPTS = 5
BACKOFF_SECONDS = (1, 2, 4, 8)
#: At most this much of a receiver's answer is read (its body means nothing to the sender).
RESPONSE_READ_LIMIT = 1024
USER_AGENT = f"spoo-export-plugin/{__version__} (webhooks)"


@dataclass(frozen=True)
class Delivery:
    """How a webhook went: ``status`` is the last HTTP status (None: no answer), ``error`` says
    for a person why the last attempt failed (None when delivered)."""

    delivered: bool
    attempts: int
    webhook_id: str
    status: int | None = None
    error: str | None = None


def check_webhook_url(url: str, settings: ExportSettings) -> None:
    """Refuse (400 naming ``webhook_url``) a URL that webhooks may not go to.

    An absolute https URL (http only with ``webhook_allow_http``), no ``user:pass@``, a host that
    resolves, and only to public addresses (unless ``webhook_allow_private``); and none at all
    when ``webhook_secret`` is unset, since such webhooks could not be signed.
    """
    resolve_target(url, settings)


def webhook_id(event: Mapping[str, Any], body: bytes) -> str:
    """The message's id: from the job's id and the event type, so a job run again after a crash
    sends the same id and the receiver sees one event (from the body when there is no job id)."""
    data = event.get("data")
    job_id = data.get("id") if isinstance(data, Mapping) else None
    basis = f"{job_id}.{event.get('type')}".encode() if job_id else body
    return "msg_" + hashlib.sha256(basis).hexdigest()[:32]


def deliver(
    url: str,
    event: Mapping[str, Any],
    settings: ExportSettings,
    *,
    sleep: Callable[[float], object] = time.sleep,
    message_id: str | None = None,
) -> Delivery:
    """POST ``event`` (``{"type", "timestamp", "data"}``) to ``url``, signed; retried with backoff.

    Up to :data:`ATTEMPTS` attempts, :data:`BACKOFF_SECONDS` apart (``sleep`` waits them; tests
    pass a fake). A 2xx delivers; any other status (a 3xx too: redirects are not followed), a
    timeout (``webhook_timeout_seconds`` for the whole attempt), a refused connection or a host
    that does not resolve is retried. A target that is no longer allowed ends the delivery at
    once. Never raises for the receiver's behaviour: the result says what happened.
    """
    body = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
    msg_id = message_id or webhook_id(event, body)
    signer = Webhook(settings.webhook_secret) if settings.webhook_secret else None
    job = event.get("data", {}).get("id") if isinstance(event.get("data"), Mapping) else None
    context = f"webhook {msg_id} ({event.get('type')}, job {job})"
    status: int | None = None
    error: str | None = None
    for attempt in range(1, ATTEMPTS + 1):
        if attempt > 1:
            sleep(BACKOFF_SECONDS[attempt - 2])
        try:
            target = resolve_target(url, settings)
        except UnresolvableHost as exc:
            status, error = None, exc.message
            log.warning("%s attempt %d/%d: %s", context, attempt, ATTEMPTS, error)
            continue
        except BadRequest as exc:
            log.warning("%s attempt %d/%d refused, not retried: %s", context, attempt, ATTEMPTS, exc.message)
            return Delivery(False, attempt, msg_id, None, f"target refused: {exc.message}")
        assert signer is not None  # resolve_target refuses every URL when there is no secret
        address = target.addresses[(attempt - 1) % len(target.addresses)]
        status, error = _post(target, address, body, _headers(signer, msg_id, body), settings)
        where = f"{target.origin} [{address[1][0]}]"
        if error is None:
            log.info("%s attempt %d/%d to %s: delivered (HTTP %s)", context, attempt, ATTEMPTS, where, status)
            return Delivery(True, attempt, msg_id, status, None)
        log.warning("%s attempt %d/%d to %s: %s", context, attempt, ATTEMPTS, where, error)
    log.error("%s not delivered after %d attempts: %s", context, ATTEMPTS, error)
    return Delivery(False, ATTEMPTS, msg_id, status, error)


def _headers(signer: Webhook, msg_id: str, body: bytes) -> dict[str, str]:
    """One attempt's headers: a fresh timestamp and the signature over it."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Connection": "close",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signer.sign(msg_id, now, body),
    }


def _post(
    target: WebhookTarget, address: tuple[int, Any], body: bytes, headers: dict[str, str], settings: ExportSettings
) -> tuple[int | None, str | None]:
    """One POST to one pinned address: ``(status, None)`` on a 2xx, else ``(status or None, why)``.

    ``webhook_timeout_seconds`` bounds the whole attempt (connect, TLS, sending, the answer's
    head and the little of its body read), not each socket call: a receiver trickling its
    answer a byte at a time is cut off like a silent one.
    """
    timeout = float(settings.webhook_timeout_seconds)
    tls = ssl.create_default_context() if target.scheme == "https" else None
    connection = PinnedConnection(target.host, target.port, address, timeout=timeout, tls=tls)
    watchdog = threading.Timer(timeout, connection.abort)
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.request("POST", target.request_target, body=body, headers=headers)
        response = connection.getresponse()
        response.read(RESPONSE_READ_LIMIT)
    except ssl.SSLCertVerificationError as exc:
        return None, f"the receiver's TLS certificate was not accepted: {exc.verify_message}"
    except (OSError, http.client.HTTPException) as exc:
        if connection.aborted or isinstance(exc, TimeoutError):
            return None, f"no answer within {timeout:g} s"
        return None, f"connection failed: {type(exc).__name__}: {str(exc)[:200]}"
    finally:
        watchdog.cancel()
        connection.close()
    if 200 <= response.status < 300:
        return response.status, None
    if 300 <= response.status < 400:
        return response.status, f"HTTP {response.status}: a redirect, not followed (webhooks go to the URL given)"
    return response.status, f"HTTP {response.status}"
