"""The command line's parser, in-process: --version, switches for boolean settings, help that speaks
in exit codes where the commands answer no HTTP. (Runs of the installed script: test_cli.py.)"""

from __future__ import annotations

from typing import Any

import pytest

import spoo_export_plugin
from spoo_export_plugin.ops import cli
from spoo_export_plugin.ops.cli_settings import settings_from_args

EXPORT = ["export", "--owner", "X", "--format", "csv"]


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"spoo-export {spoo_export_plugin.__version__}\n"


@pytest.mark.parametrize(
    "flags, environ, expected",
    [
        ([], {}, False),
        (["--csv-bom"], {}, True),
        ([], {"SPOO_EXPORT_CSV_BOM": "1"}, True),
        (["--no-csv-bom"], {"SPOO_EXPORT_CSV_BOM": "true"}, False),  # a flag wins over the variable
        (["--csv-bom"], {"SPOO_EXPORT_CSV_BOM": "0"}, True),
    ],
)
def test_csv_bom_is_a_switch(db: Any, flags, environ, expected):
    args = cli.build_parser("export").parse_args(EXPORT + flags)
    assert settings_from_args(args, environ, database=db).csv_bom is expected


def test_a_boolean_setting_takes_no_value(capsys):
    with pytest.raises(SystemExit) as done:
        cli.build_parser("export").parse_args(EXPORT + ["--csv-bom", "yes"])
    assert done.value.code == 2 and "unrecognized arguments: yes" in capsys.readouterr().err


def test_serve_switches_every_boolean_setting(db: Any):
    args = cli.build_parser("serve").parse_args(["serve", "--no-ratelimit-fail-open", "--csv-bom"])
    settings = settings_from_args(args, {}, database=db)
    assert settings.ratelimit_fail_open is False and settings.csv_bom is True


def _help(command: str) -> str:
    parser = cli.build_parser(command)
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    return " ".join(sub.format_help().split())


def test_export_help_speaks_in_exit_codes_and_says_database_is_python_only():
    text = _help("export")
    assert (
        "exit codes: 0 the file was written; 2 bad input or settings (where the HTTP endpoint answers 400); "
        "1 the export could not be produced" in text
    )
    assert "over --max-time-ms (where the HTTP endpoint answers 404 or 503)" in text
    assert "past it the command fails with exit code 1 (the HTTP endpoint answers 503)" in text
    assert "a database= object can only be passed from Python code" in text
    assert "answering 503" not in text and "past it: 503" not in text
    assert "--csv-bom, --no-csv-bom" in text


def test_ensure_indexes_help_speaks_in_exit_codes_too():
    text = _help("ensure-indexes")
    assert "how long to wait for a reachable MongoDB; past it the command fails with exit code 1" in text
    assert "answering 503" not in text


def test_serve_help_keeps_the_http_statuses():
    text = _help("serve")
    assert "how long to wait for a reachable MongoDB before answering 503" in text
    assert "--cors-origins ORIGINS" in text


def test_export_picks_a_shared_alias_by_domain(db: Any):
    """``--short-code promo`` is on two domains: without ``--domain`` a bad-input error naming the flag;
    ``--domain ''`` the main domain's URL and ``--domain b.example`` the other, each counting its own clicks only."""
    from datetime import datetime

    from bson import ObjectId

    from spoo_export_plugin import ExportSettings
    from spoo_export_plugin.core.clicks import parse_clicks_request
    from spoo_export_plugin.core.exceptions import BadRequest
    from spoo_export_plugin.core.request.params import parse_export_request
    from spoo_export_plugin.core.service import Exporter
    from spoo_export_plugin.formats import FORMATS, click_formats
    from spoo_export_plugin.ops import cli_export, export_files

    from ..factories import add_url, make_click

    a, b = ObjectId(), ObjectId()
    main, other = add_url(db, "promo", a), add_url(db, "promo", b, domain="b.example", private_stats=True)
    db.clicks.insert_many(
        [make_click("promo", a, datetime(2025, 3, 10), url_id=main)]
        + [make_click("promo", b, datetime(2025, 3, 10, h), url_id=other) for h in range(2)]
    )
    exporter = Exporter(ExportSettings(database=db))

    def totals(*flags: str) -> tuple[int, int]:
        args = cli.build_parser("export").parse_args(
            [
                "export",
                "--short-code",
                "promo",
                "--format",
                "json",
                "--start-date",
                "2025-03-01",
                "--end-date",
                "2025-03-31",
                *flags,
            ]
        )
        query = cli_export.build_query(args)
        report = export_files.operator_report(exporter, parse_export_request(query, FORMATS), None)
        clicks = export_files.operator_clicks(exporter, parse_clicks_request(query, click_formats()), None)
        return report.summary.total_clicks, clicks.total_clicks

    with pytest.raises(BadRequest) as refused:
        totals()
    assert refused.value.param == "domain" and export_files.flag_for(refused.value.param) == " (--domain)"
    assert totals("--domain", "") == (1, 1)
    assert totals("--domain", "b.example") == (2, 2)  # the operator reads private statistics too
    assert "--domain DOMAIN" in _help("export")


def test_export_takes_period_and_compare(db: Any):
    """``--period last_month --compare previous_period`` become the endpoint's parameters: February
    (the clock is 10 March) beside January; raw clicks refuse ``--compare`` naming the flag."""
    from datetime import datetime, timezone

    from bson import ObjectId

    from spoo_export_plugin import ExportSettings
    from spoo_export_plugin.core.clicks import parse_clicks_request
    from spoo_export_plugin.core.exceptions import BadRequest
    from spoo_export_plugin.core.request.params import parse_export_request
    from spoo_export_plugin.core.service import Exporter
    from spoo_export_plugin.formats import FORMATS, click_formats
    from spoo_export_plugin.ops import cli_export, export_files

    from ..factories import add_url, make_click

    owner = ObjectId()
    add_url(db, "p", owner)
    db.clicks.insert_many(
        [make_click("p", owner, datetime(2025, 2, d)) for d in (3, 4, 5)]
        + [make_click("p", owner, datetime(2025, 1, d)) for d in (6, 7)]
    )
    flags = ["export", "--owner", str(owner), "--format", "json", "--period", "last_month"]
    args = cli.build_parser("export").parse_args([*flags, "--compare", "previous_period", "--group-by", "browser"])
    query = cli_export.build_query(args)
    assert (query["period"], query["compare"]) == ("last_month", "previous_period")
    exporter = Exporter(ExportSettings(database=db), clock=lambda: datetime(2025, 3, 10, tzinfo=timezone.utc))
    report = export_files.operator_report(exporter, parse_export_request(query, FORMATS), owner)
    head = report.header()
    assert (head["period"], head["start_date"], head["end_date"]) == (
        "last_month",
        "2025-02-01T00:00:00+00:00",
        "2025-02-28T23:59:59.999000+00:00",
    )
    assert head["summary"]["total_clicks"] == 3
    assert head["comparison"] == {
        "compare": "previous_period",
        "start_date": "2025-01-01T00:00:00+00:00",
        "end_date": "2025-01-31T23:59:59.999000+00:00",
        "summary": {"total_clicks": 2, "unique_clicks": 1, "unique_rate": 0.5, "avg_redirect_ms": 12.0},
    }
    assert report.to_dict()["breakdowns"]["browser"] == [
        {
            "browser": "Chrome",
            "clicks": 3,
            "unique_clicks": 1,
            "previous_clicks": 2,
            "previous_unique_clicks": 1,
            "clicks_change": 0.5,
        }
    ]
    with pytest.raises(BadRequest) as refused:
        parse_clicks_request({k: v for k, v in query.items() if k != "group_by"}, click_formats())
    assert refused.value.param == "compare" and export_files.flag_for(refused.value.param) == " (--compare)"
    assert "--period PERIOD" in _help("export") and "--compare COMPARE" in _help("export")
