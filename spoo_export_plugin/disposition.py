"""Content-Disposition with an ASCII fallback and RFC 6266 ``filename*`` for the rest."""

from __future__ import annotations

import re
from urllib.parse import quote

from .report import Report

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def export_filename(report: Report, extension: str) -> str:
    """``spoo-export_<short code or scope>_<start>_<end>.<ext>`` with dates as YYYYMMDD."""
    subject = report.short_code or report.scope
    return (f"spoo-export_{subject}_{report.start:%Y%m%d}_{report.end:%Y%m%d}.{extension}")


def content_disposition(filename: str) -> str:
    ascii_name = _UNSAFE.sub("_", filename).strip("_") or "export"
    if ascii_name == filename:
        return f'attachment; filename="{filename}"'
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"
