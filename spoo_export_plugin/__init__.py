"""Click-statistics export (json, xml, xlsx, csv) for self-hosted URL shorteners on MongoDB.

The package is layered (see docs/architecture.md): ``core`` (the query, no web framework),
``access`` (who may export, how often), ``formats`` (one module per file format), ``web``
(the Falcon/WSGI adapter) and ``ops`` (command line, server, demo). The names below are
the public API.
"""

import sys as _sys

from ._version import __version__
from .core.exceptions import (BadRequest, ConfigurationError, ExportError, Forbidden, NotFound, RateLimited,
                              Unauthorized, Unavailable)
from .core.settings import ClickFields, ExportSettings
from .web import errors as _errors
from .web import guard as _guard
from .web import openapi as _openapi
from .web.app import create_app
from .web.middleware import ExportMiddleware
from .web.resource import ExportResource

__all__ = [
    "BadRequest", "ClickFields", "ConfigurationError", "ExportError", "ExportMiddleware", "ExportResource",
    "ExportSettings", "Forbidden", "NotFound", "RateLimited", "Unauthorized", "Unavailable", "create_app",
    "__version__",
]

# Module paths documented before the package had layers; they stay importable as the same modules.
from .access import auth as _auth  # noqa: E402
from .ops import cli as _cli  # noqa: E402  (the console script's old home; it imports nothing else)

DOCUMENTED_ALIASES = {"auth": _auth, "cli": _cli, "errors": _errors, "guard": _guard, "openapi": _openapi}
for _name, _module in DOCUMENTED_ALIASES.items():
    _sys.modules.setdefault(f"{__name__}.{_name}", _module)
