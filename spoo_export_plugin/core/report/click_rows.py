"""What the raw-click formats render: the header of a ``<route>/clicks`` export and its rows.

A data type only (no query, no settings, no driver), so the formats may import it as they
import :mod:`.report`; :mod:`..clicks` builds it. ``rows`` is an iterator straight from the
database cursor: it can be walked once, and nothing holds the whole result.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .report import export_header, header_items

__all__ = ["ClickExport"]


@dataclass(frozen=True)
class ClickExport:
    """One raw-click export: who and which clicks (the header), then one row per click.

    ``columns`` are ``time, short_code, browser, os, country, city, referrer``, the UTM
    dimensions, ``device``, ``domain``, each declared dimension, ``bot_name``, ``visitor``; every cell
    of a row is text.
    """

    scope: str
    short_code: str | None
    timezone: str
    start: datetime
    end: datetime
    filters: dict[str, list[str]]
    exclude: dict[str, list[str]]
    exclude_bots: bool
    generated_at: datetime
    #: Matched clicks, all of them (the file holds at most ``raw_row_cap`` rows).
    total_clicks: int
    #: Rows the file holds: ``min(total_clicks, raw_row_cap)``.
    row_count: int
    columns: tuple[str, ...]
    rows: Iterable[tuple[str, ...]] = field(default=(), repr=False, compare=False)
    #: The URL of a per-link export (the command line's ``--url-id``), else None.
    url_id: str | None = None
    #: The preset the range came from (``last_month``...); None when dates were given.
    period: str | None = None

    @property
    def truncated(self) -> bool:
        """Whether more clicks matched than the file holds."""
        return self.total_clicks > self.row_count

    def header(self) -> dict[str, Any]:
        """Everything but the rows, JSON-ready (dates as ISO 8601 in the timezone), as a report's starts."""
        header = export_header(self, {"total_clicks": self.total_clicks, "truncated": self.truncated})
        if self.period is None:  # the raw-click summary names a period only when one chose the range
            del header["period"]
        return header

    def summary_items(self) -> list[tuple[str, Any]]:
        """The header as (name, value) pairs for tabular formats (csv, xlsx), as the report's are."""
        return header_items(self.header())
