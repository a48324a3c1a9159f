"""Shared fixtures: a mongomock database, the real Falcon app over it (through both doors, WSGI and
ASGI: tests/doors.py), a SecantusDB server, both executors."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import falcon.testing
import mongomock
import pytest

from spoo_export_plugin import ExportSettings

from . import doors
from .examples import ExampleClient


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--doors",
        default=",".join(doors.DOORS),
        help="the doors HTTP-level tests run through, comma-separated: wsgi, asgi (default: both)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test that takes ``door`` (directly or through ``client``/``make_app``) runs once per chosen door."""
    if "door" in metafunc.fixturenames:
        chosen = [d.strip() for d in metafunc.config.getoption("doors").split(",") if d.strip()]
        unknown = set(chosen) - set(doors.DOORS)
        if unknown:
            raise pytest.UsageError(f"--doors: unknown {sorted(unknown)}; expected some of {doors.DOORS}")
        marker = metafunc.definition.get_closest_marker("doors")
        if marker is not None:  # a test about something behind the door runs through the doors it names
            chosen = [door for door in chosen if door in marker.args] or list(marker.args[:1])
        metafunc.parametrize("door", chosen, indirect=True)


@pytest.fixture
def db() -> Any:
    return mongomock.MongoClient().get_database("spoo")


@pytest.fixture
def settings(db: Any) -> ExportSettings:
    return ExportSettings(database=db)


@pytest.fixture
def door(request: pytest.FixtureRequest) -> Iterator[str]:
    """The door this test goes through (``wsgi`` or ``asgi``): every app the test builds with
    ``doors.make_app`` / ``doors.client_for`` (the ``client`` fixture included) uses it."""
    token = doors.current_door.set(request.param)
    yield request.param
    doors.current_door.reset(token)


@pytest.fixture
def make_app(door: str) -> Callable[[ExportSettings], Any]:
    """``create_app`` or ``create_asgi_app``, as the test's door says."""
    return doors.make_app


@pytest.fixture
def client(settings: ExportSettings, door: str) -> falcon.testing.TestClient:
    return doors.client_for(settings)


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
def example_env(db: Any, aggregation: str, door: str) -> ExampleClient:
    """The hand-computed examples' client over ``db`` (mongomock, or SecantusDB where a module says so),
    through each door."""
    return ExampleClient(db, aggregation)
