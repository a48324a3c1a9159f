"""Shared fixtures: a mongomock database, the real Falcon app over it, a SecantusDB server, both executors."""

from __future__ import annotations

import hashlib
from typing import Any

import falcon.testing
import mongomock
import pytest

from spoo_export_plugin import ExportSettings, create_app

from .examples import ExampleClient


@pytest.fixture
def db() -> Any:
    return mongomock.MongoClient().get_database("spoo")


@pytest.fixture
def settings(db: Any) -> ExportSettings:
    return ExportSettings(database=db)


@pytest.fixture
def client(settings: ExportSettings) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(create_app(settings))


@pytest.fixture(scope="session")
def secantus_uri(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A SecantusDB server (MongoDB wire protocol over TCP, standalone) for the session."""
    secantus = pytest.importorskip("secantus", reason="secantusdb (test-only, GPL-2.0) is not installed")
    server = secantus.SecantusDBServer(host="127.0.0.1", port=0, storage_path=":memory:", replica_set_name=None)
    server.start()
    uri = server.uri if isinstance(server.uri, str) else server.uri()
    yield uri
    server.stop()


@pytest.fixture
def mongo_db(secantus_uri: str, request: pytest.FixtureRequest) -> Any:
    """A fresh database on the SecantusDB server, dropped afterwards."""
    import pymongo

    client = pymongo.MongoClient(secantus_uri, directConnection=True, serverSelectionTimeoutMS=3000)
    name = "t_" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:16]
    yield client.get_database(name)
    client.drop_database(name)
    client.close()


@pytest.fixture(params=["worker", "database"])
def aggregation(request: pytest.FixtureRequest) -> str:
    """A test that takes ``aggregation`` runs on both executors: one semantics, two places to group."""
    return request.param


@pytest.fixture
def example_env(db: Any, aggregation: str) -> ExampleClient:
    """The hand-computed examples' client over ``db`` (mongomock, or SecantusDB where a module says so)."""
    return ExampleClient(db, aggregation)
