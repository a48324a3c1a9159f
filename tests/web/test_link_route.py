"""``GET <route>/links/<url_id>``: one of the caller's URLs by id (spoo.me's per-link export)."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import falcon.testing
import pytest
from bson import ObjectId

from spoo_export_plugin import ExportMiddleware, ExportSettings, create_app

from ..factories import ROUTE, add_api_key, make_click

ME, OTHER = ObjectId("650000000000000000000001"), ObjectId("650000000000000000000002")
MINE, EMOJI, THEIRS = (
    ObjectId("6600000000000000000000a1"),
    ObjectId("6600000000000000000000a2"),
    ObjectId("6600000000000000000000b1"),
)


@pytest.fixture
def env(db: Any) -> dict[str, Any]:
    db.urlsV2.insert_many(
        [
            {
                "_id": MINE,
                "alias": "mine",
                "owner_id": ME,
                "created_at": datetime(2025, 3, 1, 8),
                "private_stats": False,
            },
            {
                "_id": EMOJI,
                "alias": "🔥sale",
                "owner_id": ME,
                "created_at": datetime(2025, 3, 1),
                "private_stats": False,
            },
            {"_id": THEIRS, "alias": "theirs", "owner_id": OTHER, "created_at": datetime(2025, 3, 1)},
        ]
    )

    def click(code: str, url: ObjectId, owner: ObjectId, day: int, **fields: Any) -> dict[str, Any]:
        doc = make_click(code, owner, datetime(2025, 3, day, 12), **fields)
        doc["meta"]["url_id"] = url
        return doc

    db.clicks.insert_many(
        [
            click("mine", MINE, ME, 2, browser="Chrome"),
            click("mine", MINE, ME, 3, browser="Firefox"),
            click("mine", EMOJI, ME, 3),  # the same alias text on another URL id: not this link's
            click("🔥sale", EMOJI, ME, 4),
            click("theirs", THEIRS, OTHER, 2),
        ]
    )
    keys = {"me": add_api_key(db, ME), "other": add_api_key(db, OTHER)}
    settings = ExportSettings(database=db, authenticated_limits="1000/minute", anonymous_limits="1000/minute")
    client = falcon.testing.TestClient(create_app(settings))

    def get(link: Any, key: str | None = "me", **params: Any) -> falcon.testing.Result:
        headers = {"Authorization": f"Bearer {keys[key]}"} if key else {}
        return client.simulate_get(
            f"{ROUTE}/links/{link}", params={"format": "json", "end_date": "2025-03-10", **params}, headers=headers
        )

    return {"get": get, "settings": settings, "db": db}


def test_one_link_by_id(env):
    resp = env["get"](MINE, group_by="browser")
    assert resp.status_code == 200, resp.text
    body = resp.json
    assert (body["scope"], body["short_code"], body["url_id"]) == ("link", "mine", str(MINE))
    assert body["summary"]["total_clicks"] == 2  # matched on meta.url_id, not on the alias
    assert [(r["browser"], r["clicks"]) for r in body["breakdowns"]["browser"]] == [("Chrome", 1), ("Firefox", 1)]
    assert body["start_date"] == "2025-03-01T08:00:00+00:00"  # default start: the URL's creation
    assert resp.headers["content-disposition"] == 'attachment; filename="spoo-export_mine_20250301_20250310.json"'
    assert "x-ratelimit-remaining" in resp.headers


def test_a_non_ascii_alias_names_the_file_and_the_id_is_the_ascii_fallback(env):
    resp = env["get"](EMOJI, format="csv")
    assert resp.status_code == 200
    name = "spoo-export_🔥sale_20250301_20250310.zip"
    assert resp.headers["content-disposition"] == (
        f"attachment; filename=\"spoo-export_{EMOJI}_20250301_20250310.zip\"; filename*=UTF-8''{quote(name, safe='')}"
    )


def test_credentials_are_required(env):
    resp = env["get"](MINE, key=None)
    assert resp.status_code == 401 and resp.json["param"] == "Authorization"


@pytest.mark.parametrize("url_id", [THEIRS, "6600000000000000000000ff", "not-an-id", "6600000000000000000000A1x"])
def test_unknown_malformed_and_other_owners_ids_are_the_same_404(env, url_id):
    resp = env["get"](url_id)
    assert resp.status_code == 404
    assert resp.json == {"error": "no such link among yours", "param": "url_id"}


def test_the_owner_may_use_upper_case_hex(env):
    assert env["get"](str(MINE).upper()).json["url_id"] == str(MINE)


@pytest.mark.parametrize("param", ["scope", "short_code"])
def test_scope_and_short_code_are_refused(env, param):
    resp = env["get"](MINE, **{param: "all"})
    assert resp.status_code == 400 and resp.json["param"] == param


def test_every_other_parameter_works_as_on_the_main_route(env):
    body = env["get"](
        MINE,
        start_date="2025-03-03",
        exclude='{"browser": ["Chrome"]}',
        metrics="clicks,share",
        group_by="time",
        granularity="day",
    ).json
    assert body["summary"]["total_clicks"] == 1
    assert body["breakdowns"]["time"][0] == {"time": "2025-03-03", "clicks": 1, "share": 1.0}


def test_through_the_middleware(env):
    def host(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"host " + environ["PATH_INFO"].encode()]

    client = falcon.testing.TestClient(ExportMiddleware(host, env["settings"]))
    assert client.simulate_get(f"{ROUTE}/links/{MINE}").status_code == 401  # the plugin answered
    assert client.simulate_get(f"{ROUTE}/links/{MINE}/more").text == f"host {ROUTE}/links/{MINE}/more"
    assert client.simulate_get(f"{ROUTE}/links/").text == f"host {ROUTE}/links/"
    assert client.simulate_get(f"{ROUTE}/linksx/{MINE}").text == f"host {ROUTE}/linksx/{MINE}"


@pytest.mark.slow
def test_the_cli_exports_one_link_by_id(mongo_db, secantus_uri, tmp_path):
    mongo_db.urlsV2.insert_one({"_id": MINE, "alias": "mine", "owner_id": ME, "created_at": datetime(2025, 3, 1)})
    doc = make_click("mine", ME, datetime(2025, 3, 2, 12))
    doc["meta"]["url_id"] = MINE
    mongo_db.clicks.insert_many([doc, make_click("mine", ME, datetime(2025, 3, 2, 13))])  # no url_id: not counted
    out = tmp_path / "link.json"
    script = Path(sys.executable).parent / "spoo-export"
    done = subprocess.run(
        [
            str(script),
            "export",
            "--url-id",
            str(MINE),
            "--format",
            "json",
            "-o",
            str(out),
            "--end-date",
            "2025-03-10",
            "--mongodb-uri",
            secantus_uri,
            "--database-name",
            mongo_db.name,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={"HOME": str(tmp_path), "PATH": str(script.parent)},
    )
    assert done.returncode == 0, done.stderr
    import json

    body = json.loads(out.read_text())
    assert (body["scope"], body["short_code"], body["url_id"], body["summary"]["total_clicks"]) == (
        "link",
        "mine",
        str(MINE),
        1,
    )
    missing = subprocess.run(
        [
            str(script),
            "export",
            "--url-id",
            "6600000000000000000000ff",
            "--format",
            "json",
            "-o",
            str(out),
            "--mongodb-uri",
            secantus_uri,
            "--database-name",
            mongo_db.name,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={"HOME": str(tmp_path), "PATH": str(script.parent)},
    )
    assert missing.returncode == 1 and "(--url-id)" in missing.stderr


def test_head_on_a_link_answers_like_get_without_aggregating(env, aggregations):
    client = falcon.testing.TestClient(create_app(env["settings"]))
    key = add_api_key(env["db"], ME)
    path, query = f"{ROUTE}/links/{EMOJI}", "format=xlsx&end_date=2025-03-10"
    head = client.simulate_head(path, query_string=query, headers={"Authorization": f"Bearer {key}"})
    assert head.status_code == 200 and head.content == b"" and aggregations == []
    get = client.simulate_get(path, query_string=query, headers={"Authorization": f"Bearer {key}"})
    assert len(aggregations) == 1
    for name in ("content-type", "content-disposition"):
        assert head.headers[name] == get.headers[name]
    missing = client.simulate_head(f"{ROUTE}/links/{THEIRS}", headers={"Authorization": f"Bearer {key}"})
    assert missing.status_code == 404 and missing.content == b""


@pytest.mark.parametrize(
    "params",
    [{"url_id": str(EMOJI)}, {"filters": f'{{"url_id": ["{EMOJI}"]}}'}, {"exclude": f'{{"url_id": ["{EMOJI}"]}}'}],
)
def test_url_id_selections_are_refused_on_the_link_route(env, params):
    """The link is in the path: another id must not replace it (nor an exclusion crash the match). The 400
    names the parameter the caller sent (SPEC: filters, exclude or the single parameter)."""
    resp = env["get"](MINE, **params)
    assert resp.status_code == 400 and resp.json["param"] == next(iter(params)), resp.json
