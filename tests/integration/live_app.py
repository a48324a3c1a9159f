"""The plugin's WSGI app under a real threaded HTTP server over a seeded SecantusDB database: what the
schemathesis runs (test_schemathesis.py, test_schemathesis_jobs.py) send their requests to."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from bson import ObjectId

from spoo_export_plugin import ExportSettings, create_app

from ..factories import add_api_key, add_url, make_click


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:  # keep the test output readable
        pass


def seed(db: Any) -> str:
    """An owner with a key and a URL, a public URL, and 24 clicks over both; the owner's key."""
    owner = ObjectId()
    key = add_api_key(db, owner)
    add_url(db, "demo", owner, created_at=datetime(2025, 1, 1))
    add_url(db, "mylink", None, created_at=datetime(2025, 1, 1))
    base = datetime(2025, 3, 9, 6, 0)
    browsers = ["Chrome", "Firefox", "Safari"]
    db.clicks.insert_many(
        [
            make_click(
                "demo" if i % 2 else "mylink",
                owner,
                base + timedelta(hours=7 * i),
                ip_address=f"10.0.0.{i}",
                browser=browsers[i % 3],
                referrer=None if i % 4 == 0 else "https://google.com",
            )
            for i in range(24)
        ]
    )
    return key


@contextmanager
def live_app(
    secantus_uri: str, database_name: str, statuses: Counter, methods: Counter, **settings: Any
) -> Iterator[dict[str, Any]]:
    """The app over a fresh seeded database, counting each answer's status and each request's method;
    yields its base ``url``, the owner's ``key`` and the ``db``."""
    import pymongo

    client = pymongo.MongoClient(secantus_uri, directConnection=True)
    db = client.get_database(database_name)
    client.drop_database(db.name)
    key = seed(db)
    app = create_app(
        ExportSettings(
            mongodb_uri=secantus_uri,
            database_name=db.name,
            authenticated_limits="1000000/minute",
            anonymous_limits="1000000/minute",
            **settings,
        )
    )

    def counting(environ: dict, start_response: Any) -> Any:
        methods[environ["REQUEST_METHOD"]] += 1

        def record(status: str, headers: Any, exc_info: Any = None) -> Any:
            statuses[int(status.split()[0])] += 1
            return start_response(status, headers, exc_info)

        return app(environ, record)

    server = make_server("127.0.0.1", 0, counting, server_class=_Server, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"url": f"http://127.0.0.1:{server.server_port}", "key": key, "db": db}
    finally:
        server.shutdown()
        server.server_close()
        client.drop_database(db.name)
        client.close()


def headers_made_invalid(case: Any) -> bool:
    """Whether schemathesis made this case's headers invalid on purpose (it removed the credentials)."""
    from schemathesis.core.parameters import ParameterLocation
    from schemathesis.generation import GenerationMode

    info = case.meta.components.get(ParameterLocation.HEADER) if case.meta is not None else None
    return info is not None and info.mode == GenerationMode.NEGATIVE
