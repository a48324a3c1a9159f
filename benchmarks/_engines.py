"""Database engines for the benchmark, each counting the commands of one export.

``Calls`` counts round trips (``aggregate``/``find``/``getMore``), scans of the clicks
(``aggregate``/``find`` on the clicks collection) and the time spent in the database.
SecantusDB is watched through pymongo command monitoring; mongomock, which has no wire
protocol, through a wrapper around its collections.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any


class Calls:
    """Database commands seen during one export: round trips and scans of the clicks."""

    def __init__(self) -> None:
        self.commands: Counter[str] = Counter()
        self.scans = 0
        #: Time spent in the database (commands, cursor batches), the rest being the app's.
        self.db_seconds = 0.0

    def add(self, name: str, collection: Any, pipeline_or_filter: Any = None) -> None:
        self.commands[name] += 1
        if name in ("aggregate", "find") and collection == "clicks":
            self.scans += 1

    @property
    def round_trips(self) -> int:
        return sum(self.commands[c] for c in ("aggregate", "find", "getMore"))

    def reset(self) -> None:
        self.commands.clear()
        self.scans = 0
        self.db_seconds = 0.0


class _CountingCollection:
    """mongomock has no wire protocol to monitor: count the calls on the collection."""

    def __init__(self, coll: Any, calls: Calls):
        self._coll, self._calls = coll, calls

    def _timed(self, call: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        try:
            return call()
        finally:
            self._calls.db_seconds += time.perf_counter() - t0

    def _drain(self, cursor: Any) -> Iterator[Any]:
        iterator = iter(cursor)
        while True:
            try:
                doc = self._timed(lambda: next(iterator))
            except StopIteration:
                return
            yield doc

    def aggregate(self, pipeline: Any, *args: Any, **kwargs: Any) -> Any:
        self._calls.add("aggregate", self._coll.name, pipeline)
        return self._drain(self._timed(lambda: self._coll.aggregate(pipeline, *args, **kwargs)))

    def find(self, *args: Any, **kwargs: Any) -> Any:
        self._calls.add("find", self._coll.name)
        return self._coll.find(*args, **kwargs)

    def find_one(self, *args: Any, **kwargs: Any) -> Any:
        self._calls.add("find", self._coll.name)
        return self._timed(lambda: self._coll.find_one(*args, **kwargs))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._coll, name)


class _CountingDatabase:
    def __init__(self, db: Any, calls: Calls):
        self._db, self._calls = db, calls

    def __getitem__(self, name: str) -> _CountingCollection:
        return _CountingCollection(self._db[name], self._calls)

    def get_collection(self, name: str, **kwargs: Any) -> _CountingCollection:
        return _CountingCollection(self._db.get_collection(name, **kwargs), self._calls)

    def __getattr__(self, name: str) -> Any:
        return self[name] if not name.startswith("_") else getattr(self._db, name)


def mongomock_engine(calls: Calls) -> Iterator[Any]:
    import mongomock

    db = mongomock.MongoClient().get_database("bench")
    yield _CountingDatabase(db, calls)


def secantus_engine(calls: Calls) -> Iterator[Any]:
    """An in-process SecantusDB server over TCP; commands counted by pymongo monitoring."""
    import pymongo
    import secantus
    from pymongo import monitoring

    class Listener(monitoring.CommandListener):
        def started(self, event: monitoring.CommandStartedEvent) -> None:
            cmd = event.command
            collection = cmd.get("collection") if event.command_name == "getMore" else cmd.get(event.command_name)
            calls.add(event.command_name, collection)

        def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
            calls.db_seconds += event.duration_micros / 1e6

        def failed(self, event: Any) -> None:
            pass

    server = secantus.SecantusDBServer(host="127.0.0.1", port=0, storage_path=":memory:", replica_set_name=None)
    server.start()
    uri = server.uri if isinstance(server.uri, str) else server.uri()
    client = pymongo.MongoClient(uri, directConnection=True, event_listeners=[Listener()])
    try:
        yield client.get_database("bench")
    finally:
        client.close()
        server.stop()


ENGINES: dict[str, Callable[[Calls], Iterator[Any]]] = {"mongomock": mongomock_engine, "secantus": secantus_engine}
