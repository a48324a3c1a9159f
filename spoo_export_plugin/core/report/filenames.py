"""The export's file name: what is inside, readable on every system.

``spoo-export_<short code or scope>_<start>_<end>.<ext>`` with the dates as YYYYMMDD in the
report's timezone. Short codes may be emoji (spoo.me allows them): the name keeps them, and
:mod:`spoo_export_plugin.web.disposition` sends an ASCII fallback beside it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .report import Report

if TYPE_CHECKING:
    from .click_rows import ClickExport

#: Short codes may be a comma list of up to 1,000 codes: keep the name short.
MAX_SUBJECT = 48
# Characters no file name should hold on common systems (and controls), whatever the script.
_UNSAFE_IN_FILE_NAMES = re.compile(r'[\x00-\x1f\x7f-\x9f/\\:*?"<>|]+')


def export_filename(report: Report, extension: str) -> str:
    """``spoo-export_<short code or scope>_<start>_<end>.<ext>`` with dates as YYYYMMDD."""
    subject = _UNSAFE_IN_FILE_NAMES.sub("_", report.short_code or "")[:MAX_SUBJECT].strip(" ._")
    return _name(subject or report.scope, report, extension)


def ascii_fallback_filename(report: Report, extension: str) -> str | None:
    """For a per-link export whose alias is not plain ASCII: the name with the URL id instead.

    Old clients read only the ASCII ``filename=``; an emoji alias would leave them a name
    of underscores, the id still says which link the file is about.
    """
    if report.url_id is None or (report.short_code or "").isascii():
        return None
    return _name(report.url_id, report, extension)


def _name(subject: str, report: Report, extension: str) -> str:
    return f"spoo-export_{subject}_{report.start:%Y%m%d}_{report.end:%Y%m%d}.{extension}"


def clicks_filename(export: ClickExport, extension: str) -> str:
    """A raw-click export's name: ``spoo-export_clicks_<short code or scope>_<start>_<end>.<ext>``."""
    subject = _UNSAFE_IN_FILE_NAMES.sub("_", export.short_code or "")[:MAX_SUBJECT].strip(" ._")
    return f"spoo-export_clicks_{subject or export.scope}_{export.start:%Y%m%d}_{export.end:%Y%m%d}.{extension}"
