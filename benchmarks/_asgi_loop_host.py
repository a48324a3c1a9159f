"""The host ``bench_asgi_loop.py`` runs under a real uvicorn: a FastAPI app with a ``/ping`` route,
wrapped with ``ExportASGIMiddleware``, over a spoo.me-shaped mongomock dataset (``_dataset.py``).

Configured by the driver through the environment (not for use by hand)::

    BENCH_CLICKS          clicks of the owner (default 1000)
    BENCH_SECRET          the API key's secret (the key is ``spoo_`` + it)
    BENCH_REPLAY          1: the clicks' aggregations are answered from a replay of mongomock's
                          first answer (no CPU of the database in this process), after
    BENCH_DB_WAIT         seconds of ``time.sleep`` in the export's thread per aggregation: the
                          wait on a real MongoDB, which does its grouping in another process
    BENCH_AGGREGATION     the plugin's ``aggregation`` (database, worker)
    BENCH_MAX_EXPORTS     ``max_concurrent_exports`` (default 4: the pool has 8 threads)
    BENCH_SWITCH_INTERVAL ``sys.setswitchinterval`` (seconds; Python's default is 0.005)
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

import _dataset
import mongomock
from fastapi import FastAPI

from spoo_export_plugin import ExportASGIMiddleware, ExportSettings

#: Documents per simulated getMore: pymongo's first batch of an aggregation holds 101.
BATCH = 101


class ReplayedClicks:
    """The clicks collection as a MongoDB server answers it: each aggregation waits ``wait`` seconds
    (half before the first batch, the rest spread over the following batches, as getMores would)
    and returns what mongomock answered the first time the same pipeline was asked."""

    def __init__(self, collection: Any, wait: float):
        self._collection, self._wait = collection, wait
        self._answers: dict[str, list[dict[str, Any]]] = {}

    def aggregate(self, pipeline: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
        key = repr(pipeline)
        if key not in self._answers:
            self._answers[key] = list(self._collection.aggregate(pipeline, *args, **kwargs))
        return self._replay(self._answers[key])

    def _replay(self, documents: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        batches = max(1, -(-len(documents) // BATCH))
        time.sleep(self._wait / 2)
        for start in range(0, len(documents), BATCH):
            if start:
                time.sleep(self._wait / 2 / batches)
            yield from (dict(document) for document in documents[start : start + BATCH])

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)


class ReplayDatabase:
    def __init__(self, database: Any, wait: float):
        self._database = database
        self._clicks = ReplayedClicks(database.clicks, wait)

    def __getitem__(self, name: str) -> Any:
        return self._clicks if name == "clicks" else self._database[name]

    def get_collection(self, name: str, **kwargs: Any) -> Any:
        return self._clicks if name == "clicks" else self._database.get_collection(name, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return self[name] if not name.startswith("_") else getattr(self._database, name)


def build() -> FastAPI:
    if os.environ.get("BENCH_SWITCH_INTERVAL"):
        sys.setswitchinterval(float(os.environ["BENCH_SWITCH_INTERVAL"]))
    database: Any = mongomock.MongoClient().get_database("bench")
    owner, _ = _dataset.seed(database, int(os.environ.get("BENCH_CLICKS", "1000")))
    secret = os.environ["BENCH_SECRET"]
    database["api-keys"].insert_one(
        {
            "user_id": owner,
            "token_hash": hashlib.sha256(secret.encode()).hexdigest(),
            "scopes": ["stats:read"],
            "revoked": False,
        }
    )
    if os.environ.get("BENCH_REPLAY") == "1":
        database = ReplayDatabase(database, float(os.environ.get("BENCH_DB_WAIT", "0")))
    settings = ExportSettings(
        database=database,
        aggregation=os.environ.get("BENCH_AGGREGATION", "database"),
        max_concurrent_exports=int(os.environ.get("BENCH_MAX_EXPORTS", "4")),
        authenticated_limits="1000000/minute",
        anonymous_limits="1000000/minute",
        max_time_ms=600_000,
    )
    api = FastAPI()

    @api.get("/ping")
    async def ping() -> dict[str, bool]:
        """A host route: it runs on the event loop, so its latency is the loop's lag."""
        return {"pong": True}

    api.add_middleware(ExportASGIMiddleware, settings=settings)
    return api


app = build()
