"""``spoo-export schedules list|get|pause|resume|delete``: scheduled reports seen by the operator (no API key).

Every owner's schedules, read from the collection the web processes and ``spoo-export scheduler`` share;
settings from the flags and the ``SPOO_EXPORT_*`` environment, as ``spoo-export jobs``. A schedule is
shown as the API shows it (:func:`~spoo_export_plugin.schedules.store.schedule_object`) plus
``owner_id``, which only the operator sees. ``pause``, ``resume`` and ``delete`` find the schedule
whoever owns it, then act through the owner's own :class:`ScheduleStore` doors, so an operator's
pause is exactly the owner's (``next_run_at`` null; a resume skips the slots missed meanwhile).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..core.engine.store import driver_errors, owner_id_from_text
from ..core.exceptions import BadRequest, ConfigurationError, ExportError, NotFound
from ..schedules.store import ScheduleStore, parse_schedule_id, schedule_object
from .cli_settings import add_setting_flags, settings_from_args
from .export_files import EXIT_BAD_INPUT, EXIT_FAILED, fail

LIST_DEFAULT_LIMIT = 100
_SETTINGS = ("mongodb_uri", "database_name", "schedules_collection", "server_selection_timeout_ms")
EXIT_CODES_HELP = (
    "exit codes: 0 done; 1 unknown schedule or MongoDB unreachable; 2 bad input or settings. "
    "The database comes from --mongodb-uri or SPOO_EXPORT_MONGODB_URI."
)
_ACTIONS = {
    "get": "one schedule as JSON (the API's schedule object plus owner_id)",
    "pause": "pause a schedule (no slot runs until it is resumed); prints it as JSON",
    "resume": "resume a schedule from now (the slots missed while paused do not run); prints it as JSON",
    "delete": "delete a schedule (the jobs it ran keep their files until they expire)",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="schedules_command", required=True, metavar="{list,get,pause,resume,delete}")
    listing = sub.add_parser("list", help="schedules of every owner (or one), newest first", epilog=EXIT_CODES_HELP)
    listing.add_argument("--owner", metavar="ID", help="only this owner's schedules (a 24-hex id is an ObjectId)")
    state = listing.add_mutually_exclusive_group()
    state.add_argument("--paused", dest="paused", action="store_const", const=True, help="only paused schedules")
    state.add_argument("--active", dest="paused", action="store_const", const=False, help="only active schedules")
    listing.add_argument(
        "--limit", type=int, default=LIST_DEFAULT_LIMIT, metavar="N", help=f"at most N (default {LIST_DEFAULT_LIMIT})"
    )
    listing.add_argument(
        "--json", action="store_true", help='print {"schedules": [<schedule object>, ...]} instead of a table'
    )
    commands = [listing]
    for name, help_text in _ACTIONS.items():
        command = sub.add_parser(name, help=help_text, description=help_text, epilog=EXIT_CODES_HELP)
        command.add_argument("schedule_id", metavar="ID")
        commands.append(command)
    for command in commands:
        add_setting_flags(command, _SETTINGS, offline=True)


def run(args: argparse.Namespace) -> int:
    err = sys.stderr
    try:
        store = ScheduleStore(settings_from_args(args))
        if args.schedules_command == "list":
            return list_schedules(store, args)
        doc = find(store, args.schedule_id)
        if args.schedules_command == "delete":
            store.delete(doc["owner_id"], doc["_id"])
            return 0
        if args.schedules_command in ("pause", "resume"):
            doc = store.set_paused(doc["owner_id"], doc["_id"], args.schedules_command == "pause")
        print(json.dumps(operator_view(doc), indent=2))
        return 0
    except (ConfigurationError, BadRequest) as exc:
        return fail(err, exc.message if isinstance(exc, ExportError) else str(exc), EXIT_BAD_INPUT)
    except ExportError as exc:  # NotFound, or the database unreachable (503)
        return fail(err, exc.message, EXIT_FAILED)


def operator_view(doc: dict[str, Any]) -> dict[str, Any]:
    """The schedule object the API shows its owner, plus the owner."""
    return {**schedule_object(doc), "owner_id": str(doc.get("owner_id"))}


def find(store: ScheduleStore, schedule_id: str) -> dict[str, Any]:
    """Any owner's schedule by id, else NotFound (a malformed id is unknown too, as in the API)."""
    key = parse_schedule_id(schedule_id)
    doc: dict[str, Any] | None = None
    if key is not None:
        with driver_errors(store.settings.retry_after_seconds):
            doc = store.schedules.find_one({"_id": key})
    if doc is None:
        raise NotFound(f"no schedule {schedule_id[:64]!r}")
    return doc


def list_schedules(store: ScheduleStore, args: argparse.Namespace) -> int:
    """Every owner's schedules (or one owner's, paused or active ones), newest first, as a table or JSON."""
    if args.limit < 1:
        raise BadRequest("--limit must be at least 1")
    query: dict[str, Any] = {}
    if args.owner:
        query["owner_id"] = owner_id_from_text(args.owner)
    if args.paused is not None:
        query["paused"] = args.paused
    with driver_errors(store.settings.retry_after_seconds):
        cursor = store.schedules.find(query).sort([("created_at", -1), ("_id", -1)]).limit(args.limit)
        schedules = [operator_view(doc) for doc in cursor]
    if args.json:
        print(json.dumps({"schedules": schedules}, indent=2))
        return 0
    print(f"{'ID':<24}  {'STATE':<6}  {'NEXT RUN':<20}  {'LAST RUN':<20}  {'OWNER':<24}  {'TIMEZONE':<20}  CRON | URL")
    for shown in schedules:
        state = "paused" if shown["paused"] else "active"
        line = f"{shown['id']:<24}  {state:<6}  {shown['next_run_at'] or '-':<20}  {shown['last_run_at'] or '-':<20}"
        print(f"{line}  {shown['owner_id']:<24}  {shown['timezone']:<20}  {shown['cron']} | {shown['url']}")
    return 0
