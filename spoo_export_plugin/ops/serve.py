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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..core.exceptions import ConfigurationError
from ..core.setting_checks import ENV_PREFIX, convert_env_value
from ..core.settings import ExportSettings
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
    ServerOption(
        "threads",
        8,
        int,
        "threads per worker; keep it above `max_concurrent_exports`, so a full "
        "export cap still leaves threads to answer 503s and cheap requests",
    ),
    ServerOption(
        "header_timeout",
        10,
        int,
        "seconds a connection gets to send its request line and headers; waiting connections hold no thread",
    ),
    ServerOption(
        "body_timeout",
        20,
        int,
        "seconds a request body may take in all, plus one second per "
        "`body_min_rate` bytes received; then the connection is closed",
    ),
    ServerOption(
        "body_min_rate",
        500,
        int,
        "bytes per second that earn a request body more time beyond "
        "`body_timeout` (0: `body_timeout` is the whole allowance)",
    ),
    ServerOption(
        "worker_connections",
        1000,
        int,
        "connections one worker holds at most (waiting, served, kept "
        "alive or closing); at the limit the oldest one still sending its "
        "head makes room; lowered at start to fit the open-file limit",
    ),
    ServerOption(
        "timeout", 120, int, "seconds a worker may stay silent before gunicorn restarts it; keep it above `max_time_ms`"
    ),
    ServerOption("graceful_timeout", 30, int, "seconds running exports get to finish on shutdown or reload"),
    ServerOption("keepalive", 5, int, "seconds an idle keep-alive connection is held"),
    ServerOption("max_requests", 0, int, "restart a worker after this many requests (0 = never)"),
    ServerOption(
        "access_log", "", str, "gunicorn access log file (`-` = stderr; empty = off: access logs hold client IPs)"
    ),
    ServerOption("log_level", "info", str, "log level of gunicorn and of the `spoo_export_plugin` loggers"),
)


def _conf_value(option: ServerOption, raw: str | None) -> Any:
    if raw is None:
        return option.default
    try:
        return option.convert(raw)
    except ValueError:
        raise ConfigurationError(f"{option.env}/{option.flag}={raw!r} is not valid") from None


def send_timeout_from_env(environ: Mapping[str, str]) -> int:
    """``SPOO_EXPORT_SEND_TIMEOUT_SECONDS`` as :class:`ExportSettings` reads it (for the host config)."""
    default = ExportSettings.send_timeout_seconds  # the dataclass field's default, as a class attribute
    raw = environ.get(ENV_PREFIX + "SEND_TIMEOUT_SECONDS")
    value = default if raw is None else convert_env_value("send_timeout_seconds", raw, default)
    if value < 1:
        raise ConfigurationError("send_timeout_seconds must be a positive integer")
    return value


def gunicorn_options(
    environ: Mapping[str, str], given: Mapping[str, str | None] | None = None, *, send_timeout: int | None = None
) -> dict[str, Any]:
    """gunicorn settings from flags (``given``), else the environment, else the defaults.

    ``send_timeout`` is the settings' ``send_timeout_seconds``; without it the environment's.
    """
    given = given or {}
    values = {
        o.name: _conf_value(o, given.get(o.name) if given.get(o.name) is not None else environ.get(o.env))
        for o in SERVER_OPTIONS
    }
    for name in ("workers", "threads", "header_timeout", "body_timeout", "worker_connections"):
        if values[name] < 1:
            raise ConfigurationError(f"{name} must be at least 1")
    if values["body_min_rate"] < 0:
        raise ConfigurationError("body_min_rate must not be negative")
    from .worker import ExportWorker  # needs gunicorn (the `server` extra); `spoo-export --help` does not

    worker = ExportWorker.configured(
        header_timeout=values["header_timeout"],
        send_timeout=send_timeout if send_timeout is not None else send_timeout_from_env(environ),
        body_timeout=values["body_timeout"],
        body_min_rate=values["body_min_rate"],
    )
    if not isinstance(logging.getLevelName(str(values["log_level"]).upper()), int):
        raise ConfigurationError(f"unknown log level {values['log_level']!r}")
    return {
        "bind": [values["bind"]],
        "workers": values["workers"],
        "threads": values["threads"],
        "worker_connections": values["worker_connections"],
        # gthread, with request heads gathered in the main loop and idle limits (ops/worker.py)
        "worker_class": worker,
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


def thread_warning(threads: int, settings: ExportSettings) -> str | None:
    """Exports held by stalled clients pin at most ``max_concurrent_exports`` threads: leave more."""
    if threads > settings.max_concurrent_exports:
        return None
    return (
        f"threads={threads} does not exceed max_concurrent_exports={settings.max_concurrent_exports}: "
        "while every export slot is busy (or held by clients that stopped reading, for up to "
        f"send_timeout_seconds={settings.send_timeout_seconds}) no thread is left to answer 503 or "
        "cheap requests; use more threads or a lower cap"
    )


#: Descriptors a worker holds besides its client connections: the listener, the poller and its
#: wake-up pipe, logs (10 in all, measured), with room to spare; and per thread a MongoDB socket, a
#: rate-limit storage socket and an export's temporary file.
FIXED_FILES = 32
FILES_PER_THREAD = 3


def raise_open_file_limit() -> int:
    """Raise this process's soft open-file limit to its hard limit (gunicorn's workers inherit it)
    and return the soft limit now in force."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):  # e.g. an unlimited hard limit the kernel will not grant as soft
            pass
    return soft


def fit_worker_connections(worker_connections: int, threads: int, open_files: int) -> tuple[int, str | None]:
    """``worker_connections`` lowered to what ``open_files`` descriptors hold, and a warning when lowered.

    A worker that runs out of descriptors while accepting sheds connections instead of dying
    (ops/worker.py), but a limit that fits keeps it from getting there.
    """
    room = max(1, open_files - FIXED_FILES - FILES_PER_THREAD * threads)
    if worker_connections <= room:
        return worker_connections, None
    return room, (
        f"the open-file limit ({open_files}) leaves room for {room} connections per worker "
        f"(with threads={threads}), not worker_connections={worker_connections}: lowered to {room}; "
        "raise the limit (ulimit -n, systemd LimitNOFILE) to hold more"
    )


def fit_open_files(worker_connections: int, threads: int) -> tuple[int, str | None]:
    """At start, before the fork: the soft open-file limit raised to the hard one, and
    ``worker_connections`` fitted into it (with the warning to log, if any)."""
    return fit_worker_connections(worker_connections, threads, raise_open_file_limit())


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

    class ExportServer(BaseApplication):
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
        server.add_argument(
            option.flag,
            dest="server_" + option.name,
            default=None,
            metavar=option.name.split("_")[-1].upper(),
            help=(f"{option.help.replace('`', '')}; env {option.env} (default {option.default!r})").replace("%", "%%"),
        )
    add_setting_flags(parser)


def run(args: argparse.Namespace) -> int:
    given = {o.name: getattr(args, "server_" + o.name, None) for o in SERVER_OPTIONS}
    try:
        settings = settings_from_args(args)
        options = gunicorn_options(os.environ, given, send_timeout=settings.send_timeout_seconds)
        check_composable(settings)  # a bad JWT key or rate-limit storage: one line here, not in every worker
        warning = thread_warning(options["threads"], settings)
    except ConfigurationError as exc:
        sys.stderr.write(f"spoo-export: error: {exc}\n")
        return EXIT_BAD_INPUT
    if not settings.mongodb_uri:
        sys.stderr.write("spoo-export: error: serve needs --mongodb-uri or SPOO_EXPORT_MONGODB_URI\n")
        return EXIT_BAD_INPUT
    options["worker_connections"], files_warning = fit_open_files(options["worker_connections"], options["threads"])
    configure_logging(options["loglevel"])
    for line in (warning, files_warning):
        if line:
            logging.getLogger("spoo_export_plugin.server").warning(line)
    _application_class()(settings, options).run()
    return 0


def markdown_rows() -> list[str]:
    """docs/configuration.md rows for the server options (the settings' rows come from cli_settings)."""
    return [
        f"| `{o.flag}` | `{o.env}` | {f'`{o.default}`' if o.default != '' else ''} | {o.help} |" for o in SERVER_OPTIONS
    ]
