"""Click-statistics export (json, xml, xlsx, csv) for self-hosted URL shorteners on MongoDB."""

from .app import create_app
from .exceptions import (BadRequest, ConfigurationError, ExportError, Forbidden, NotFound, RateLimited,
                         Unauthorized, Unavailable)
from .middleware import ExportMiddleware
from .resource import ExportResource
from .settings import ClickFields, ExportSettings

__version__ = "0.1.0"

__all__ = [
    "BadRequest", "ClickFields", "ConfigurationError", "ExportError", "ExportMiddleware", "ExportResource",
    "ExportSettings", "Forbidden", "NotFound", "RateLimited", "Unauthorized", "Unavailable", "create_app",
    "__version__",
]
