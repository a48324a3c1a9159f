"""File formats, one module each, registered by name.

A format is a name, a media type, a file extension and a function that renders a
:class:`~spoo_export_plugin.report.Report` as an iterable of byte chunks (so files stream).
Adding a format means adding one module that calls :func:`register`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable

if TYPE_CHECKING:
    from ..report import Report
    from ..settings import ExportSettings


@dataclass(frozen=True)
class Format:
    name: str
    media_type: str
    extension: str
    render: Callable[["Report", "ExportSettings"], Iterable[bytes]]


FORMATS: dict[str, Format] = {}


def register(fmt: Format) -> Format:
    FORMATS[fmt.name] = fmt
    return fmt


from . import _json  # noqa: E402,F401  (registration side effect)
