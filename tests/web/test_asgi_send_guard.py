"""The ASGI door's send guard: uvicorn's connection found behind the host's middleware, a send without
progress cut after ``send_timeout_seconds``, and a gone client noticed before the next chunk."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from fastapi import FastAPI

from spoo_export_plugin import ExportASGIMiddleware, ExportSettings
from spoo_export_plugin.web.asgi import server_connection

from ..factories import add_url, make_click


class Cycle:
    """The shape of uvicorn's request cycle the guard reads: ``transport`` and ``disconnected``."""

    def __init__(self, *, stall_after: int | None = None, gone_after: int | None = None):
        self.transport = self
        self.disconnected = False
        self.aborted = False
        self.messages: list[dict[str, Any]] = []
        self._stall_after = stall_after
        self._gone_after = gone_after

    def abort(self) -> None:
        self.aborted = True

    async def send(self, message: dict[str, Any]) -> None:
        if self._gone_after is not None and len(self.messages) >= self._gone_after:
            self.disconnected = True  # uvicorn drops a send to a gone client silently
            return
        if self._stall_after is not None and len(self.messages) >= self._stall_after:
            await asyncio.sleep(3600)  # a reader that stopped reading: the send never completes
        self.messages.append(message)


def scope(path: str, query: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query,
        "headers": [(b"host", b"testserver")],
        "client": ("203.0.113.9", 50000),
        "server": ("testserver", 80),
    }


async def receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


def host_with_plugin(db: Any, **settings: Any) -> FastAPI:
    app = FastAPI()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(ExportASGIMiddleware, settings=ExportSettings(database=db, **settings))
    return app


@pytest.fixture
def big_export(db: Any) -> bytes:
    """A statistics export streamed in several chunks (the header, the 1,440 minutes, the closing brackets)."""
    from datetime import datetime, timedelta

    from bson import ObjectId

    owner = ObjectId()
    add_url(db, "abc", owner, created_at=datetime(2025, 1, 1))
    start = datetime(2025, 3, 1)
    db.clicks.insert_many([make_click("abc", owner, start + timedelta(seconds=i)) for i in range(300)])
    return (
        b"format=json&scope=anon&short_code=abc&group_by=time&granularity=minute"
        b"&start_date=2025-03-01&end_date=2025-03-02"
    )


def test_the_connection_is_found_behind_starlettes_middleware(db: Any) -> None:
    cycle = Cycle()
    seen: list[Any] = []

    class Probe:
        def __init__(self, app: Any):
            self.app = app

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            seen.append(server_connection(send))
            await self.app(scope, receive, send)

    app = host_with_plugin(db)
    app.add_middleware(Probe)
    asyncio.run(app(scope("/health", b""), receive, cycle.send))
    assert seen == [cycle]
    assert server_connection(print) is None and server_connection(lambda message: None) is None


def test_a_reader_that_stops_is_cut_off_its_slot_freed_and_the_export_logged_aborted(
    db: Any, big_export: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    app = host_with_plugin(db, send_timeout_seconds=1, max_concurrent_exports=1, anonymous_limits="100/minute")
    stalled = Cycle(stall_after=2)  # the head and one chunk, then nothing
    with caplog.at_level(logging.INFO, logger="spoo_export_plugin"):
        asyncio.run(asyncio.wait_for(app(scope("/api/v1/export", big_export), receive, stalled.send), 30))
    assert stalled.aborted and stalled.messages[0]["status"] == 200
    assert all(message.get("more_body") for message in stalled.messages[1:])  # never a complete-looking file
    assert '"outcome":"aborted"' in caplog.text
    patient = Cycle()  # the only slot is free again
    asyncio.run(app(scope("/api/v1/export", big_export), receive, patient.send))
    assert patient.messages[0]["status"] == 200 and patient.messages[-1].get("more_body") in (None, False)


def test_a_gone_client_stops_the_export_at_the_next_chunk(
    db: Any, big_export: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    app = host_with_plugin(db, anonymous_limits="100/minute")
    gone = Cycle(gone_after=2)
    with caplog.at_level(logging.INFO, logger="spoo_export_plugin"):
        asyncio.run(app(scope("/api/v1/export", big_export), receive, gone.send))
    assert len(gone.messages) == 2
    assert '"outcome":"aborted"' in caplog.text and "the client disconnected" in caplog.text
