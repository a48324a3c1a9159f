"""``spoo-export worker``: runs export jobs from the ``job_queue`` (huey's SQLite or Redis storage).

One process runs ``--workers`` threads consuming the queue (a huey consumer), and an upkeep
thread that reaps jobs whose worker died (their lease ran out: re-queued, or failed after three
attempts) and deletes expired files, at start and then every half lease (at most 30 s). Any number
of workers may run, on any machines sharing the queue and the database.

SIGTERM (and SIGINT) stops it cleanly: each running job stops at its next chunk, deletes its
partial file and goes back to the queue without the attempt counting, then the process exits. A
worker killed outright (SIGKILL, the machine lost) is what the leases are for.
Exit codes: 0 stopped, 2 bad settings (``job_queue`` unset or ``immediate://``).
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from typing import Any

from ..core.exceptions import ConfigurationError
from ..jobs.service import IMMEDIATE, JobService
from .cli_settings import add_setting_flags, settings_from_args

EXIT_BAD_INPUT = 2
#: Seconds between two rounds of upkeep at most (shorter with a short lease).
UPKEEP_MAX_SECONDS = 30.0
#: Seconds an idle worker thread waits between two looks at a SQLite queue at most (huey backs off to it).
POLL_MAX_SECONDS = 1.0

log = logging.getLogger("spoo_export_plugin.jobs")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workers", type=int, default=2, metavar="N", help="jobs run at once by this process (threads; default 2)"
    )
    add_setting_flags(parser)


def build_consumer(service: JobService, workers: int) -> Any:
    """A huey consumer of the service's queue whose stop also stops the running jobs at their next chunk."""
    from huey.consumer import Consumer

    if service.queue is None:
        raise ConfigurationError("a worker needs job_queue=sqlite:///... or redis://...")

    class JobConsumer(Consumer):
        def stop(self, graceful: bool = False) -> None:
            service.stopping.set()
            super().stop(graceful=graceful)

    return JobConsumer(
        service.queue.huey,
        workers=workers,
        worker_type="thread",
        periodic=False,  # the upkeep runs in its own thread, at the lease's pace (huey's periodic tasks: minutes)
        max_delay=POLL_MAX_SECONDS,
        graceful_signal="TERM",  # SIGTERM (systemd, docker stop, kubernetes) waits for the jobs to step back
    )


def start_upkeep(service: JobService) -> threading.Thread:
    """Reap and sweep now, then every half lease (at most 30 s), until the service is stopping."""
    interval = min(service.settings.job_lease_seconds / 2, UPKEEP_MAX_SECONDS)

    def loop() -> None:
        while True:
            try:
                service.upkeep()
            except Exception:  # a round that failed is retried at the next one
                log.exception("job upkeep failed")
            if service.stopping.wait(interval):
                return

    thread = threading.Thread(target=loop, name="spoo-export-upkeep", daemon=True)
    thread.start()
    return thread


def run(args: argparse.Namespace) -> int:
    try:
        settings = settings_from_args(args)
        if args.workers < 1:
            raise ConfigurationError("--workers must be at least 1")
        if not settings.job_queue:
            raise ConfigurationError("a worker needs job_queue (SPOO_EXPORT_JOB_QUEUE): sqlite:///... or redis://...")
        if settings.job_queue == IMMEDIATE:
            raise ConfigurationError(
                "job_queue=immediate:// runs each job inside its POST, there is nothing for a worker to consume; "
                "use sqlite:///path/jobs.db (one machine) or redis://host:6379/0"
            )
        service = JobService(settings)
        consumer = build_consumer(service, args.workers)
    except ConfigurationError as exc:
        sys.stderr.write(f"spoo-export: error: {exc}\n")
        return EXIT_BAD_INPUT
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    start_upkeep(service)
    consumer.run()
    return 0
