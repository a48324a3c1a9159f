"""The demo's export jobs: a SQLite queue in a temporary folder, consumed inside the demo's process.

A job's state and file live in the plugin's database, and the demo's database is an in-memory
mongomock in its one worker process: so the consumer (huey worker threads, as ``spoo-export
worker`` runs them) lives in that same process, beside the web app. With ``--workers`` above 1
each worker would hold its own jobs, and a poll answered by another worker would not find the
job: jobs are then off, and the banner says why.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from typing import Any

from ..core.settings import ExportSettings
from ..jobs.service import JobService
from .demo_data import DemoDataset
from .jobs_worker import build_consumer, start_upkeep

#: Jobs the demo runs at once (threads of its consumer).
JOB_THREADS = 2
#: The export a printed job command submits: every raw click of the demo owner, as a ZIP of CSV.
JOB_EXPORT = "/clicks?format=csv"
JOB_FILE = "clicks.zip"
#: Reads one field of a job object from standard input (the printed commands pipe curl into it).
_FIELD = "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"{field}\"])'"


def queue_uri(folder: str) -> str:
    """``sqlite://`` and the absolute path of the queue file (as ``job_queue`` reads it)."""
    return f"sqlite://{os.path.abspath(folder)}/jobs.db"


def new_webhook_secret() -> str:
    """A Standard Webhooks key for this run of the demo (printed, to verify what a webhook_url receives)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def start_job_threads(settings: ExportSettings) -> Any:
    """Consume the queue in this process: :data:`JOB_THREADS` huey worker threads and the upkeep thread.

    huey's ``Consumer.start`` also installs its signal handlers; in a gunicorn worker the signals
    are gunicorn's (SIGTERM must still stop the worker), so that step is left out. The threads are
    daemons: they end with the process.
    """
    service = JobService(settings)
    consumer = build_consumer(service, JOB_THREADS)
    consumer._set_signal_handlers = lambda: None  # gunicorn's worker owns this process's signals
    consumer.start()
    start_upkeep(service)
    return consumer


def job_commands(api_key: str, base_url: str, route: str) -> list[tuple[str, str]]:
    """(what it shows, command) pairs of one job's life, for a POSIX shell: submit (``JOB`` keeps its
    id), poll, and download through its ``file_url``, which needs no key."""
    jobs_url = f"{base_url}{route.rstrip('/')}/jobs"
    auth = f"-H 'Authorization: Bearer {api_key}'"
    body = json.dumps({"url": route.rstrip("/") + JOB_EXPORT})
    poll = f'curl -fsS {auth} "{jobs_url}/$JOB"'
    return [
        (
            "submit a job: the demo owner's raw clicks as CSV (202 and the job object; JOB keeps its id)",
            f"JOB=$(curl -fsS {auth} -H 'Content-Type: application/json' -d '{body}' '{jobs_url}' "
            f"| {_FIELD.format(field='id')})",
        ),
        ("poll it: status queued, running, then done with size, file_url and expires_at", poll),
        (
            f"once done, download it through its file_url (signed, no key needed until expires_at): {JOB_FILE}",
            f'curl -fsS -o {JOB_FILE} "{base_url}$({poll} | {_FIELD.format(field="file_url")})"',
        ),
    ]


def banner_lines(
    dataset: DemoDataset, base_url: str, route: str, *, queue: str | None, webhook_secret: str | None
) -> list[str]:
    """The banner's part about jobs: where they queue and the commands, or why they are off."""
    if queue is None:
        return [
            "# export jobs are off with --workers above 1: each worker holds its own in-memory data, and a job",
            "# polled through another worker would not be found. Run the demo with --workers 1 to try them.",
            "",
        ]
    lines = [
        f"# export jobs: queued in {queue[len('sqlite://') :]}, run by {JOB_THREADS} threads of this process",
        f"# (webhook_url: a public https URL; deliveries are signed with this run's key {webhook_secret})",
        "",
    ]
    for what, command in job_commands(dataset.api_key, base_url, route):
        lines += [f"# {what}", command, ""]
    return lines
