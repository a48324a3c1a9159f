"""``file_url`` tokens: a job's file without credentials, until the job's file expires.

A token is ``<job id>.<expiry, Unix seconds>.<signature>``, the signature being HMAC-SHA256 of the
job id and expiry with the deployment's ``signing_secret`` (base64url, unpadded). It names the job
(a token of one job opens no other) and its expiry (changing either breaks the signature); it is
checked in constant time (:func:`hmac.compare_digest`), so its signature cannot be guessed byte by
byte from response times. No state: any process with the key checks any token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
from datetime import datetime

from ..core.exceptions import Forbidden, Gone

#: Domain separation: a signature made for file links means nothing anywhere else the key might be used.
_PURPOSE = b"spoo-export job file\x00"
_FORGED = "the file link's token is not valid (it was altered or not issued by this server)"


def _signature(secret: bytes, job_id: str, expires: int) -> str:
    mac = hmac.new(secret, _PURPOSE + f"{job_id}.{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def make_token(secret: bytes, job_id: str, expires_at: datetime) -> str:
    """The token for ``job_id``'s file, valid until ``expires_at`` (whole seconds, never later)."""
    expires = math.floor(expires_at.timestamp())
    return f"{job_id}.{expires}.{_signature(secret, job_id, expires)}"


def check_token(secret: bytes, token: str, job_id: str, now: datetime) -> None:
    """Nothing when ``token`` opens ``job_id``'s file at ``now``; else Forbidden (forged, altered, another
    job's) or Gone (expired)."""
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3 or not parts[1].isdigit() or len(parts[1]) > 12:
        raise Forbidden(_FORGED, "token")
    named_job, expires_text, signature = parts
    expected = _signature(secret, named_job, int(expires_text))
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        raise Forbidden(_FORGED, "token")
    if named_job != job_id:
        raise Forbidden("the file link's token is for another job", "token")
    if now.timestamp() >= int(expires_text):
        raise Gone("the file link has expired and the file was deleted; submit the export again", "token")
