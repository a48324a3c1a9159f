"""``spoo-export jobs list|get|download``: export jobs seen by the operator (no API key).

Every owner's jobs, read from the jobs collection the web processes and ``spoo-export worker``
share; settings from the flags and the ``SPOO_EXPORT_*`` environment, as ``spoo-export export``.
A job is shown as the API shows it (:meth:`JobService.job_object`, its ``file_url`` signed with the
deployment's key) plus ``owner_id``, which only the operator sees. ``download`` streams the
finished file from GridFS, written atomically like ``spoo-export export``'s files.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import Any
from urllib.parse import unquote

from ..core.engine.store import driver_errors, owner_id_from_text
from ..core.exceptions import BadRequest, ConfigurationError, Conflict, ExportError, Gone, NotFound
from ..jobs.records import DONE, FAILED, QUEUED, RUNNING, parse_job_id
from ..jobs.service import JobService
from .cli_settings import add_setting_flags, settings_from_args
from .export_files import EXIT_BAD_INPUT, EXIT_FAILED, fail, write_atomically
from .progress import Progress, human_bytes

STATUSES = (QUEUED, RUNNING, DONE, FAILED)
#: ``download`` of a job that has no file yet (queued, running) or never will (failed): the API's 409.
EXIT_NOT_DONE = 3
#: ``download`` of a job whose file expired (``job_ttl_seconds`` after it finished) and was deleted: the API's 410.
EXIT_EXPIRED = 4
LIST_DEFAULT_LIMIT = 100
_SETTINGS = (
    "mongodb_uri",
    "database_name",
    "route",
    "jobs_collection",
    "files_bucket",
    "signing_secret",
    "job_ttl_seconds",
    "server_selection_timeout_ms",
)
EXIT_CODES_HELP = (
    "exit codes: 0 done; 1 unknown job, MongoDB unreachable, or the file could not be written; 2 bad input or "
    f"settings; {EXIT_NOT_DONE} the job has no file yet or failed (the API's 409); {EXIT_EXPIRED} its file "
    "expired and was deleted (the API's 410). The database comes from --mongodb-uri or SPOO_EXPORT_MONGODB_URI."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="jobs_command", required=True, metavar="{list,get,download}")
    listing = sub.add_parser("list", help="jobs of every owner (or one), newest first", epilog=EXIT_CODES_HELP)
    listing.add_argument("--owner", metavar="ID", help="only this owner's jobs (a 24-hex id is an ObjectId)")
    listing.add_argument("--status", choices=STATUSES, help="only jobs in this state")
    listing.add_argument(
        "--limit", type=int, default=LIST_DEFAULT_LIMIT, metavar="N", help=f"at most N (default {LIST_DEFAULT_LIMIT})"
    )
    listing.add_argument("--json", action="store_true", help='print {"jobs": [<job object>, ...]} instead of a table')
    getting = sub.add_parser("get", help="one job as JSON (the API's job object plus owner_id)", epilog=EXIT_CODES_HELP)
    getting.add_argument("job_id", metavar="ID")
    download = sub.add_parser("download", help="write a finished job's file", epilog=EXIT_CODES_HELP)
    download.add_argument("job_id", metavar="ID")
    download.add_argument(
        "-o", "--output", metavar="FILE", help="file to write ('-' = standard output); default: the file's own name"
    )
    for command in (listing, getting, download):
        add_setting_flags(command, _SETTINGS, offline=True)


def run(args: argparse.Namespace) -> int:
    err = sys.stderr
    try:
        service = JobService(settings_from_args(args))
        if args.jobs_command == "list":
            return list_jobs(service, args)
        if args.jobs_command == "get":
            with driver_errors(service.settings.retry_after_seconds):
                print(json.dumps(operator_view(service, find(service, args.job_id)), indent=2))
            return 0
        return download(service, args, err)
    except (ConfigurationError, BadRequest) as exc:
        return fail(err, exc.message if isinstance(exc, ExportError) else str(exc), EXIT_BAD_INPUT)
    except Conflict as exc:
        return fail(err, exc.message, EXIT_NOT_DONE)
    except Gone as exc:
        return fail(err, exc.message, EXIT_EXPIRED)
    except ExportError as exc:
        return fail(err, exc.message, EXIT_FAILED)


def operator_view(service: JobService, doc: dict[str, Any]) -> dict[str, Any]:
    """The job object the API shows its owner, plus the owner."""
    return {**service.job_object(doc), "owner_id": str(doc.get("owner_id"))}


def find(service: JobService, job_id: str) -> dict[str, Any]:
    """Any owner's job by id, else NotFound (a malformed id is unknown too, as in the API)."""
    oid = parse_job_id(job_id)
    doc = service.records.find(oid, any_owner=True) if oid is not None else None
    if doc is None:
        raise NotFound(f"no export job {job_id[:64]!r}")
    return doc


def list_jobs(service: JobService, args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise BadRequest("--limit must be at least 1")
    query: dict[str, Any] = {"status": args.status or {"$in": list(STATUSES)}, "cancelled": {"$ne": True}}
    if args.owner:
        query["owner_id"] = owner_id_from_text(args.owner)
    with driver_errors(service.settings.retry_after_seconds):
        cursor = service.records.jobs.find(query).sort([("created_at", -1), ("_id", -1)]).limit(args.limit)
        jobs = [operator_view(service, doc) for doc in cursor]
    if args.json:
        print(json.dumps({"jobs": jobs}, indent=2))
        return 0
    print(f"{'ID':<24}  {'STATUS':<7}  {'CREATED':<20}  {'SIZE':>9}  {'OWNER':<24}  URL")
    for job in jobs:
        size = human_bytes(job["size"]) if job["size"] is not None else "-"
        line = f"{job['id']:<24}  {job['status']:<7}  {job['created_at']:<20}  {size:>9}  {job['owner_id']:<24}"
        print(f"{line}  {job['url']}")
    return 0


def download(service: JobService, args: argparse.Namespace, err: Any) -> int:
    with driver_errors(service.settings.retry_after_seconds):
        doc = find(service, args.job_id)
        job_file = service.open_file(args.job_id, owner_id=doc["owner_id"])  # 409 / 410 as the API's
    path = args.output or filename_of(job_file.disposition)
    progress = Progress(err)
    try:
        with progress, driver_errors(service.settings.retry_after_seconds):
            progress.set_phase("downloading")
            written, size = write_atomically(job_file.open(), path, progress)
    except OSError as exc:
        return fail(err, f"cannot write the file: {exc.strerror or exc}", EXIT_FAILED)
    except KeyboardInterrupt:
        return fail(err, "interrupted; no file written", 130)
    progress.done(f"spoo-export: wrote {written} ({human_bytes(size)}) in {progress.elapsed():.1f}s")
    return 0


def filename_of(disposition: str) -> str:
    """The name ``Content-Disposition`` gives the file (``filename*`` first), as a bare file name."""
    extended = re.search(r"filename\*=UTF-8''([^;]+)", disposition)
    plain = re.search(r'filename="([^"]+)"', disposition)
    name = unquote(extended.group(1)) if extended else plain.group(1) if plain else "export"
    name = os.path.basename(name.replace("\\", "/"))
    return name if name not in ("", ".", "..") else "export"
