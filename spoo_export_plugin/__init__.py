"""Click-statistics export (json, xml, xlsx, csv, html) for self-hosted URL shorteners on MongoDB.

The package is layered (see docs/architecture.md): ``core`` (the query, no web framework),
``access`` (who may export, how often), ``formats`` (one module per file format), ``web``
(the Falcon adapters: WSGI and ASGI) and ``ops`` (command line, server, demo). The names below are
the public API.

They are loaded on first use (PEP 562), so importing the core, or ``spoo_export_plugin`` itself,
imports no web framework and no file-format library: ``from spoo_export_plugin import
ExportSettings`` loads the core's settings only, ``create_app`` the web layer.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

#: Each public name -> the module that defines it (imported when the name is first read).
_PUBLIC = {
    **dict.fromkeys(
        (
            "BadRequest",
            "ConfigurationError",
            "ExportError",
            "Forbidden",
            "NotFound",
            "RateLimited",
            "Unauthorized",
            "Unavailable",
        ),
        ".core.exceptions",
    ),
    "ClickFields": ".core.settings",
    "ExportSettings": ".core.settings",
    "create_app": ".web.app",
    "create_asgi_app": ".web.asgi",
    "ExportASGIMiddleware": ".web.asgi_middleware",
    "ExportMiddleware": ".web.middleware",
    "ExportResource": ".web.resource",
    "run_schedules": ".schedules.runner",
}

#: Module paths documented before the package had layers -> their modules now. Each old path is
#: a shim module (``spoo_export_plugin/auth.py``...) that puts the new module in its place, so
#: ``import spoo_export_plugin.auth`` gives the same module object as ``spoo_export_plugin.access.auth``.
DOCUMENTED_ALIASES = {
    "auth": "spoo_export_plugin.access.auth",
    "cli": "spoo_export_plugin.ops.cli",
    "errors": "spoo_export_plugin.web.errors",
    "guard": "spoo_export_plugin.web.guard",
    "openapi": "spoo_export_plugin.web.openapi",
}

__all__ = [
    "BadRequest",
    "ClickFields",
    "ConfigurationError",
    "ExportASGIMiddleware",
    "ExportError",
    "ExportMiddleware",
    "ExportResource",
    "ExportSettings",
    "Forbidden",
    "NotFound",
    "RateLimited",
    "Unauthorized",
    "Unavailable",
    "create_app",
    "create_asgi_app",
    "run_schedules",
    "__version__",
]

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time __getattr__ imports on first use
    from .core.exceptions import (
        BadRequest,
        ConfigurationError,
        ExportError,
        Forbidden,
        NotFound,
        RateLimited,
        Unauthorized,
        Unavailable,
    )
    from .core.settings import ClickFields, ExportSettings
    from .schedules.runner import run_schedules
    from .web.app import create_app
    from .web.asgi import create_asgi_app
    from .web.asgi_middleware import ExportASGIMiddleware
    from .web.middleware import ExportMiddleware
    from .web.resource import ExportResource


def __getattr__(name: str) -> Any:
    """A public name (or an old module path) imported from its layer when first read, then kept."""
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name], __name__), name)
    elif name in DOCUMENTED_ALIASES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, *DOCUMENTED_ALIASES})
