"""Raw clicks over a real TCP connection (SecantusDB): the oracle's rows, the index behind the cursor
(``explain``), and ``spoo-export export --clicks``."""

from __future__ import annotations

import csv
import io
import json
import os
import zipfile
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from bson import ObjectId
from hypothesis import HealthCheck, given, settings

from spoo_export_plugin.core.clicks import build_clicks_pipeline
from spoo_export_plugin.core.engine.pipeline import QuerySpec

from ..factories import add_url, make_click
from ..ops.test_cli import clean_env, cli
from ..scenarios import VISITOR_SECRET, Scenario, check_clicks, make_client, scenarios

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("ORACLE_EXAMPLES", 60))


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(scenario=scenarios())
def test_raw_clicks_match_the_oracle_over_tcp(mongo_db: Any, scenario: Scenario) -> None:
    check_clicks(make_client(mongo_db, visitor_id_secret=VISITOR_SECRET), mongo_db, scenario)


@settings(
    max_examples=max(EXAMPLES // 3, 1),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(scenario=scenarios())
def test_raw_row_cap_matches_the_oracle_over_tcp(mongo_db: Any, scenario: Scenario) -> None:
    check_clicks(
        make_client(mongo_db, visitor_id_secret=VISITOR_SECRET, raw_row_cap=3), mongo_db, scenario, raw_row_cap=3
    )


def _plan(explained: dict[str, Any]) -> str:
    return json.dumps(explained, default=str)


@pytest.mark.parametrize("by", ["owner", "url_id", "short_code"])
def test_the_cursor_is_served_by_the_owner_url_or_short_code_index(mongo_db: Any, by: str) -> None:
    """SecantusDB's explain: the $match runs as an IXSCAN of {meta.owner_id: 1, clicked_at: 1} (scope=all),
    {meta.url_id: 1, clicked_at: 1} (scope=anon: one URL by its id) or {meta.short_code: 1, clicked_at: 1}
    (a legacy URL: its code, on clicks without url_id), not a collection scan. (The legacy $match also holds
    ``meta.url_id: null``, a predicate beyond the index's fields: MongoDB checks it on the fetched documents,
    SecantusDB 0.7 plans any such $match as a COLLSCAN, so there only the rows are checked.)

    Without filters: SecantusDB 0.7 plans a COLLSCAN as soon as the $match holds an ``$and`` (filters,
    exclude, exclude_bots), which MongoDB flattens into the index bounds; the statistics' $match has the
    same shape (docs/performance.md), so this checks the plain selection only."""
    owner, url = ObjectId(), ObjectId()
    # i % 3: code a (two thirds) or b; i % 2: the owner's or someone else's; i % 5 == 0: a legacy click (no url_id)
    mongo_db.clicks.insert_many(
        [
            make_click(
                "a" if i % 3 else "b",
                None if i % 5 == 0 else owner if i % 2 else ObjectId(),  # a legacy URL's clicks are ownerless
                datetime(2025, 1, 1) + timedelta(minutes=i),
                url_id=url if i % 3 == 1 else ObjectId(),
                legacy=i % 5 == 0,
            )
            for i in range(300)
        ]
    )
    for key in ("meta.owner_id", "meta.url_id", "meta.short_code"):
        mongo_db.clicks.create_index([(key, 1), ("clicked_at", 1)])
    spec = QuerySpec(
        start=datetime(2024, 1, 1, tzinfo=timezone.utc),
        end=datetime(2026, 1, 1, tzinfo=timezone.utc),
        timezone="UTC",
        granularity="day",
        breakdowns=(),
        owner_id=owner if by == "owner" else None,
        url_id=url if by == "url_id" else None,
        short_code="a" if by == "short_code" else None,
    )
    plan = _plan(mongo_db.command("aggregate", "clicks", pipeline=build_clicks_pipeline(spec, 1000), explain=True))
    index = {"owner": "meta.owner_id", "url_id": "meta.url_id", "short_code": "meta.short_code"}[by] + "_1_clicked_at_1"
    if by != "short_code":
        assert '"IXSCAN"' in plan and index in plan and "COLLSCAN" not in plan
    rows = list(mongo_db.clicks.aggregate(build_clicks_pipeline(spec, 1000)))
    # owner: odd i but not legacy (150 - 30); url_id: i % 3 == 1 and not legacy (80 of the 100);
    # short_code a, ownerless, without url_id: i % 3 != 0, i % 5 == 0 (40)
    assert [r["at"] for r in rows] == sorted(r["at"] for r in rows)
    assert len(rows) == {"owner": 120, "url_id": 80, "short_code": 40}[by]


@pytest.mark.slow
def test_spoo_export_export_clicks(mongo_db: Any, secantus_uri: str, tmp_path: Any) -> None:
    owner = ObjectId()
    add_url(mongo_db, "mine", owner, created_at=datetime(2025, 3, 1))
    mongo_db.clicks.insert_many(
        [
            make_click(
                "mine",
                owner,
                datetime(2025, 3, 9, 6 + i),
                ip_address="198.51.100.9",
                user_agent="Agent/1",
                city="=1+1" if i == 0 else "Paris",
                ua={"device": "mobile"},
                device=("mobile", "tablet", "mobile")[i],
            )
            for i in range(3)
        ]
    )
    mongo_db.clicks.update_one({"device": "tablet"}, {"$set": {"meta.domain": "links.example"}})
    base = [
        "--mongodb-uri",
        secantus_uri,
        "--database-name",
        mongo_db.name,
        "--start-date",
        "2025-03-09",
        "--end-date",
        "2025-03-09",
    ]
    env = clean_env(
        tmp_path,
        SPOO_EXPORT_EXTRA_DIMENSIONS="platform=ua.device",
        SPOO_EXPORT_VISITOR_ID_SECRET="cli-secret-0123456789abcdef0123456789",
    )
    out = tmp_path / "clicks.zip"
    done = cli(
        "export",
        "--clicks",
        "--owner",
        str(owner),
        "--format",
        "csv",
        "-o",
        str(out),
        "--platform",
        "mobile",
        "--device",
        "mobile,tablet",
        *base,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert b"198.51.100.9" not in done.stderr + done.stdout
    archive = zipfile.ZipFile(out)
    assert archive.namelist() == ["summary.csv", "clicks.csv"]
    rows = list(csv.reader(io.StringIO(archive.read("clicks.csv").decode())))
    assert rows[0][-5:] == ["device", "domain", "platform", "bot_name", "visitor"] and len(rows) == 4
    assert [row[-5:-2] for row in rows[1:]] == [
        ["mobile", "Unknown", "mobile"],
        ["tablet", "links.example", "mobile"],
        ["mobile", "Unknown", "mobile"],
    ]
    assert rows[1][0] == "2025-03-09T06:00:00.000+00:00" and rows[1][5] == "'=1+1"
    assert b"198.51.100.9" not in archive.read("clicks.csv") and b"Agent/1" not in archive.read("clicks.csv")

    # --domain with --owner: the domain dimension's filter
    done = cli(
        "export",
        "--clicks",
        "--owner",
        str(owner),
        "--domain",
        "links.example",
        "--format",
        "json",
        "-o",
        "-",
        *base,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["filters"] == {"domain": ["links.example"]} and [r["device"] for r in body["clicks"]] == ["tablet"]

    # --domain with --short-code alone: the URL's domain ("" = the main one), not a click filter
    done = cli(
        "export", "--clicks", "--short-code", "mine", "--domain", "", "--format", "json", "-o", "-", *base, env=env
    )
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["scope"] == "anon" and body["summary"] == {"total_clicks": 3, "truncated": False}
    assert body["filters"] == {}
    assert len({row["visitor"] for row in body["clicks"]}) == 1

    url_id = mongo_db.urlsV2.find_one({"alias": "mine"})["_id"]
    mongo_db.clicks.update_many({}, {"$set": {"meta.url_id": url_id}})
    done = cli("export", "--clicks", "--url-id", str(url_id), "--format", "xml", "-o", "-", *base, env=env)
    assert done.returncode == 0, done.stderr
    assert b"<scope>link</scope>" in done.stdout and done.stdout.count(b"<click>") == 3

    refused = cli("export", "--clicks", "--owner", str(owner), "--format", "json", "--group-by", "time", *base, env=env)
    assert refused.returncode == 2 and b"(--group-by)" in refused.stderr


def test_the_driver_holds_one_bounded_batch_at_a_time(mongo_db: Any, secantus_uri: str) -> None:
    """The raw cursor asks for CURSOR_BATCH documents per batch: SecantusDB's default getMore would send the
    whole rest of the result at once (MongoDB's, up to 16 MB), all of it decoded in the web worker."""
    import falcon.testing
    import pymongo
    from pymongo import monitoring

    from spoo_export_plugin import ExportSettings, create_app
    from spoo_export_plugin.core.clicks import CURSOR_BATCH

    from ..factories import add_api_key

    batches: list[tuple[str, int]] = []

    class Batches(monitoring.CommandListener):
        def started(self, event: Any) -> None:
            pass

        def succeeded(self, event: Any) -> None:
            cursor = event.reply.get("cursor") if event.command_name in ("aggregate", "getMore") else None
            if cursor is not None:
                batches.append((event.command_name, len(cursor.get("firstBatch", cursor.get("nextBatch", [])))))

        def failed(self, event: Any) -> None:
            pass

    owner = ObjectId()
    key = add_api_key(mongo_db, owner)
    total = CURSOR_BATCH * 2 + 321
    mongo_db.clicks.insert_many(
        [make_click("a", owner, datetime(2025, 1, 1) + timedelta(seconds=i)) for i in range(total)]
    )
    watched = pymongo.MongoClient(secantus_uri, directConnection=True, event_listeners=[Batches()])
    try:
        client = falcon.testing.TestClient(create_app(ExportSettings(database=watched[mongo_db.name])))
        resp = client.simulate_get(
            "/api/v1/export/clicks",
            params={"format": "csv", "start_date": "2025-01-01"},
            headers={"Authorization": f"Bearer {key}"},
        )
    finally:
        watched.close()
    assert resp.status_code == 200
    rows = zipfile.ZipFile(io.BytesIO(resp.content)).read("clicks.csv").decode().count("\r\n") - 1
    assert rows == total
    sizes = [size for name, size in batches]
    assert max(sizes) <= CURSOR_BATCH and sum(sizes) >= total  # (the count's one-document batch included)
    assert [name for name, _ in batches].count("getMore") >= 2
