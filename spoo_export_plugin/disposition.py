"""Content-Disposition with an ASCII fallback and RFC 6266 ``filename*`` for the rest.

The file name says what is inside: ``spoo-export_<short code or scope>_<start>_<end>.<ext>``
with the dates as YYYYMMDD in the report's timezone. Short codes may be emoji (spoo.me
allows them): such names travel in ``filename*=UTF-8''...`` (RFC 5987 percent-encoding),
with a plain ASCII ``filename=`` beside it for old clients.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from .report import Report

#: Short codes may be a comma list of up to 1,000 codes: keep the name short.
MAX_SUBJECT = 48
# Characters no file name should hold on common systems (and controls), whatever the script.
_UNSAFE_IN_FILE_NAMES = re.compile(r'[\x00-\x1f\x7f-\x9f/\\:*?"<>|]+')
_NOT_ASCII_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def export_filename(report: Report, extension: str) -> str:
    """``spoo-export_<short code or scope>_<start>_<end>.<ext>`` with dates as YYYYMMDD."""
    subject = _UNSAFE_IN_FILE_NAMES.sub("_", report.short_code or "")[:MAX_SUBJECT].strip(" ._")
    return f"spoo-export_{subject or report.scope}_{report.start:%Y%m%d}_{report.end:%Y%m%d}.{extension}"


def content_disposition(filename: str) -> str:
    """``attachment; filename="..."`` plus ``filename*`` when the name is not plain ASCII."""
    ascii_name = re.sub(r"_{2,}", "_", _NOT_ASCII_SAFE.sub("_", filename)).strip("_") or "export"
    if ascii_name == filename:
        return f'attachment; filename="{filename}"'
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"
