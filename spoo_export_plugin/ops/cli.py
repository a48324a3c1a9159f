"""``spoo-export``: the command line. Each subcommand lives in its own module."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

#: subcommand -> (module, one-line help). Each module has ``add_arguments(parser)`` and ``run(args) -> int``.
COMMANDS = {
    "demo": ("spoo_export_plugin.ops.demo", "serve the plugin over an embedded demo dataset (no database needed)"),
    "serve": ("spoo_export_plugin.ops.serve", "serve the export endpoint under gunicorn"),
    "export": ("spoo_export_plugin.ops.cli_export", "write one export file (for operators and cron jobs; no API key)"),
    "ensure-indexes": ("spoo_export_plugin.ops.indexes", "create the MongoDB indexes the export queries rely on"),
    "worker": ("spoo_export_plugin.ops.jobs_worker", "run export jobs from the job_queue (SQLite or Redis)"),
    "jobs": ("spoo_export_plugin.ops.cli_jobs", "list export jobs, show one, download its file (operators)"),
    "schedules": (
        "spoo_export_plugin.ops.cli_schedules_admin",
        "list scheduled reports, show one, pause, resume or delete it (operators)",
    ),
    "scheduler": ("spoo_export_plugin.ops.scheduler", "run scheduled reports continuously (each slot once)"),
    "run-schedules": (
        "spoo_export_plugin.ops.cli_schedules",
        "run the scheduled slots due at or before --now that have not run, then exit",
    ),
}


def package_version() -> str:
    """The installed distribution's version (the package's own when run from a source tree)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("spoo_export_plugin")
    except PackageNotFoundError:  # pragma: no cover - not installed
        from .._version import __version__

        return __version__


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """All subcommands; with ``only``, import just that one's module (a cron job starts faster)."""
    parser = argparse.ArgumentParser(prog="spoo-export", description="Click-statistics export for URL shorteners")
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        if only is not None and name != only:
            continue
        module = importlib.import_module(module_name)
        module.add_arguments(command)
        command.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(chosen if chosen in COMMANDS else None).parse_args(argv)
    return int(args._module.run(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
