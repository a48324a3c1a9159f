"""File formats, one module each, registered by name.

A format is a name, a media type, a file extension and a function that renders a
:class:`~spoo_export_plugin.core.report.Report` as an iterable of byte chunks (so files stream),
and optionally one that renders raw clicks (:class:`~spoo_export_plugin.core.click_rows.ClickExport`).
Adding a format means adding one module here that calls :func:`register`: every module of
this package is imported below, in name order, so no other file needs to change.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable, Optional

if TYPE_CHECKING:
    from ..core.click_rows import ClickExport
    from ..core.report import Report
    from ..core.settings import ExportSettings


@dataclass(frozen=True)
class Format:
    name: str
    media_type: str
    extension: str
    render: Callable[["Report", "ExportSettings"], Iterable[bytes]]
    #: Response headers of this format beyond type and file name (html: its Content-Security-Policy).
    headers: tuple[tuple[str, str], ...] = ()
    #: Renders a raw-click export (``<route>/clicks``); None = the format has no raw-click file.
    render_clicks: Optional[Callable[["ClickExport", "ExportSettings"], Iterable[bytes]]] = None


FORMATS: dict[str, Format] = {}


def click_formats() -> dict[str, Format]:
    """The formats that render raw clicks (``render_clicks`` set), by name."""
    return {name: fmt for name, fmt in FORMATS.items() if fmt.render_clicks is not None}


def register(fmt: Format) -> Format:
    if fmt.name in FORMATS and FORMATS[fmt.name] != fmt:
        raise ValueError(f"two formats are named {fmt.name!r}")
    FORMATS[fmt.name] = fmt
    return fmt


for _module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    importlib.import_module(f"{__name__}.{_module.name}")  # registration side effect
del _module
