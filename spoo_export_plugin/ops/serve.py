"""``spoo-export serve``: the export endpoint under gunicorn.

Every setting comes from a flag, else a ``SPOO_EXPORT_*`` variable, else its default
(flags win). The server options below are shared with the gunicorn config file for hosts
(:mod:`spoo_export_plugin.contrib.gunicorn_conf`), so both behave the same.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

from ..core.exceptions import ConfigurationError
from ..core.settings import ENV_PREFIX, ExportSettings
from ..web.app import check_composable
from .cli_settings import add_setting_flags, settings_from_args

EXIT_BAD_INPUT = 2


@dataclass(frozen=True)
class ServerOption:
    name: str
    default: Any
    convert: Callable[[str], Any]
    help: str

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()


SERVER_OPTIONS = (
    ServerOption("bind", "127.0.0.1:8000", str, "address to listen on (`HOST:PORT` or `unix:PATH`)"),
    ServerOption("workers", 2, int, "worker processes (each has its own export cap and MongoDB pool)"),
    ServerOption("threads", 4, int, "threads per worker (`gthread` workers); keep it >= `max_concurrent_exports`"),
    ServerOption("timeout", 120, int, "seconds a worker may stay silent before gunicorn restarts it; "
                                      "keep it above `max_time_ms`"),
    ServerOption("graceful_timeout", 30, int, "seconds running exports get to finish on shutdown or reload"),
    ServerOption("keepalive", 5, int, "seconds an idle keep-alive connection is held"),
    ServerOption("max_requests", 0, int, "restart a worker after this many requests (0 = never)"),
    ServerOption("access_log", "", str, "gunicorn access log file (`-` = stderr; empty = off: "
                                        "access logs hold client IPs)"),
    ServerOption("log_level", "info", str, "log level of gunicorn and of the `spoo_export_plugin` loggers"),
)


def _conf_value(option: ServerOption, raw: Optional[str]) -> Any:
    if raw is None:
        return option.default
    try:
        return option.convert(raw)
    except ValueError:
        raise ConfigurationError(f"{option.env}/{option.flag}={raw!r} is not valid") from None


def gunicorn_options(environ: Mapping[str, str], given: Optional[Mapping[str, Optional[str]]] = None) -> dict[str, Any]:
    """gunicorn settings from flags (``given``), else the environment, else the defaults."""
    given = given or {}
    values = {o.name: _conf_value(o, given.get(o.name) if given.get(o.name) is not None else environ.get(o.env))
              for o in SERVER_OPTIONS}
    for name in ("workers", "threads"):
        if values[name] < 1:
            raise ConfigurationError(f"{name} must be at least 1")
    if not isinstance(logging.getLevelName(str(values["log_level"]).upper()), int):
        raise ConfigurationError(f"unknown log level {values['log_level']!r}")
    return {
        "bind": [values["bind"]],
        "workers": values["workers"],
        "threads": values["threads"],
        "worker_class": "gthread",
        "timeout": values["timeout"],
        "graceful_timeout": values["graceful_timeout"],
        "keepalive": values["keepalive"],
        "max_requests": values["max_requests"],
        "max_requests_jitter": values["max_requests"] // 10,
        "accesslog": values["access_log"] or None,
        "loglevel": values["log_level"],
        # gunicorn 25.1+ opens a control socket, creating ~/.gunicorn/ by default; a service needs none.
        "control_socket_disable": True,
        "proc_name": "spoo-export",
    }


def configure_logging(level: str) -> None:
    """The plugin's loggers (one JSON line per export) to stderr, beside gunicorn's own."""
    logger = logging.getLogger("spoo_export_plugin")
    if not any(getattr(h, "_spoo_export", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s [%(process)d] [%(levelname)s] %(name)s %(message)s"))
        handler._spoo_export = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False


def _application_class() -> type:
    from gunicorn.app.base import BaseApplication

    class ExportServer(BaseApplication):  # type: ignore[misc]
        """gunicorn running ``create_app(settings)``; the app is built in each worker after the fork."""

        def __init__(self, settings: ExportSettings, options: Mapping[str, Any]):
            self.settings = settings
            self.options = dict(options)
            super().__init__()

        def load_config(self) -> None:
            for key, value in self.options.items():
                if key in self.cfg.settings:  # older gunicorn versions lack some settings
                    self.cfg.set(key, value)

        def load(self) -> Any:
            from ..web.app import create_app

            return create_app(self.settings)

    return ExportServer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    server = parser.add_argument_group("server (each also read from SPOO_EXPORT_<NAME>)")
    for option in SERVER_OPTIONS:
        server.add_argument(option.flag, dest="server_" + option.name, default=None,
                            metavar=option.name.split("_")[-1].upper(),
                            help=(f"{option.help.replace('`', '')}; env {option.env} "
                                  f"(default {option.default!r})").replace("%", "%%"))
    add_setting_flags(parser)


def run(args: argparse.Namespace) -> int:
    given = {o.name: getattr(args, "server_" + o.name, None) for o in SERVER_OPTIONS}
    try:
        settings = settings_from_args(args)
        options = gunicorn_options(os.environ, given)
        check_composable(settings)  # a bad JWT key or rate-limit storage: one line here, not in every worker
    except ConfigurationError as exc:
        sys.stderr.write(f"spoo-export: error: {exc}\n")
        return EXIT_BAD_INPUT
    if not settings.mongodb_uri:
        sys.stderr.write("spoo-export: error: serve needs --mongodb-uri or SPOO_EXPORT_MONGODB_URI\n")
        return EXIT_BAD_INPUT
    configure_logging(options["loglevel"])
    _application_class()(settings, options).run()
    return 0


def markdown_rows() -> list[str]:
    """README rows for the server options (the settings' rows come from cli_settings)."""
    return [f"| `{o.flag}` | `{o.env}` | {f'`{o.default}`' if o.default != '' else ''} | {o.help} |"
            for o in SERVER_OPTIONS]
