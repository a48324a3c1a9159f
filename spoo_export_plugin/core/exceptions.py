"""The plugin's own exception tree.

Every layer raises these; :mod:`spoo_export_plugin.web.errors` is the one place that turns
them into HTTP responses, so the query layer never imports the web framework.
"""

from __future__ import annotations


class ExportError(Exception):
    """Base class: an error a client can be told about."""

    status: int = 400
    #: Seconds a client should wait before retrying (429 and 503 only).
    retry_after: int | None = None

    def __init__(self, message: str, param: str | None = None, *, retry_after: int | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        if retry_after is not None:
            self.retry_after = retry_after


class BadRequest(ExportError):
    """A query parameter is missing, malformed or not allowed here."""

    status = 400


class Unauthorized(ExportError):
    """Credentials are missing where required, or are not valid."""

    status = 401


class Forbidden(ExportError):
    """Credentials are valid but do not allow this export."""

    status = 403


class NotFound(ExportError):
    """The short code does not exist."""

    status = 404


class Conflict(ExportError):
    """The thing asked for is not in the state the request needs (a job's file before the job is done)."""

    status = 409


class Gone(ExportError):
    """The thing asked for existed and was deleted for good (an expired job's file)."""

    status = 410


class ContentTooLarge(ExportError):
    """A request carries a body where none is read (``GET``/``HEAD`` on the plugin's routes), or a
    larger one than the route reads (a job's JSON)."""

    status = 413


class LengthRequired(ExportError):
    """A request body of unknown length where the plugin reads one (a chunked body a WSGI server cannot bound)."""

    status = 411


class UnsupportedMediaType(ExportError):
    """A request body that is not of the type the route reads (``application/json``)."""

    status = 415


class RateLimited(ExportError):
    """The caller's tier allowance is used up."""

    status = 429


class Unavailable(ExportError):
    """MongoDB cannot answer in time, or the worker is at its export limit."""

    status = 503
    retry_after = 5


#: 503 when an export outlives ``max_time_ms``: in the database (maxTimeMS) or grouping in the worker.
TIMEOUT_MESSAGE = "the export took longer than its time budget; try a shorter date range or fewer group_by dimensions"


class ConfigurationError(ValueError):
    """Settings that cannot work; raised at start-up, never per request."""
