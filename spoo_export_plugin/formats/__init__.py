"""File formats, one module each, registered by name.

A format is a name, a media type, a file extension and a function that renders a
:class:`~spoo_export_plugin.core.report.Report` as an iterable of byte chunks (so files stream).
Adding a format means adding one module here that calls :func:`register`: every module of
this package is imported below, in name order, so no other file needs to change.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable

if TYPE_CHECKING:
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


FORMATS: dict[str, Format] = {}


def register(fmt: Format) -> Format:
    if fmt.name in FORMATS and FORMATS[fmt.name] != fmt:
        raise ValueError(f"two formats are named {fmt.name!r}")
    FORMATS[fmt.name] = fmt
    return fmt


for _module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    importlib.import_module(f"{__name__}.{_module.name}")  # registration side effect
del _module
