"""File formats, registered by name; each built-in format renders in a module of its own.

A format is a name, a media type, a file extension and a function that renders a
:class:`~spoo_export_plugin.core.report.report.Report` as an iterable of byte chunks (so files stream),
and optionally one that renders raw clicks (:class:`~spoo_export_plugin.core.report.click_rows.ClickExport`).

The registry is filled explicitly: :func:`register_builtins` registers :data:`BUILTINS`, whose
render functions are :class:`Deferred` references to their modules. A format's module, and its
library, is imported when the format first renders (openpyxl with the first xlsx file, xmltodict
with the first xml file), so importing this package imports neither. A host adds a format of
its own with :func:`register`. See docs/formats.md, "Adding a format".
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..core.report.click_rows import ClickExport
    from ..core.report.report import Report
    from ..core.settings import ExportSettings


@dataclass(frozen=True)
class Format:
    name: str
    media_type: str
    extension: str
    render: Callable[[Report, ExportSettings], Iterable[bytes]]
    #: Response headers of this format beyond type and file name (html: its Content-Security-Policy).
    headers: tuple[tuple[str, str], ...] = ()
    #: Renders a raw-click export (``<route>/clicks``); None = the format has no raw-click file.
    render_clicks: Callable[[ClickExport, ExportSettings], Iterable[bytes]] | None = None

    def write_clicks(self, export: ClickExport, settings: ExportSettings) -> Iterable[bytes]:
        """The raw-click file; a format without one is a programming error (the parameters refuse it)."""
        if self.render_clicks is None:
            raise ValueError(f"the {self.name} format writes no raw-click file")
        return self.render_clicks(export, settings)


@dataclass(frozen=True)
class Deferred:
    """A function of a module of this package, imported when first called: ``Deferred("_xlsx", "render_xlsx")``.

    The registry knows a format's name, type and whether it writes raw clicks without importing
    its module; the module (and openpyxl, xmltodict...) loads with the first file of that format.
    """

    module: str
    function: str

    def resolve(self) -> Callable[..., Any]:
        return getattr(importlib.import_module(f"{__package__}.{self.module}"), self.function)

    def __call__(self, *args: Any) -> Any:
        return self.resolve()(*args)


#: The html report's policy, repeated in a ``<meta>`` element (``_html.py``) for the saved file opened from
#: disk: nothing loads or runs but the inline style and ``data:`` images; no ``<base>`` may move relative
#: URLs and no form may submit anywhere (the page has neither; the policy keeps injected markup from using them).
HTML_PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
#: The response header: the page's policy, and no site may frame the report (clickjacking).
#: ``frame-ancestors`` only works in a header: browsers ignore it in a ``<meta>`` (and warn), so the
#: meta copy is :data:`HTML_PAGE_POLICY` without it.
HTML_CONTENT_SECURITY_POLICY = HTML_PAGE_POLICY + "; frame-ancestors 'none'"

#: The built-in formats, in name order; :func:`register_builtins` registers them.
BUILTINS = (
    Format(
        "csv",
        "application/zip",
        "zip",
        Deferred("_csv", "render_csv"),
        render_clicks=Deferred("_csv", "render_clicks_csv"),
    ),
    Format(
        "html",
        "text/html; charset=utf-8",
        "html",
        Deferred("_html", "render_html"),
        headers=(("Content-Security-Policy", HTML_CONTENT_SECURITY_POLICY),),
    ),
    Format(
        "json",
        "application/json",
        "json",
        Deferred("_json", "render_json"),
        render_clicks=Deferred("_json", "render_clicks_json"),
    ),
    Format(
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "xlsx",
        Deferred("_xlsx", "render_xlsx"),
        render_clicks=Deferred("_xlsx", "render_clicks_xlsx"),
    ),
    Format(
        "xml",
        "application/xml",
        "xml",
        Deferred("_xml", "render_xml"),
        render_clicks=Deferred("_xml", "render_clicks_xml"),
    ),
)

#: The formats by name: what ``format=`` accepts, what the web layer and ``spoo-export export`` render.
FORMATS: dict[str, Format] = {}


def click_formats() -> dict[str, Format]:
    """The formats that render raw clicks (``render_clicks`` set), by name."""
    return {name: fmt for name, fmt in FORMATS.items() if fmt.render_clicks is not None}


def register(fmt: Format) -> Format:
    """Add ``fmt`` to :data:`FORMATS` (again is fine; another format of the same name is a ValueError)."""
    if fmt.name in FORMATS and FORMATS[fmt.name] != fmt:
        raise ValueError(f"two formats are named {fmt.name!r}")
    FORMATS[fmt.name] = fmt
    return fmt


def register_builtins() -> None:
    """Register :data:`BUILTINS`; none of their modules is imported here."""
    for fmt in BUILTINS:
        register(fmt)


register_builtins()
