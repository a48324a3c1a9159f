"""MongoDB access: collections, lookups and aggregations.

Driver errors are wrapped in the plugin's own :class:`Unavailable` here, the only module
that talks to the driver, so callers never see a pymongo exception.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import MongoClient, ReadPreference
from pymongo import errors as pymongo_errors

from ..exceptions import TIMEOUT_MESSAGE, BadRequest, Unavailable
from ..request.query_values import is_object_id
from ..settings import ExportSettings


@dataclass(frozen=True)
class UrlInfo:
    """What the export needs to know about one short URL."""

    short_code: str
    owner_id: Any
    created_at: datetime | None
    private_stats: bool
    #: The URL's ``_id`` as 24 hex digits (urlsV2 documents; legacy ones have none).
    url_id: str | None = None
    #: The ``_id`` as stored, the value its clicks hold in ``meta.url_id``; None for a legacy URL.
    id: Any = None
    #: Its custom domain; None on the host's main domain.
    domain: str | None = None
    #: A legacy URL (``urls``, ownerless): its clicks are the ownerless ones with its code and no url id.
    legacy: bool = False

    def owned_by(self, owner_id: Any) -> bool:
        """Whether ``owner_id`` owns the URL (ids compared as text: an ObjectId and its hex alike)."""
        return self.owner_id is not None and owner_id is not None and str(self.owner_id) == str(owner_id)


def owner_id_from_text(text: str) -> Any:
    """An owner id as ``meta.owner_id`` holds it: 24 hex digits are an ObjectId (spoo.me's ids),
    any other text stays text. For ids read from text: a JWT's subject, the command line's --owner."""
    if is_object_id(text):
        from bson import ObjectId

        return ObjectId(text)
    return text


_TIMEOUT_MESSAGE = TIMEOUT_MESSAGE
_UNREACHABLE_MESSAGE = "the statistics database is unreachable; try again shortly"
_MEMORY_MESSAGE = (
    "the export needs more memory than the database allows for one query; "
    "try a shorter date range or fewer group_by dimensions"
)
#: Server codes for "a stage ran out of its memory budget": ExceededMemoryLimit,
#: QueryExceededMemoryLimitNoDiskUseAllowed, the sort limits, and BSONObjectTooLarge.
_MEMORY_CODES = frozenset({146, 292, 16819, 16820, 16945, 10334})
#: The server does not know a timezone name Python's tz database accepted.
_TIMEZONE_CODES = frozenset({40485, 40517})


@contextlib.contextmanager
def driver_errors(retry_after: int) -> Iterator[None]:
    """Turn driver failures into :class:`Unavailable` (503 + Retry-After)."""
    try:
        yield
    except pymongo_errors.ExecutionTimeout:
        raise Unavailable(_TIMEOUT_MESSAGE, retry_after=retry_after) from None
    except pymongo_errors.NetworkTimeout:  # the socket timeout ended a query the server did not stop
        raise Unavailable(_TIMEOUT_MESSAGE, retry_after=retry_after) from None
    except (pymongo_errors.ConnectionFailure, pymongo_errors.ServerSelectionTimeoutError):
        raise Unavailable(_UNREACHABLE_MESSAGE, retry_after=retry_after) from None
    except pymongo_errors.OperationFailure as exc:
        if exc.code == 50:  # MaxTimeMSExpired
            raise Unavailable(_TIMEOUT_MESSAGE, retry_after=retry_after) from None
        if exc.code in _MEMORY_CODES:
            raise Unavailable(_MEMORY_MESSAGE, retry_after=retry_after) from None
        if exc.code in _TIMEZONE_CODES:
            raise BadRequest("the database does not know this timezone; use another IANA name", "timezone") from None
        raise


#: URLs read for one alias: two tell one URL from several (aliases are unique per domain only).
_ALIAS_PROBE = 2
#: Documents per batch of the worker executor's find (~250 B each: ~1 MB held by the driver).
_FIND_BATCH = 4_000


class Store:
    """The collections of one deployment, opened lazily (after a gunicorn fork)."""

    def __init__(self, settings: ExportSettings):
        self.settings = settings
        self._database = settings.database
        self._lock = threading.Lock()
        # "secondaryPreferred" -> ReadPreference.SECONDARY_PREFERRED, once; None = the default (primary).
        self._read_preference: Any = None
        if settings.read_preference != "primary":
            mode = "".join("_" + c if c.isupper() else c.upper() for c in settings.read_preference)
            self._read_preference = getattr(ReadPreference, mode)

    @property
    def database(self) -> Any:
        if self._database is None:
            with self._lock:
                if self._database is None:
                    s = self.settings
                    client: MongoClient[dict[str, Any]] = MongoClient(
                        s.mongodb_uri,
                        serverSelectionTimeoutMS=s.server_selection_timeout_ms,
                        connectTimeoutMS=s.server_selection_timeout_ms,
                        # A backstop for a server that stops answering mid-query; maxTimeMS
                        # normally ends a slow query first. (pymongo retries a read once, so
                        # the worst case is twice this.)
                        socketTimeoutMS=s.max_time_ms + 2_000,
                        appname="spoo-export",
                    )
                    self._database = client.get_database(s.database_name)
        return self._database

    def collection(self, name: str) -> Any:
        if self._read_preference is None:
            return self.database[name]
        return self.database.get_collection(name, read_preference=self._read_preference)

    @property
    def clicks(self) -> Any:
        return self.collection(self.settings.clicks_collection)

    def _guard(self) -> contextlib.AbstractContextManager[None]:
        return driver_errors(self.settings.retry_after_seconds)

    def find_urls(self, short_code: str, domain: str | None = None) -> list[UrlInfo]:
        """The urlsV2 URLs with this alias, at most two (enough to tell one from several).

        ``domain`` None: on any domain; ``""``: on the host's main domain (the domain field absent,
        null or empty); else that custom domain, as given or lower-cased. The domain is an equality
        inside ``$in``, never an operator; the ``alias`` index serves the lookup.
        """
        code, field = str(short_code), self.settings.url_domain_field
        query: dict[str, Any] = {"alias": code}
        if domain is not None:
            query[field] = {"$in": [None, ""] if domain == "" else sorted({str(domain), str(domain).lower()})}
        with self._guard():
            docs = list(
                self.collection(self.settings.urls_collection)
                .find(query, {"owner_id": 1, "created_at": 1, "private_stats": 1, field: 1})
                .limit(_ALIAS_PROBE)
            )
        return [_url_info(doc, code, field) for doc in docs]

    def find_legacy_url(self, short_code: str) -> UrlInfo | None:
        """A legacy URL (``_id`` is the short code): ownerless, on the main domain, public stats."""
        code = str(short_code)
        with self._guard():
            legacy = self.collection(self.settings.legacy_urls_collection).find_one({"_id": code})
        if legacy is None:
            return None
        created = legacy.get("created_at") or legacy.get("creation-date")
        return UrlInfo(code, None, _date_or_none(created), False, legacy=True)

    def find_url_by_id(self, url_id: str) -> UrlInfo | None:
        """A urlsV2 URL by its ``_id`` (24 hex digits, checked by the caller)."""
        from bson import ObjectId

        field = self.settings.url_domain_field
        with self._guard():
            doc = self.collection(self.settings.urls_collection).find_one(
                {"_id": ObjectId(url_id)}, {"alias": 1, "owner_id": 1, "created_at": 1, "private_stats": 1, field: 1}
            )
        if doc is None:
            return None
        return _url_info(doc, str(doc.get("alias") or ""), field)

    def oldest_url_created(self, owner_id: Any) -> datetime | None:
        with self._guard():
            docs = list(
                self.collection(self.settings.urls_collection)
                .find({"owner_id": owner_id, "created_at": {"$type": "date"}}, {"created_at": 1})
                .sort("created_at", 1)
                .limit(1)
            )
        return docs[0]["created_at"] if docs else None

    def aggregate(self, pipeline: list[dict[str, Any]], *, batch_size: int | None = None) -> Iterator[dict[str, Any]]:
        """Run a pipeline with the time budget and disk use allowed; rows stream from the cursor.

        The database executor reads through here (the whole export pipeline), the first-click
        lookup for a default start, and the raw-click cursor. ``batch_size`` caps the documents of
        each batch the driver holds (the raw-click cursor sets it: a server's default getMore batch
        may be 16 MB, or, on some engines, the whole rest of the result).
        """
        options = {"batchSize": int(batch_size)} if batch_size else {}
        with self._guard():
            cursor = self.clicks.aggregate(pipeline, allowDiskUse=True, maxTimeMS=self.settings.max_time_ms, **options)
            yield from cursor

    def find(self, query: dict[str, Any], projection: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The clicks ``query`` matches, trimmed by ``projection``, streamed, with the time budget.

        The worker executor reads through here (:meth:`.service.Exporter.grouped_rows`). Batches
        of at most ``_FIND_BATCH`` documents: an engine whose getMore would send the whole rest of
        the result (SecantusDB) cannot make the driver hold every click at once.
        """
        with self._guard():
            cursor = self.clicks.find(query, projection, max_time_ms=self.settings.max_time_ms, batch_size=_FIND_BATCH)
            yield from cursor

    def find_api_key(self, token_hash: str) -> dict[str, Any] | None:
        with self._guard():
            # Always the primary: a revoked key must stop working at once, not after replication.
            found: dict[str, Any] | None = self.database[self.settings.api_keys_collection].find_one(
                {"token_hash": str(token_hash)}
            )
            return found


def _url_info(doc: dict[str, Any], alias: str, domain_field: str) -> UrlInfo:
    """A urlsV2 document as :class:`UrlInfo` (``domain_field`` may be a dotted path)."""
    domain: Any = doc
    for part in domain_field.split("."):
        domain = domain.get(part) if isinstance(domain, dict) else None
    return UrlInfo(
        alias,
        doc.get("owner_id"),
        _date_or_none(doc.get("created_at")),
        bool(doc.get("private_stats", False)),
        url_id=str(doc["_id"]),
        id=doc["_id"],
        domain=str(domain) if domain not in (None, "") else None,
    )


def _date_or_none(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) else None
