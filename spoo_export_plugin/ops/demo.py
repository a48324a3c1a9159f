"""``spoo-export demo``: the plugin mounted in a tiny host app, over an in-memory dataset.

No database to install: each gunicorn worker builds a mongomock database after the fork
and seeds it with :mod:`spoo_export_plugin.ops.demo_data` (the same documents in every worker,
so the API key printed here works whichever worker answers).
"""

from __future__ import annotations

import argparse
import errno
import html
import logging
import socket
import sys
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote, urlencode

from ..core.exceptions import ConfigurationError
from ..core.settings import ExportSettings
from ..web.middleware import ExportMiddleware
from .demo_data import DEFAULT_CLICKS, DEMO_SEED, DemoDataset, build_dataset, default_anchor, seed_database

DASHBOARD_GROUP_BY = "time,browser,os,country,city,referrer,short_code"
#: Exit code of a demo that cannot start: the extra is missing, an option is wrong or the port is taken.
EXIT_MISSING_EXTRA = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn worker processes (default 1)")
    parser.add_argument("--clicks", type=int, default=DEFAULT_CLICKS, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=DEMO_SEED, help=argparse.SUPPRESS)


def demo_settings(database: Any) -> ExportSettings:
    return ExportSettings(database=database)


def demo_database(dataset: DemoDataset) -> Any:
    """A fresh in-memory (mongomock) database seeded with ``dataset``."""
    import mongomock

    database: Any = mongomock.MongoClient().get_database("url-shortener")
    seed_database(database, dataset)
    return database


def build_demo_app(dataset: DemoDataset, base_url: str = "http://127.0.0.1:8000") -> Callable[..., Any]:
    """A fresh mongomock database seeded with ``dataset``, and the host app wrapped by the plugin."""
    settings = demo_settings(demo_database(dataset))
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
                _url(base_url, route, format="json", scope="anon", short_code=dataset.public_code),
            ),
            (
                f"public stats of /{dataset.emoji_code} as XML",
                _url(base_url, route, format="xml", scope="anon", short_code=dataset.emoji_code),
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
  '{html.escape(_url(base_url, route, format="json", scope="all"))}'</pre>
</body></html>
"""


def _url(base_url: str, route: str, **params: str) -> str:
    return f"{base_url}{route}?{urlencode(params, safe=',/', quote_via=quote)}"


def link_route(route: str, url_id: str) -> str:
    """``<route>/links/<url_id>``: one link's statistics, by its id."""
    return f"{route.rstrip('/')}/links/{url_id}"


def curl_commands(dataset: DemoDataset, base_url: str, route: str = "/api/v1/export") -> list[tuple[str, str]]:
    """(what it shows, command) pairs, ready to paste.

    Each fails loudly (``-f``: an HTTP error is curl's exit code 22 and a message, never an error
    body saved as the file) and files go to a name given with ``-o``, so running a command twice
    overwrites its file instead of failing (``-OJ`` refuses to, exit 23). The one meant to show a
    refusal prints the status line and headers (``-i``) with the JSON error.
    """
    auth = f"-H 'Authorization: Bearer {dataset.api_key}'"
    chrome_or_safari = '{"browser":["Chrome","Safari"]}'
    requests = [
        ("all links of the demo owner, JSON", "-fsS " + auth, dict(format="json", scope="all")),
        (
            "the same as a ZIP of CSV files, saved as stats.zip",
            "-fsS -o stats.zip " + auth,
            dict(format="csv", scope="all", group_by="time,browser,country"),
        ),
        (
            "an Excel workbook, one sheet per breakdown, in New York time, saved as stats.xlsx",
            "-fsS -o stats.xlsx " + auth,
            dict(format="xlsx", scope="all", group_by="time,country,referrer", timezone="America/New_York"),
        ),
        (
            "a report page with charts to open in a browser (no script, prints to PDF), saved as report.html",
            "-fsS -o report.html " + auth,
            dict(format="html", scope="all", group_by="time,browser,country,referrer"),
        ),
        (
            "XML of one link, by week, bots left out",
            "-fsS " + auth,
            dict(format="xml", scope="all", short_code=dataset.public_code, granularity="week", exclude_bots="true"),
        ),
        (
            f"public stats of /{dataset.public_code} without a key (scope=anon)",
            "-fsS",
            dict(format="json", scope="anon", short_code=dataset.public_code, group_by="time,browser"),
        ),
        (
            f"the emoji link /{dataset.emoji_code}, clicks from Chrome or Safari by country",
            "-fsS",
            dict(
                format="json", scope="anon", short_code=dataset.emoji_code, group_by="country", filters=chrome_or_safari
            ),
        ),
        (
            f"/{dataset.private_code} has private stats: 401 without its owner's key (status, headers, error)",
            "-sS -i",
            dict(format="json", scope="anon", short_code=dataset.private_code),
        ),
        (
            "spoo.me's dashboard request: all seven dimensions at once, timed, saved as dashboard.json",
            "-fsS -o dashboard.json -w '%{http_code} %{time_total}s\\n' " + auth,
            dict(format="json", scope="all", group_by=DASHBOARD_GROUP_BY),
        ),
    ]
    commands = [(what, f"curl {options} '{_url(base_url, route, **params)}'") for what, options, params in requests]
    link = _url(base_url, link_route(route, dataset.public_url_id), format="json", group_by="time,browser")
    commands.insert(
        5,
        (
            f"one link by its url_id (/{dataset.public_code}, the id printed above): "  # after its XML
            f"{link_route('<route>', '<url_id>')}, JSON",
            f"curl -fsS {auth} '{link}'",
        ),
    )
    return commands


def banner(dataset: DemoDataset, base_url: str, route: str = "/api/v1/export") -> str:
    lines = [
        "",
        f"spoo_export_plugin demo on {base_url}/  (Ctrl-C stops it)",
        f"  data: {len(dataset.collections['urlsV2'])} links + 1 legacy link, {len(dataset.collections['clicks'])} "
        f"clicks from {dataset.start:%Y-%m-%d} to {dataset.anchor:%Y-%m-%d %H:%M} UTC (in memory, mongomock)",
        f"  API key of the demo owner (scope stats:read): {dataset.api_key}",
        f"  url_id of its link /{dataset.public_code} (for {link_route(route, '<url_id>')}): {dataset.public_url_id}",
        "",
    ]
    for what, command in curl_commands(dataset, base_url, route):
        lines += [f"# {what}", command, ""]
    return "\n".join(lines)


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

        def __init__(self, dataset: DemoDataset, base_url: str, options: dict[str, Any]):
            self.dataset = dataset
            self.base_url = base_url
            self.options = options
            super().__init__()

        def load_config(self) -> None:
            for key, value in self.options.items():
                if key in self.cfg.settings:  # gunicorn < 25.1 has no control socket setting
                    self.cfg.set(key, value)

        def load(self) -> Any:
            return build_demo_app(self.dataset, self.base_url)

    return DemoServer


def run(args: argparse.Namespace) -> int:
    try:
        import gunicorn  # noqa: F401
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
    text = banner(dataset, base_url)

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
    _application_class()(dataset, base_url, options).run()
    return 0
