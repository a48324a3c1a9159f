"""A WSGI app for multi-worker rate-limit tests: ``gunicorn tests.apps.ratelimit_app:app``.

Settings come from ``SPOO_EXPORT_*`` variables (route, tiers, ``ratelimit_storage_uri``);
the click data is an empty mongomock database inside each worker, so an unknown short code
answers a cheap 404 that still counts against the limit. Each response names the worker
process that served it (``X-Worker-Pid``), so a test can show its requests were spread out.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

import mongomock

from spoo_export_plugin import ExportSettings, create_app

_plugin = create_app(ExportSettings.from_env(database=mongomock.MongoClient().get_database("spoo")))


def app(environ: dict, start_response: Callable[..., Any]) -> Iterable[bytes]:
    def tagged(status: str, headers: list, exc_info: Any = None) -> Any:
        headers.append(("X-Worker-Pid", str(os.getpid())))
        return start_response(status, headers, exc_info)

    return _plugin(environ, tagged)
