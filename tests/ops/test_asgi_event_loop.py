"""The SPEC's event-loop bar under a real uvicorn: while 4 exports of 2 s or more stream, mostly
waiting on the database, a host route (FastAPI's ``/ping``, on the loop) answers in under 50 ms
at p99.

Runs ``benchmarks/bench_asgi_loop.py``'s ``waiting`` case (its host: a FastAPI app wrapped with
``ExportASGIMiddleware``, each aggregation waiting in the export's thread as on a real MongoDB,
then answered from a replay of mongomock's answer) with fewer clicks, so the server starts fast.
A loaded 2-core box can stall a whole process now and then: one retry.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow]

pytest.importorskip("uvicorn", reason="uvicorn is not installed (the test extra has it)")
pytest.importorskip("fastapi", reason="fastapi is not installed (the test extra has it)")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import bench_asgi_loop  # noqa: E402

PINGS = 200
BAR = 0.050


def test_a_host_route_answers_within_50_ms_p99_while_4_waiting_exports_stream():
    case = bench_asgi_loop.cases(db_wait=2.2)["waiting"]
    tries = []
    for _ in range(2):
        (row,) = bench_asgi_loop.run_cases([case], count=PINGS, clicks=300)
        tries.append(row)
        # the scenario is the SPEC's: 4 exports in flight throughout, each 2 s or more, none refused
        assert row["refused"] == 0 and row["exports_done"] >= 4, row
        assert row["export_seconds"] >= 2.0, row
        assert row["pings"] == PINGS
        if row["p99"] < BAR:
            break
    print("tries:", [{k: row[k] for k in ("p50", "p99", "max", "exports_done", "export_seconds")} for row in tries])
    assert tries[-1]["p99"] < BAR, tries
