"""``spoo-export demo``: the plugin mounted in a tiny host app, over an in-memory dataset.

No database to install: each gunicorn worker builds a mongomock database after the fork
and seeds it with :mod:`spoo_export_plugin.ops.demo_data` (the same documents in every worker,
so the API key printed here works whichever worker answers). With one worker (the default)
export jobs are on: a SQLite queue in a temporary folder, consumed by threads of that worker
(:mod:`.demo_jobs`).
"""

from __future__ import annotations

import argparse
import errno
import html
import logging
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable, Iterable
from typing import Any

from ..core.exceptions import ConfigurationError
from ..core.settings import ExportSettings
from ..web.middleware import ExportMiddleware
from .demo_banner import DASHBOARD_GROUP_BY, DEMO_ROUTE, banner, curl_commands, demo_url, link_route
from .demo_data import DEFAULT_CLICKS, DEMO_SEED, DemoDataset, build_dataset, default_anchor, seed_database
from .demo_jobs import banner_lines, new_webhook_secret, queue_uri, start_job_threads

__all__ = ["DASHBOARD_GROUP_BY", "banner", "build_demo_app", "curl_commands", "link_route", "run"]

#: Exit code of a demo that cannot start: the extra is missing, an option is wrong or the port is taken.
EXIT_MISSING_EXTRA = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn worker processes (default 1)")
    parser.add_argument("--clicks", type=int, default=DEFAULT_CLICKS, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=DEMO_SEED, help=argparse.SUPPRESS)


def demo_settings(database: Any, *, job_queue: str | None = None, webhook_secret: str | None = None) -> ExportSettings:
    return ExportSettings(database=database, job_queue=job_queue, webhook_secret=webhook_secret)


def demo_database(dataset: DemoDataset) -> Any:
    """A fresh in-memory (mongomock) database seeded with ``dataset``."""
    import mongomock

    database: Any = mongomock.MongoClient().get_database("url-shortener")
    seed_database(database, dataset)
    return database


def build_demo_app(
    dataset: DemoDataset, base_url: str = "http://127.0.0.1:8000", *, job_queue: str | None = None
) -> Callable[..., Any]:
    """A fresh mongomock database seeded with ``dataset``, and the host app wrapped by the plugin."""
    settings = demo_settings(demo_database(dataset), job_queue=job_queue)
    return ExportMiddleware(_host_app(dataset, settings.route, base_url), settings)


def export_settings(args: argparse.Namespace) -> ExportSettings:
    """``spoo-export export --demo``: the settings over the dataset the demo serves (built for the
    current hour, as ``spoo-export demo`` does), instead of a MongoDB. Without ``--owner``,
    ``--short-code`` or ``--url-id``, the export is the demo owner's (``args.owner`` is set)."""
    from .cli_settings import settings_from_args

    try:
        import mongomock  # noqa: F401
    except ImportError as exc:
        raise ConfigurationError(
            f"--demo needs the demo extra: pip install 'spoo_export_plugin[demo]' ({exc})"
        ) from None
    if args.mongodb_uri:
        raise ConfigurationError("--demo reads the demo's embedded dataset: leave out --mongodb-uri")
    dataset = build_dataset(default_anchor())
    if not (args.owner or args.short_code or args.url_id):
        args.owner = str(dataset.owner_id)
    return settings_from_args(args, database=demo_database(dataset))


def _host_app(dataset: DemoDataset, route: str, base_url: str) -> Callable[..., Iterable[bytes]]:
    """The "existing application" of the demo: one page at ``/``, 404 elsewhere."""
    page = _home_page(dataset, route, base_url).encode()

    def host(environ: dict, start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "/") != "/":
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"Not found: this demo host only has / (and the export route the plugin adds).\n"]
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(page)))])
        return [page]

    return host


def _home_page(dataset: DemoDataset, route: str, base_url: str) -> str:
    links = "".join(
        f'<li><a href="{html.escape(url)}">{html.escape(label)}</a></li>'
        for label, url in (
            (
                f"public stats of /{dataset.public_code} as JSON",
                demo_url(base_url, route, format="json", scope="anon", short_code=dataset.public_code),
            ),
            (
                f"public stats of /{dataset.emoji_code} as XML",
                demo_url(base_url, route, format="xml", scope="anon", short_code=dataset.emoji_code),
            ),
            ("the OpenAPI document", base_url + route.rstrip("/") + "/openapi.json"),
        )
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>spoo_export_plugin demo</title></head>
<body style="font-family: sans-serif; max-width: 52em; margin: 2em auto">
<h1>spoo_export_plugin demo</h1>
<p>This page is a stand-in for <em>your</em> URL shortener: a plain WSGI app wrapped with
<code>ExportMiddleware</code>. Every request goes to it, except <code>{html.escape(route)}</code>,
which the export plugin answers with click statistics as json, xml, xlsx, csv or html files.</p>
<p>The data is an in-memory, spoo.me-shaped sample (mongomock): {len(dataset.collections["urlsV2"])} links,
{len(dataset.collections["clicks"])} clicks over the last 60 days, browsers, countries, referrers and bots.</p>
<ul>{links}</ul>
<p>Statistics across all links of the demo owner need its API key:</p>
<pre>curl -H 'Authorization: Bearer {html.escape(dataset.api_key)}' \\
  '{html.escape(demo_url(base_url, route, format="json", scope="all"))}'</pre>
</body></html>
"""


def bind_problem(host: str, port: int) -> OSError | None:
    """Why gunicorn could not listen on ``host:port`` (bound and released here, with gunicorn's
    SO_REUSEADDR), or None when it can. Checked before gunicorn starts: on a busy port gunicorn
    logs an error every second for 5 s and then exits."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        return exc
    return None


def _application_class() -> type:
    from gunicorn.app.base import BaseApplication

    class DemoServer(BaseApplication):
        """gunicorn serving the demo; :meth:`load` runs in each worker, after the fork."""

        def __init__(self, dataset: DemoDataset, base_url: str, options: dict[str, Any], jobs: dict[str, str]):
            self.dataset = dataset
            self.base_url = base_url
            self.options = options
            self.jobs = jobs  # job_queue and webhook_secret, or empty: jobs off
            super().__init__()

        def load_config(self) -> None:
            for key, value in self.options.items():
                if key in self.cfg.settings:  # gunicorn < 25.1 has no control socket setting
                    self.cfg.set(key, value)

        def load(self) -> Any:
            settings = demo_settings(demo_database(self.dataset), **self.jobs)
            if settings.job_queue:
                start_job_threads(settings)  # beside the app, over the same in-memory database
            return ExportMiddleware(_host_app(self.dataset, settings.route, self.base_url), settings)

    return DemoServer


def run(args: argparse.Namespace) -> int:
    try:
        import gunicorn  # noqa: F401
        import huey  # noqa: F401  (the demo's export jobs)
        import mongomock  # noqa: F401
    except ImportError as exc:
        sys.stderr.write(f"spoo-export demo needs the demo extra: pip install 'spoo_export_plugin[demo]' ({exc})\n")
        return EXIT_MISSING_EXTRA
    if args.workers < 1 or not 1 <= args.port <= 65535:
        sys.stderr.write("spoo-export demo: --workers must be at least 1 and --port 1 to 65535\n")
        return EXIT_MISSING_EXTRA
    problem = bind_problem(args.host, args.port)
    if problem is not None:
        hint = (
            f"another demo still running? choose a free port with --port, e.g. --port {args.port % 65535 + 1}"
            if problem.errno == errno.EADDRINUSE
            else "check --host and --port"
        )
        sys.stderr.write(
            f"spoo-export demo: cannot listen on {args.host}:{args.port} ({problem.strerror or problem}): {hint}\n"
        )
        return EXIT_MISSING_EXTRA
    dataset = build_dataset(default_anchor(), seed=args.seed, clicks=args.clicks)
    shown_host = "127.0.0.1" if args.host in ("0.0.0.0", "", "::") else args.host
    base_url = f"http://{f'[{shown_host}]' if ':' in shown_host else shown_host}:{args.port}"
    bind = f"[{args.host}]:{args.port}" if ":" in args.host else f"{args.host}:{args.port}"
    # Jobs need the one process holding the data (demo_jobs.py): on with one worker.
    folder = tempfile.mkdtemp(prefix="spoo-export-demo-") if args.workers == 1 else None
    jobs = {"job_queue": queue_uri(folder), "webhook_secret": new_webhook_secret()} if folder else {}
    jobs_part = banner_lines(
        dataset, base_url, DEMO_ROUTE, queue=jobs.get("job_queue"), webhook_secret=jobs.get("webhook_secret")
    )
    text = banner(dataset, base_url, DEMO_ROUTE, jobs_part)

    def when_ready(server: Any) -> None:
        print(text, flush=True)

    # One JSON line per export (status, rows, bytes, ms) beside gunicorn's access log.
    logger = logging.getLogger("spoo_export_plugin")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[%(process)d] %(name)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    options = {
        "bind": [bind],
        "preload_app": False,  # load() (which seeds the database) runs in each worker, after the fork
        "workers": args.workers,
        "worker_class": "sync",
        "timeout": 60,
        "accesslog": "-",
        "loglevel": "info",
        "proc_name": "spoo-export-demo",
        # gunicorn 25.1+ opens a control socket, creating ~/.gunicorn/ unless disabled.
        "control_socket_disable": True,
        "when_ready": when_ready,
    }
    arbiter = os.getpid()
    try:
        _application_class()(dataset, base_url, options, jobs).run()
    finally:
        if folder is not None and os.getpid() == arbiter:  # a worker leaving must not take the queue with it
            shutil.rmtree(folder, ignore_errors=True)
    return 0
