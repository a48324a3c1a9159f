"""``spoo-export scheduler [--interval SECONDS]``: runs scheduled reports continuously.

Each tick calls :func:`~spoo_export_plugin.schedules.runner.run_schedules` with the current time (the
same function as ``spoo-export run-schedules --now``): the slots that came due run as export jobs, and
the e-mails of runs whose jobs ended in a worker go out. Several schedulers may run at once, on any
machines sharing the database: each slot is claimed once, each e-mail sent once. A slot is run at most
``--interval`` seconds late. Each run is printed as one line of JSON (its job object).

SIGTERM and SIGINT stop it after the tick in progress. Exit codes: 0 stopped, 2 bad settings.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from ..core.exceptions import ConfigurationError
from ..schedules.runner import Scheduler
from .cli_schedules import EXIT_BAD_INPUT, scheduler_settings
from .cli_settings import add_setting_flags

DEFAULT_INTERVAL_SECONDS = 30.0

log = logging.getLogger("spoo_export_plugin.schedules")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--interval",
        type=float,
        default=DEFAULT_INTERVAL_SECONDS,
        metavar="SECONDS",
        help=f"seconds between two ticks (default {DEFAULT_INTERVAL_SECONDS:g}): the longest a slot waits",
    )
    add_setting_flags(parser)


def tick_forever(
    scheduler: Scheduler,
    interval: float,
    stop: threading.Event,
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
) -> None:
    """Run the due slots, then wait ``interval`` seconds, until ``stop`` is set; a failed tick is logged
    (the database down, say) and the next one tries again."""
    while not stop.is_set():
        try:
            for job in scheduler.run(clock()):
                sys.stdout.write(json.dumps(job, sort_keys=True) + "\n")
                sys.stdout.flush()
        except Exception:
            log.exception("a scheduler tick failed; the next one tries again")
        stop.wait(interval)


def run(args: argparse.Namespace) -> int:
    try:
        if not args.interval > 0:
            raise ConfigurationError("--interval must be a positive number of seconds")
        scheduler = Scheduler(scheduler_settings(args))
    except ConfigurationError as exc:
        sys.stderr.write(f"spoo-export: error: {exc}\n")
        return EXIT_BAD_INPUT
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()

    def stopping(signum: int, frame: Any) -> None:
        log.info("scheduler stopping (signal %d)", signum)
        stop.set()

    signal.signal(signal.SIGTERM, stopping)
    signal.signal(signal.SIGINT, stopping)
    log.info("scheduler running: a tick every %g s", args.interval)
    tick_forever(scheduler, args.interval, stop)
    return 0
