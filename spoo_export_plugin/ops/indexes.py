"""``spoo-export ensure-indexes``: the indexes the export's queries rely on.

Without them an export is a scan of the whole collection. Each index is created only
when no existing index already serves it (same leading keys), and never on a collection
that does not exist yet (``clicks`` is usually a time-series collection the host creates).
No index is made unique: the plugin does not impose constraints on the host's data.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..core.engine.store import Store, driver_errors
from ..core.exceptions import ConfigurationError, ExportError
from ..core.settings import ExportSettings
from .cli_settings import add_setting_flags, settings_from_args

EXIT_MISSING = 1
EXIT_BAD_INPUT = 2


@dataclass(frozen=True)
class IndexSpec:
    collection: str
    keys: tuple[tuple[str, int], ...]
    why: str

    def describe(self) -> str:
        return "{" + ", ".join(f"{k}: {d}" for k, d in self.keys) + "}"


def required_indexes(settings: ExportSettings) -> list[IndexSpec]:
    f = settings.fields
    return [
        IndexSpec(settings.clicks_collection, ((f.owner_id, 1), (f.clicked_at, 1)), "scope=all exports"),
        IndexSpec(settings.clicks_collection, ((f.url_id, 1), (f.clicked_at, 1)), "scope=anon and per-link exports"),
        IndexSpec(settings.clicks_collection, ((f.short_code, 1), (f.clicked_at, 1)), "legacy URLs' exports"),
        IndexSpec(settings.urls_collection, (("alias", 1),), "short code lookups"),
        IndexSpec(settings.urls_collection, (("owner_id", 1), ("created_at", 1)), "an owner's oldest URL"),
        IndexSpec(settings.api_keys_collection, (("token_hash", 1),), "API key lookups"),
    ]


def _serving_index(spec: IndexSpec, existing: dict[str, Any]) -> str | None:
    """The name of an existing index whose leading keys are exactly ``spec.keys``."""
    for name, info in existing.items():
        keys = tuple((str(k), int(d) if isinstance(d, (int, float)) else d) for k, d in info.get("key", []))
        if keys[: len(spec.keys)] == spec.keys:
            return name
    return None


def ensure_indexes(
    store: Store, settings: ExportSettings, *, create: bool = True
) -> Iterator[tuple[IndexSpec, str, str]]:
    """Yield ``(spec, state, detail)``; state is ``exists``, ``created``, ``missing`` or ``skipped``."""
    with driver_errors(settings.retry_after_seconds):
        present = set(store.database.list_collection_names())
        for spec in required_indexes(settings):
            if spec.collection not in present:
                yield spec, "skipped", f"collection {spec.collection!r} does not exist"
                continue
            collection = store.database[spec.collection]
            found = _serving_index(spec, collection.index_information())
            if found is not None:
                yield spec, "exists", found
            elif not create:
                yield spec, "missing", ""
            else:
                yield spec, "created", collection.create_index(list(spec.keys))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--check", action="store_true", help="create nothing; list what is missing and exit 1 if anything is"
    )
    add_setting_flags(
        parser,
        (
            "mongodb_uri",
            "database_name",
            "clicks_collection",
            "urls_collection",
            "api_keys_collection",
            "server_selection_timeout_ms",
        ),
        offline=True,
    )


def run(args: argparse.Namespace) -> int:
    out, err = sys.stdout, sys.stderr
    try:
        settings = settings_from_args(args)
        results = list(ensure_indexes(Store(settings), settings, create=not args.check))
    except ConfigurationError as exc:
        err.write(f"spoo-export: error: {exc}\n")
        return EXIT_BAD_INPUT
    except ExportError as exc:
        err.write(f"spoo-export: error: {exc.message}\n")
        return EXIT_MISSING
    for spec, state, detail in results:
        note = {
            "exists": f"already exists ({detail})",
            "created": f"created ({detail})",
            "missing": "MISSING",
            "skipped": f"skipped: {detail}",
        }[state]
        out.write(f"{spec.collection} {spec.describe()} for {spec.why}: {note}\n")
    return EXIT_MISSING if any(state == "missing" for _, state, _ in results) else 0
