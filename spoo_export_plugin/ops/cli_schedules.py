"""``spoo-export run-schedules --now <ISO 8601>``: run every scheduled slot due at or before that instant
that has not run yet, once, and exit (for cron-driven hosts, backfills and tests).

It calls :func:`~spoo_export_plugin.schedules.runner.run_schedules`, as ``spoo-export scheduler`` does
at each tick, so running it twice with the same ``--now`` runs nothing the second time. Each run is
printed as one line of JSON (the job object, as the API shows it). Settings come from the flags and the
``SPOO_EXPORT_*`` environment, as for ``spoo-export worker``.
Exit codes: 0 done (whatever ran or was recorded on its schedule), 1 MongoDB unreachable, 2 bad input or
settings.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime

from ..core.exceptions import ConfigurationError, ExportError
from ..core.settings import ExportSettings
from ..schedules.runner import Scheduler
from .cli_settings import add_setting_flags, settings_from_args

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


def instant(text: str) -> datetime:
    """An ISO 8601 instant with its offset (``2025-03-10T07:00:00Z``); argparse's error (exit 2) otherwise."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text[:60]!r} is not an ISO 8601 date-time, e.g. 2025-03-10T07:00:00Z"
        ) from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise argparse.ArgumentTypeError(
            f"{text[:60]!r} has no offset; say which instant it is, e.g. {text[:19]}Z or {text[:19]}+01:00"
        )
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--now",
        type=instant,
        required=True,
        metavar="ISO",
        help="run the slots due at or before this instant (ISO 8601 with an offset, e.g. 2025-03-10T07:00:00Z)",
    )
    add_setting_flags(parser)


def scheduler_settings(args: argparse.Namespace) -> ExportSettings:
    """Settings from flags and environment; a schedule's run is an export job, so ``job_queue`` is needed."""
    settings = settings_from_args(args)
    if not settings.job_queue:
        raise ConfigurationError(
            "scheduled reports run as export jobs: set job_queue (SPOO_EXPORT_JOB_QUEUE), e.g. sqlite:///path/jobs.db "
            "shared with spoo-export worker, or immediate:// to run each job here"
        )
    return settings


def run(args: argparse.Namespace) -> int:
    try:
        scheduler = Scheduler(scheduler_settings(args))
    except ConfigurationError as exc:
        sys.stderr.write(f"spoo-export: error: {exc}\n")
        return EXIT_BAD_INPUT
    try:
        runs = scheduler.run(args.now)
    except ExportError as exc:  # the database unreachable (503)
        sys.stderr.write(f"spoo-export: error: {exc.message}\n")
        return EXIT_FAILED
    finally:
        scheduler.close()
    for job in runs:
        sys.stdout.write(json.dumps(job, sort_keys=True) + "\n")
    return 0
