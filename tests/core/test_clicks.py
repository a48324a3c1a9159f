"""Raw clicks in the core: the oracle's rows (hypothesis, mongomock tier), visitor pseudonyms,
parameters, settings, the pipeline's shape, and streaming (rows are read as the file is written)."""

from __future__ import annotations

import hashlib
import hmac
import io
import itertools
import json
import os
import secrets
import zipfile
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import mongomock
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from spoo_export_plugin import ExportSettings
from spoo_export_plugin.core.clicks import (
    VisitorIds,
    build_clicks_pipeline,
    build_count_pipeline,
    click_columns,
    click_rows,
    parse_clicks_request,
)
from spoo_export_plugin.core.engine.pipeline import QuerySpec, build_match
from spoo_export_plugin.core.exceptions import BadRequest, ConfigurationError
from spoo_export_plugin.core.report.click_rows import ClickExport
from spoo_export_plugin.formats import FORMATS, click_formats

from ..scenarios import VISITOR_SECRET, Scenario, check_clicks, make_client, scenarios

_DB = mongomock.MongoClient().get_database("oracle_clicks")
_CLIENT = make_client(_DB, visitor_id_secret=VISITOR_SECRET)
_CAPPED = make_client(_DB, visitor_id_secret=VISITOR_SECRET, raw_row_cap=3)
EXAMPLES = int(os.environ.get("ORACLE_EXAMPLES", 150))


@hypothesis_settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_raw_clicks_match_the_oracle(scenario: Scenario) -> None:
    check_clicks(_CLIENT, _DB, scenario)


@hypothesis_settings(max_examples=max(EXAMPLES // 3, 1), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_raw_row_cap_matches_the_oracle(scenario: Scenario) -> None:
    check_clicks(_CAPPED, _DB, scenario, raw_row_cap=3)


# ------------------------------------------------------------------------------------ visitor ids


def reference(key: bytes, ip: str, agent: str) -> str:
    return hmac.new(key, (ip + "\n" + agent).encode(), hashlib.sha256).hexdigest()[:16]


@given(
    st.lists(
        st.tuples(st.one_of(st.none(), st.text(max_size=20)), st.one_of(st.none(), st.text(max_size=40))),
        min_size=1,
        max_size=20,
    )
)
def test_visitor_ids_are_stable_keyed_and_recomputable(pairs: list) -> None:
    random_one = VisitorIds()
    keyed, keyed_again = VisitorIds("s3cret-visitor-key-for-the-test"), VisitorIds("s3cret-visitor-key-for-the-test")
    text = [("" if ip is None else ip, "" if ua is None else ua) for ip, ua in pairs]
    for (ip, ua), (ip_text, ua_text) in zip(pairs, text, strict=True):
        assert random_one(ip, ua) == random_one(ip, ua)  # stable within one export
        assert keyed(ip, ua) == keyed_again(ip, ua) == reference(b"s3cret-visitor-key-for-the-test", ip_text, ua_text)
    # distinct visitors, distinct ids (a collision of 64-bit prefixes would be news)
    assert len({keyed(*p) for p in pairs}) == len(set(text))
    assert len({random_one(*p) for p in pairs}) == len(set(text))


def test_random_keys_differ_between_exports_and_stay_hidden() -> None:
    assert VisitorIds()("203.0.113.1", "UA") != VisitorIds()("203.0.113.1", "UA")
    ids = VisitorIds("visible-if-leaked-0000")
    assert "visible-if-leaked" not in repr(ids) and not hasattr(ids, "__dict__")


# ------------------------------------------------------------------------------------ settings


def test_settings_read_the_new_values_and_never_show_the_secret() -> None:
    db = mongomock.MongoClient().get_database("s")
    s = ExportSettings(database=db, visitor_id_secret="do-not-print-me-0123456789abcdef0123")
    assert "do-not-print-me" not in repr(s) and "do-not-print-me" not in str(s)
    assert s.raw_row_cap == 1_000_000 and ExportSettings(database=db).visitor_id_secret is None
    env = ExportSettings.from_env(
        {"SPOO_EXPORT_VISITOR_ID_SECRET": "from-the-environment-0123456789abcdef", "SPOO_EXPORT_RAW_ROW_CAP": "250"},
        database=db,
    )
    assert env.visitor_id_secret == "from-the-environment-0123456789abcdef" and env.raw_row_cap == 250
    assert ExportSettings.from_env({"SPOO_EXPORT_VISITOR_ID_SECRET": ""}, database=db).visitor_id_secret is None
    for bad in (0, -1):
        with pytest.raises(ConfigurationError, match="raw_row_cap"):
            ExportSettings(database=db, raw_row_cap=bad)
    with pytest.raises(ConfigurationError) as caught:
        ExportSettings(database=db, visitor_id_secret=b"bytes-secret-value")
    assert "bytes-secret-value" not in str(caught.value)


@pytest.mark.parametrize("secret", ["Z", "a" * 31, "é" * 15, "short-but-printable"])
def test_a_visitor_id_secret_shorter_than_32_bytes_fails_at_start_up_without_echoing_it(secret: str) -> None:
    """A one-character key is brute-forced in under a millisecond, and a visitor's IP recovered from a /24
    with it: the key must hold at least 32 bytes (UTF-8), and the message says how to make one."""
    db = mongomock.MongoClient().get_database("s")
    for build in (
        lambda: ExportSettings(database=db, visitor_id_secret=secret),
        lambda: ExportSettings.from_env({"SPOO_EXPORT_VISITOR_ID_SECRET": secret}, database=db),
    ):
        with pytest.raises(ConfigurationError) as caught:
            build()
        message = str(caught.value)
        assert "visitor_id_secret" in message and "at least 32 bytes" in message
        assert 'python -c "import secrets; print(secrets.token_urlsafe(32))"' in message
        assert secret not in message


def test_a_visitor_id_secret_of_32_bytes_is_accepted() -> None:
    db = mongomock.MongoClient().get_database("s")
    assert ExportSettings(database=db, visitor_id_secret="a" * 32).visitor_id_secret == "a" * 32
    assert ExportSettings(database=db, visitor_id_secret="é" * 16).visitor_id_secret == "é" * 16  # 32 bytes
    made = secrets.token_urlsafe(32)  # what the message tells operators to run
    assert ExportSettings(database=db, visitor_id_secret=made).visitor_id_secret == made


# ------------------------------------------------------------------------------------ parameters


@pytest.mark.parametrize("name", ["group_by", "metrics", "granularity"])
def test_grouping_parameters_are_refused_by_name(name: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_clicks_request({"format": "json", name: "x"}, click_formats())
    assert caught.value.param == name


def test_the_main_parameters_are_parsed_by_the_main_parser() -> None:
    request = parse_clicks_request(
        {
            "format": "xml",
            "scope": "anon",
            "short_code": "abc",
            "browser": "Chrome,Unknown",
            "exclude": '{"platform": ["mobile"]}',
            "domain": "links.example",  # with scope=anon: the URL's domain, not a filter
            "exclude_bots": "1",
            "timezone": "US/Eastern",
        },
        click_formats(),
        ("platform",),
    )
    assert (request.format, request.scope, request.short_codes) == ("xml", "anon", ("abc",))
    assert request.filters == (("browser", ("Chrome", "Unknown")),)
    assert request.exclude == (("platform", ("mobile",)),) and request.exclude_bots
    assert request.domain == "links.example"
    assert request.timezone == "US/Eastern" and request.group_by == () and request.metrics == ()
    with pytest.raises(BadRequest) as caught:
        parse_clicks_request({"format": "json"}, {"csv": None})  # a format without raw clicks
    assert caught.value.param == "format"


# ------------------------------------------------------------------------------------ pipeline


def _spec(**changes: Any) -> QuerySpec:
    base = QuerySpec(
        start=datetime(2025, 1, 1, tzinfo=timezone.utc),
        end=datetime(2025, 2, 1, tzinfo=timezone.utc),
        timezone="UTC",
        granularity="day",
        breakdowns=(),
        owner_id="owner-1",
        extra_dimensions=(("platform", "ua.device"),),
    )
    return QuerySpec(**{**base.__dict__, **changes})


def test_one_cursor_sorted_by_clicked_at_after_the_statistics_match() -> None:
    spec = _spec(filters=(("browser", ("Chrome",)),), exclude_bots=True)
    stages = build_clicks_pipeline(spec, 7)
    assert stages[0] == {"$match": build_match(spec)}
    assert list(stages[0]["$match"])[:2] == ["meta.owner_id", "clicked_at"]  # the index's keys lead
    assert stages[1] == {"$sort": {"clicked_at": 1}} and stages[2] == {"$limit": 7}
    projected = stages[3]["$project"]
    assert set(projected) == {"_id", "at", "ip", "ua", "bot"} | {f"l{i}" for i in range(14)}  # 13 built-in + platform
    assert build_count_pipeline(spec) == [stages[0], {"$count": "n"}]
    assert click_columns(("platform",))[-5:] == ("device", "domain", "platform", "bot_name", "visitor")


def test_labels_are_the_statistics_labels() -> None:
    """The same click through the raw pipeline and the statistics' group_by: the same label, in mongomock."""
    db = mongomock.MongoClient().get_database("labels")
    db.clicks.insert_many(
        [
            {
                "clicked_at": datetime(2025, 1, 5),
                "meta": {"owner_id": "owner-1"},
                "referrer": "",
                "browser": None,
                "city": 42,
                "ua": {"device": ""},
                "bot_name": None,
            },
        ]
    )
    spec = _spec()
    doc = next(iter(db.clicks.aggregate(build_clicks_pipeline(spec, 10))))
    row = next(click_rows([doc], "Europe/Berlin", 14, VisitorIds("k")))
    columns = click_columns(("platform",))
    named = dict(zip(columns, row, strict=True))
    assert named["time"] == "2025-01-05T01:00:00.000+01:00"
    assert named["short_code"] == "Unknown" and named["referrer"] == "Direct" and named["browser"] == "Unknown"
    assert named["city"] == "42" and named["platform"] == "Unknown" and named["bot_name"] == ""
    assert named["device"] == named["domain"] == "Unknown"  # absent
    assert named["visitor"] == reference(b"k", "", "")


# ------------------------------------------------------------------------------------ streaming


class CountingCursor:
    """Generated click documents, counting how many were read (a stand-in for a database cursor)."""

    def __init__(self, total: int):
        self.total = total
        self.read = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        start = datetime(2025, 1, 1)
        for n in range(self.total):
            self.read += 1
            yield {
                "at": start + timedelta(seconds=n),
                "ip": f"10.0.{n % 250}.{n % 7}",
                "ua": "UA",
                "bot": "",
                **{f"l{i}": f"v{i}" for i in range(13)},
            }


@pytest.mark.parametrize("fmt", ["csv", "json", "xml", "xlsx"])
def test_every_format_streams_rows_as_the_cursor_yields_them(fmt: str) -> None:
    cursor = CountingCursor(60_000)
    export = ClickExport(
        scope="all",
        short_code=None,
        timezone="UTC",
        start=datetime(2025, 1, 1, tzinfo=timezone.utc),
        end=datetime(2025, 2, 1, tzinfo=timezone.utc),
        filters={},
        exclude={},
        exclude_bots=False,
        generated_at=datetime(2025, 2, 1, tzinfo=timezone.utc),
        total_clicks=60_000,
        row_count=60_000,
        columns=click_columns(),
        rows=click_rows(cursor, "UTC", 13, VisitorIds()),
    )
    settings = ExportSettings(database=mongomock.MongoClient().get_database("x"))
    chunks = iter(FORMATS[fmt].render_clicks(export, settings))
    first = next(chunks)
    if fmt != "xlsx":  # the first bytes leave before the cursor is drained
        assert cursor.read < 60_000
        second = next(chunks)
        assert cursor.read < 60_000
        body = first + second + b"".join(chunks)
    else:  # xlsx is written to a temporary file by openpyxl's write-only mode, then read back in chunks
        body = first + b"".join(chunks)
    assert cursor.read == 60_000
    if fmt == "json":
        clicks = json.loads(body)["clicks"]
        assert len(clicks) == 60_000 and list(clicks[0]) == list(click_columns())
        assert (clicks[-1]["utm_content"], clicks[-1]["device"], clicks[-1]["domain"]) == (
            "v10",
            "v11",
            "v12",
        ) and clicks[-1]["time"] == "2025-01-01T16:39:59.000+00:00"
    elif fmt == "csv":
        text = zipfile.ZipFile(io.BytesIO(body)).read("clicks.csv").decode()
        assert text.count("\r\n") == 60_001
    elif fmt == "xml":
        assert body.count(b"<click>") == 60_000


def test_the_summary_comes_before_the_rows_in_json_and_xml() -> None:
    """The count runs first, so a reader meets total_clicks/truncated before the first row."""
    export = ClickExport(
        scope="all",
        short_code=None,
        timezone="UTC",
        start=datetime(2025, 1, 1, tzinfo=timezone.utc),
        end=datetime(2025, 2, 1, tzinfo=timezone.utc),
        filters={},
        exclude={},
        exclude_bots=False,
        generated_at=datetime(2025, 2, 1, tzinfo=timezone.utc),
        total_clicks=9,
        row_count=2,
        columns=click_columns(),
        rows=itertools.islice(click_rows(CountingCursor(2), "UTC", 13, VisitorIds()), 2),
    )
    settings = ExportSettings(database=mongomock.MongoClient().get_database("x"))
    body = b"".join(FORMATS["json"].render_clicks(export, settings))
    assert body.index(b'"truncated":true') < body.index(b'"clicks":[')


# ------------------------------------------------------------------------------------ the operator allowlist


def test_raw_click_pipelines_use_only_allowed_operators_and_the_first_match() -> None:
    """Every spec the statistics' walk builds, through the raw-click builders: MongoDB 5.0 + mongomock 4.3
    operators only, no visitor arrays, the index-friendly $match first and only."""
    from .test_pipeline_operators import FORBIDDEN, OPERATORS, STAGES, all_specs, operators

    walked = 0
    for spec in itertools.islice(all_specs(), 0, None, 7):
        for pipeline in (build_clicks_pipeline(spec, 10), build_count_pipeline(spec)):
            walked += 1
            assert all(len(stage) == 1 and next(iter(stage)) in STAGES for stage in pipeline)
            assert pipeline[0] == {"$match": build_match(spec)}
            assert not any("$match" in stage for stage in pipeline[1:])
            for op, _ in operators(pipeline):
                assert op in STAGES | OPERATORS and op not in FORBIDDEN, (op, spec)
    assert walked > 100


def test_both_raw_click_queries_carry_disk_use_time_budget_and_a_batch_size(db: Any) -> None:
    from ..factories import ROUTE, add_api_key, make_click
    from .test_pipeline_operators import OWNER, _RecordingDatabase

    key = add_api_key(db, OWNER)
    db.clicks.insert_many(
        [
            make_click("a1", OWNER, datetime(2025, 3, 9, 6, 30)),
            make_click("a1", OWNER, datetime(2025, 3, 9, 7, 30), browser="$where"),
        ]
    )
    recording = _RecordingDatabase(db)
    client = make_client(recording, max_time_ms=12_345)
    resp = client.simulate_get(
        ROUTE + "/clicks",
        params={"format": "json", "browser": "$where", "start_date": "2025-03-09", "end_date": "2025-03-09"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert resp.status_code == 200 and [r["browser"] for r in resp.json["clicks"]] == ["$where"]
    assert [list(call["pipeline"][-1]) for call in recording.calls] == [["$count"], ["$project"]]
    for call in recording.calls:
        assert call["allowDiskUse"] is True and call["maxTimeMS"] == 12_345
    assert recording.calls[1]["batchSize"] == 2_000
