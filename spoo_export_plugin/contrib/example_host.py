"""A minimal host app wrapped with ExportMiddleware, to try the gunicorn config::

    SPOO_EXPORT_MONGODB_URI=mongodb://localhost:27017 \\
    gunicorn -c python:spoo_export_plugin.contrib.gunicorn_conf spoo_export_plugin.contrib.example_host:app
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from spoo_export_plugin import ExportMiddleware, ExportSettings


def host_app(environ: dict, start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Stands for the shortener itself: every path but the export route lands here; a POST's body
    is read, as the shortener's own forms and API do."""
    received = len(environ["wsgi.input"].read()) if environ.get("REQUEST_METHOD") == "POST" else 0
    body = b"the host app answered " + environ.get("PATH_INFO", "").encode("latin-1")
    if received:
        body += b" (%d bytes received)" % received
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


app = ExportMiddleware(host_app, ExportSettings.from_env())
