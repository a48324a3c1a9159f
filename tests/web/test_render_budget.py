"""``render_time_ms``: writing the file has a time budget of its own (the grouping has ``max_time_ms``).

The budgets' clock is driven by the tests (:class:`Ticking`), so no assertion rests on how fast
this machine is: a budget passes after a known number of looks at the clock.
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import falcon.testing
import openpyxl
import pytest
from bson import ObjectId
from openpyxl.worksheet._writer import ALL_TEMP_FILES

from spoo_export_plugin import ExportSettings
from spoo_export_plugin.core.report import timebudget
from spoo_export_plugin.core.report.report import Breakdown, Report, Summary
from spoo_export_plugin.core.report.timebudget import RENDER_TIMEOUT_MESSAGE, RenderTimeout, TimeBudget, budgeted_body
from spoo_export_plugin.formats import _xlsx
from spoo_export_plugin.ops.export_files import write_file
from spoo_export_plugin.ops.progress import Progress

from ..doors import ResponseUnfinished, make_app, open_response
from ..factories import ROUTE, add_api_key, add_url, make_click

#: HTTP-level: each test runs through both doors (WSGI and ASGI, tests/doors.py).
pytestmark = pytest.mark.usefixtures("door")

OWNER = ObjectId("650000000000000000000099")
PARAMS = {
    "scope": "all",
    "start_date": "2025-03-01",
    "end_date": "2025-03-03",
    "group_by": "time,browser,os,country,city,referrer",
}


class Ticking:
    """A clock for the budgets: every reading is ``step`` seconds after the one before."""

    def __init__(self, step: float = 1.0):
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Ticking:
    ticking = Ticking()
    monkeypatch.setattr(timebudget, "monotonic", ticking)
    return ticking


@pytest.fixture
def data(db: Any) -> dict[str, Any]:
    add_url(db, "abc", OWNER, created_at=datetime(2025, 1, 1))
    db.clicks.insert_many(
        [
            make_click(
                "abc",
                OWNER,
                datetime(2025, 3, 1) + timedelta(minutes=35 * i),
                browser=f"B{i % 7}",
                os=f"O{i % 5}",
                country=f"C{i % 11}",
                city=f"City {i % 23}",
                referrer=f"https://r{i % 13}.example/",
            )
            for i in range(120)
        ]
    )
    return {"db": db, "auth": {"Authorization": f"Bearer {add_api_key(db, OWNER)}"}}


def app_for(db: Any, **settings: Any) -> Callable[..., Any]:
    return make_app(ExportSettings(database=db, authenticated_limits="1000/minute", **settings))


def server_get(app: Callable[..., Any], auth: dict[str, str], fmt: str) -> tuple[list[int], Any]:
    """Send the request as a server would (tests/doors.py): the status (once started) and the body still to iterate."""
    query = "&".join(f"{k}={v}" for k, v in {**PARAMS, "format": fmt}.items())
    body = open_response(app, ROUTE, query, auth)
    return [body.status], body


def export_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "spoo_export_plugin.export"]


def test_an_xlsx_past_its_budget_is_a_503_and_frees_the_slot(data, clock, caplog):
    """The workbook is written whole before its first byte: past the budget nothing was sent, so the answer
    is the 503 + Retry-After of SPEC, and the export slot is free for the next export."""
    caplog.set_level(logging.INFO, logger="spoo_export_plugin.export")
    client = falcon.testing.TestClient(
        app_for(data["db"], render_time_ms=4_000, max_concurrent_exports=1, retry_after_seconds=7)
    )
    resp = client.simulate_get(ROUTE, params={**PARAMS, "format": "xlsx"}, headers=data["auth"])
    assert resp.status_code == 503
    assert resp.json == {"error": RENDER_TIMEOUT_MESSAGE, "param": None}
    assert resp.headers["retry-after"] == "7" and "content-disposition" not in resp.headers
    assert resp.headers["content-type"] == "application/json"
    assert export_lines(caplog)[-1]["status"] == 503 and export_lines(caplog)[-1]["outcome"] == "error"
    assert [path for path in ALL_TEMP_FILES if os.path.exists(path)] == []  # the abandoned sheets' files too

    clock.step = 0.0  # the same export, rendered in no time: the slot (one in all) was released
    resp = client.simulate_get(ROUTE, params={**PARAMS, "format": "xlsx"}, headers=data["auth"])
    assert resp.status_code == 200, resp.text
    assert openpyxl.load_workbook(io.BytesIO(resp.content)).sheetnames[:3] == ["Summary", "time", "browser"]


def test_a_streamed_file_past_its_budget_is_cut_not_shortened(data, clock, caplog, door):
    """json streams: once its first bytes are sent, passing the budget ends the body with an error (the
    server then cuts the connection) and the export is logged ``aborted``; what was sent is not a whole
    file. Under WSGI the body raises; under ASGI the app returns without ending the body (no last
    ``more_body: False``), which a server answers by dropping the connection just the same."""
    caplog.set_level(logging.INFO, logger="spoo_export_plugin.export")
    app = app_for(data["db"], render_time_ms=6_500)
    started, body = server_get(app, data["auth"], "json")
    assert started == [200]
    sent = b""
    with pytest.raises(RenderTimeout if door == "wsgi" else ResponseUnfinished):
        for chunk in body:
            sent += chunk
    body.close()  # as a server does after an error
    assert sent.startswith(b'{"scope":"all"')
    with pytest.raises(ValueError):
        json.loads(sent)
    line = export_lines(caplog)[-1]
    assert line["outcome"] == "aborted" and line["status"] == 200 and line["bytes"] == len(sent)
    assert line["reason"] == "render_time_ms"


def test_the_budget_counts_producing_chunks_not_sending_them(data, clock):
    """A slow reader is send_timeout_seconds' business: time spent between chunks (the server sending)
    is not charged to the file."""
    app = app_for(data["db"], render_time_ms=1_000)
    clock.step = 0.0
    started, body = server_get(app, data["auth"], "json")
    sent = b""
    for chunk in body:
        sent += chunk
        clock.now += 3_600  # an hour "sending" each chunk
    body.close()
    assert started == [200] and json.loads(sent)["summary"]["total_clicks"] == 120


@pytest.mark.parametrize("fmt", ["json", "csv", "xml", "html", "xlsx"])
def test_every_format_within_its_budget_is_whole(data, clock, fmt):
    clock.step = 0.001  # a millisecond per look at the clock, a budget of a minute
    client = falcon.testing.TestClient(app_for(data["db"], render_time_ms=60_000))
    resp = client.simulate_get(ROUTE, params={**PARAMS, "format": fmt}, headers=data["auth"])
    assert resp.status_code == 200 and resp.content


def _report(rows: int) -> Report:
    start = datetime(2025, 3, 1).astimezone()
    city = Breakdown(
        "city", ("city", "clicks", "unique_clicks"), [(f"City {i}", rows - i, 1) for i in range(rows)], rows
    )
    return Report(
        scope="all",
        short_code=None,
        timezone="UTC",
        start=start,
        end=start,
        granularity="day",
        group_by=("city",),
        metrics=("clicks", "unique_clicks"),
        filters={},
        generated_at=start,
        summary=Summary(total_clicks=rows),
        breakdowns={"city": city},
    )


class CountingBudget:
    def __init__(self) -> None:
        self.looks = 0

    def check(self) -> None:
        self.looks += 1


def test_the_workbook_looks_at_its_budget_every_thousand_rows():
    budget = CountingBudget()
    _xlsx.build_workbook(_report(2_500), io.BytesIO(), budget)  # type: ignore[arg-type]
    assert budget.looks == 3 + 1  # before rows 1, 1,001 and 2,001, and before zipping the file
    budget = CountingBudget()
    _xlsx.build_workbook(_report(0), io.BytesIO(), budget)  # type: ignore[arg-type]
    assert budget.looks == 1


def test_the_budget_runs_only_while_running(clock):
    budget = TimeBudget(2_500, retry_after=1)  # started at 1
    budget.check()  # 2: 1 s spent
    budget.pause()  # 3: 2 s spent
    clock.now += 1_000
    budget.check()  # paused: nothing more spent
    budget.resume()
    with pytest.raises(RenderTimeout) as caught:
        budget.check()  # 2 + 1 s
    assert caught.value.status == 503 and caught.value.retry_after == 1


def test_a_renderer_is_closed_when_its_body_is(clock):
    """The body closes the renderer under it, so its temporary file or zip goes at once, also when cut."""
    closed: list[str] = []

    def renderer() -> Iterator[bytes]:
        try:
            yield from (b"a", b"b", b"c")
        finally:
            closed.append("renderer")

    clock.step = 0.0
    body = budgeted_body(renderer(), TimeBudget(1_000, retry_after=1))
    assert next(body) == b"a"
    body.close()
    assert closed == ["renderer"]
    clock.step = 1.0
    with pytest.raises(RenderTimeout):
        budgeted_body(renderer(), TimeBudget(500, retry_after=1))  # its first chunk already came too late
    assert closed == ["renderer", "renderer"]


def test_the_command_line_writes_no_file_past_the_budget(tmp_path, clock):
    settings = ExportSettings(mongodb_uri="mongodb://unused.invalid", render_time_ms=2_000)
    out = tmp_path / "report.xlsx"
    with pytest.raises(RenderTimeout):
        write_file(_report(3_000), settings, "xlsx", str(out), Progress(io.StringIO(), enabled=False))
    assert list(tmp_path.iterdir()) == []
