"""A minimal ASGI host app wrapped with ExportASGIMiddleware, to try the uvicorn recipes::

    SPOO_EXPORT_MONGODB_URI=mongodb://localhost:27017 \\
    uvicorn spoo_export_plugin.contrib.example_asgi_host:app --host 0.0.0.0 --port 8000

    SPOO_EXPORT_MONGODB_URI=mongodb://localhost:27017 \\
    gunicorn -k uvicorn_worker.UvicornWorker --no-control-socket -w 2 -b 0.0.0.0:8000 \\
        spoo_export_plugin.contrib.example_asgi_host:app

The ASGI twin of ``example_host.py``: settings from the ``SPOO_EXPORT_*`` variables, the
plugin's log lines (one JSON object per export) to stderr at ``SPOO_EXPORT_LOG_LEVEL`` (info),
since uvicorn configures only its own loggers. Plain ASGI, so it needs no framework; a FastAPI
host writes ``app.add_middleware(ExportASGIMiddleware, settings=settings)`` instead.
"""

from __future__ import annotations

import os

from spoo_export_plugin import ExportASGIMiddleware, ExportSettings
from spoo_export_plugin.ops.serve import configure_logging
from spoo_export_plugin.web.asgi import Receive, Scope, Send


async def host_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Stands for the shortener itself: every path but the export route lands here; a POST's body
    is read, as the shortener's own forms and API do. Lifespan events are acknowledged."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    received = 0
    if scope["method"] == "POST":
        more = True
        while more:
            message = await receive()
            received += len(message.get("body", b""))
            more = message.get("more_body", False)
    body = b"the host app answered " + scope["path"].encode("utf-8")
    if received:
        body += b" (%d bytes received)" % received
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


configure_logging(os.environ.get("SPOO_EXPORT_LOG_LEVEL", "info"))
app = ExportASGIMiddleware(host_app, ExportSettings.from_env())
