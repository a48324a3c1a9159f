"""The database the slow-client tests' servers read: SecantusDB in a process of its own, seeded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from ..factories import unused_port
from ..slowclients import seed

_DATABASE_SERVER = """
import sys, time, secantus
server = secantus.SecantusDBServer(host="127.0.0.1", port=int(sys.argv[1]), storage_path=":memory:",
                                   replica_set_name=None)
server.start()
while True:
    time.sleep(3600)
"""


@pytest.fixture(scope="module")
def own_database_uri() -> Iterator[str]:
    """A SecantusDB server in a process of its own, as a real database would be: the session's
    in-process one shares this process's interpreter lock with the clients the tests run here
    (and whatever earlier tests left in it), which delayed probes by seconds."""
    import pymongo

    pytest.importorskip("secantus", reason="secantusdb (test-only, GPL-2.0) is not installed")
    port = unused_port()
    process = subprocess.Popen([sys.executable, "-c", _DATABASE_SERVER, str(port)], start_new_session=True)
    uri = f"mongodb://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                pymongo.MongoClient(uri, directConnection=True, serverSelectionTimeoutMS=500).admin.command("ping")
                break
            except pymongo.errors.PyMongoError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
        yield uri
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture(scope="module")
def seeded(own_database_uri: str) -> Iterator[tuple[str, str]]:
    import pymongo

    secantus_uri = own_database_uri
    client = pymongo.MongoClient(secantus_uri, directConnection=True)
    db = client.get_database("slow_clients")
    client.drop_database(db.name)
    seed(db)
    try:
        yield secantus_uri, db.name
    finally:
        client.drop_database(db.name)
        client.close()
