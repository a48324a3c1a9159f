"""Content-Disposition with an ASCII fallback and RFC 6266 ``filename*`` for the rest.

Short codes may be emoji (spoo.me allows them): such names travel in
``filename*=UTF-8''...`` (RFC 5987 percent-encoding), with a plain ASCII ``filename=``
beside it for old clients. The name itself comes from :mod:`spoo_export_plugin.core.report.filenames`.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from ..core.report.filenames import ascii_fallback_filename, export_filename

__all__ = ["ascii_fallback_filename", "content_disposition", "export_filename"]

_NOT_ASCII_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def content_disposition(filename: str, ascii_name: str | None = None) -> str:
    """``attachment; filename="..."`` plus ``filename*`` when the name is not plain ASCII.

    ``ascii_name`` replaces the derived ASCII fallback (a per-link export names its URL id there).
    """
    ascii_name = re.sub(r"_{2,}", "_", _NOT_ASCII_SAFE.sub("_", ascii_name or filename)).strip("_") or "export"
    if ascii_name == filename:
        return f'attachment; filename="{filename}"'
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"
