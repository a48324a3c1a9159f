"""Unit tests of the format helpers: sheet titles, file names, streaming, hostile text, the registry.

Reports are built directly from the dataclasses; expected values are literals written here.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
import subprocess
import sys
import zipfile
from datetime import datetime, timezone
from urllib.parse import unquote
from xml.etree import ElementTree

import openpyxl
import pytest

from spoo_export_plugin import ExportSettings
from spoo_export_plugin.core.report.filenames import export_filename
from spoo_export_plugin.core.report.report import Breakdown, Report, Summary
from spoo_export_plugin.core.report.timebuckets import TimeBucket
from spoo_export_plugin.files.disposition import content_disposition
from spoo_export_plugin.formats import BUILTINS, FORMATS, Deferred, Format, click_formats, register, register_builtins
from spoo_export_plugin.formats._xlsx import sheet_title

from ..factories import ROUTE, add_url

UTC = timezone.utc


def make_report(cities=("Paris",), *, short_code=None, rows_per_city=1, scope="all") -> Report:
    day = TimeBucket("2025-03-09", datetime(2025, 3, 9), "day")
    rows = [(city, 2, 1) for city in cities for _ in range(rows_per_city)]
    return Report(
        scope=scope,
        short_code=short_code,
        timezone="UTC",
        start=datetime(2025, 3, 9, tzinfo=UTC),
        end=datetime(2025, 3, 10, tzinfo=UTC),
        granularity="day",
        group_by=("time", "city"),
        metrics=("clicks", "unique_clicks"),
        filters={},
        generated_at=datetime(2025, 3, 11, tzinfo=UTC),
        summary=Summary(total_clicks=2 * len(rows), unique_clicks=len(rows)),
        breakdowns={
            "time": Breakdown("time", ("time", "clicks", "unique_clicks"), [(day, 2 * len(rows), 1)], 1),
            "city": Breakdown("city", ("city", "clicks", "unique_clicks"), rows, len(rows)),
        },
    )


@pytest.fixture
def plain_settings(db) -> ExportSettings:
    return ExportSettings(database=db)


def render(fmt: str, report: Report, settings: ExportSettings) -> list[bytes]:
    return list(FORMATS[fmt].render(report, settings))


# ------------------------------------------------------------------------------ sheet titles
@pytest.mark.parametrize(
    "name, expected",
    [
        ("time,browser", "time,browser"),
        ("x" * 40, "x" * 31),
        ("a[b]c:d*e?f/g\\h", "a_b_c_d_e_f_g_h"),
        ("'quoted'", "quoted"),
        ("", "Sheet"),
        ("'''", "Sheet"),
        ("ctl\x00\x07chars", "ctlchars"),
        ("History", "History (2)"),
        ("history", "history (2)"),
        ("🦄 unicorns", "🦄 unicorns"),
        ("y" * 30 + "'", "y" * 30),
    ],
)
def test_sheet_title_rules(name, expected):
    assert sheet_title(name, set()) == expected


def test_sheet_titles_are_unique_regardless_of_case_and_length():
    taken: set[str] = set()
    long = "z" * 35
    titles = [sheet_title(n, taken) for n in ("time", "TIME", "time", long, long, "a:b", "a/b")]
    assert titles == ["time", "TIME (2)", "time (3)", "z" * 31, "z" * 27 + " (2)", "a_b", "a_b (2)"]
    assert all(len(t) <= 31 for t in titles)


def test_sanitised_titles_survive_a_real_workbook(tmp_path):
    taken: set[str] = set()
    names = ["Summary", "summary", "x" * 50, "x" * 50, "[bad]:*?/\\", "'edge'", "History", "ok"]
    titles = [sheet_title(n, taken) for n in names]
    wb = openpyxl.Workbook(write_only=True)
    for title in titles:
        wb.create_sheet(title).append([title])
    wb.save(tmp_path / "t.xlsx")
    assert openpyxl.load_workbook(tmp_path / "t.xlsx").sheetnames == titles  # openpyxl renamed nothing
    assert len({t.casefold() for t in titles}) == len(titles)
    assert not any(set(t) & set("[]:*?/\\") or t[0] == "'" or t[-1] == "'" for t in titles)


# ------------------------------------------------------------------------------ file names
def test_filename_names_subject_and_dates():
    assert export_filename(make_report(), "xlsx") == "spoo-export_all_20250309_20250310.xlsx"
    anon = make_report(short_code="abc", scope="anon")
    assert export_filename(anon, "zip") == "spoo-export_abc_20250309_20250310.zip"


def test_filename_is_short_and_safe_for_hostile_short_codes():
    many = ",".join(f"code{i}" for i in range(500))
    name = export_filename(make_report(short_code=many), "json")
    assert name == "spoo-export_" + many[:48] + "_20250309_20250310.json"
    hostile = export_filename(make_report(short_code='../a"b\r\nX-Evil: 1', scope="anon"), "xml")
    assert hostile == "spoo-export_a_b_X-Evil_ 1_20250309_20250310.xml"
    slashes = make_report(short_code="///", scope="anon")
    assert export_filename(slashes, "xml") == "spoo-export_anon_20250309_20250310.xml"


@pytest.mark.parametrize(
    "filename",
    [
        "spoo-export_🦄_20250309_20250310.json",
        "spoo-export_café,naïve_20250309_20250310.zip",
        'spoo-export_a"b;c\\d_20250309_20250310.xml',
        "spoo-export_abc_20250309_20250310.xlsx",
    ],
)
def test_content_disposition_round_trips_through_an_rfc_parser(filename):
    header = content_disposition(filename)
    assert header.startswith('attachment; filename="') and header.isascii()
    assert "\r" not in header and "\n" not in header
    fallback = re.fullmatch(r'attachment; filename="([A-Za-z0-9._-]+)"(?:; filename\*=UTF-8\'\'([^;\s"]+))?', header)
    assert fallback is not None, header
    if fallback.group(2) is None:
        assert fallback.group(1) == filename
    else:  # RFC 6266: a reader that knows filename* uses it; RFC 5987 percent-encoded UTF-8
        assert unquote(fallback.group(2), errors="strict") == filename
        assert re.fullmatch(r"[A-Za-z0-9!#$&+.^_`|~%-]+", fallback.group(2))  # attr-char / pct-encoded only


def test_emoji_fallback_is_plain_ascii():
    assert content_disposition("spoo-export_🦄_20250309_20250310.json") == (
        'attachment; filename="spoo-export_20250309_20250310.json"; '
        "filename*=UTF-8''spoo-export_%F0%9F%A6%84_20250309_20250310.json"
    )


# ------------------------------------------------------------------------------ streaming
def test_csv_zip_streams_in_bounded_chunks(plain_settings):
    report = make_report([f"City {i:06d}" for i in range(60_000)])
    chunks = render("csv", report, plain_settings)
    assert len(chunks) >= 6 and max(len(c) for c in chunks) < 1_000_000
    archive = zipfile.ZipFile(io.BytesIO(b"".join(chunks)))
    assert archive.testzip() is None
    assert all(info.flag_bits & 0x08 for info in archive.infolist())  # data descriptors: written unseekable
    lines = archive.read("by_city.csv").decode().split("\r\n")
    assert lines[0] == "city,clicks,unique_clicks" and lines[1] == "City 000000,2,1" and len(lines) == 60_002


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_text_formats_stream_in_chunks(fmt, plain_settings):
    chunks = render(fmt, make_report([f"City {i:06d}" for i in range(30_000)]), plain_settings)
    assert len(chunks) >= 6 and max(len(c) for c in chunks) < 1_000_000


# ------------------------------------------------------------------------------ hostile text
HOSTILE = "a\x00b\x0b\x1f\ud800\udfff\ufffe\uffffc"  # NUL, controls, lone surrogates, non-characters


def test_xml_drops_what_xml_forbids(plain_settings):
    body = b"".join(render("xml", make_report([HOSTILE, "tab\tnl\ncr\r", "🦄]]><x>&amp;"]), plain_settings))
    rows = ElementTree.fromstring(body).iter("row")
    cities = [row.findtext("city") for row in rows if row.find("city") is not None]
    assert cities == ["abc", "tab\tnl\ncr\r", "🦄]]><x>&amp;"]
    lxml_etree = pytest.importorskip("lxml.etree")
    assert lxml_etree.fromstring(body).tag == "report"


def test_xlsx_drops_what_xml_forbids(plain_settings):
    body = b"".join(render("xlsx", make_report([HOSTILE, "=1+1", "@cmd"], short_code="=2+3"), plain_settings))
    wb = openpyxl.load_workbook(io.BytesIO(body))
    assert [r[0] for r in wb["city"].iter_rows(min_row=2, values_only=True)] == ["abc", "=1+1", "@cmd"]
    assert wb["city"]["A3"].data_type == "s"
    summary = {
        r[0]: (r[1], r[1] is not None and wb["Summary"][f"B{i}"].data_type)
        for i, r in enumerate(wb["Summary"].iter_rows(values_only=True), 1)
    }
    assert summary["short_code"] == ("=2+3", "s") and summary["total_clicks"] == (6, "n")


def test_json_and_csv_stay_valid_utf8_with_lone_surrogates(plain_settings):
    body = b"".join(render("json", make_report([HOSTILE]), plain_settings))
    city = json.loads(body.decode("utf-8"))["breakdowns"]["city"][0]["city"]
    assert city.startswith("a\x00b\x0b\x1f") and city.endswith("\ufffe\uffffc") and "\ud800" not in city
    archive = zipfile.ZipFile(
        io.BytesIO(b"".join(render("csv", make_report([HOSTILE], short_code="-1"), plain_settings)))
    )
    assert archive.read("by_city.csv").decode("utf-8").split("\r\n")[1].startswith("a\x00b\x0b\x1f")
    assert "short_code,'-1" in archive.read("summary.csv").decode("utf-8")


def test_empty_breakdown_keeps_its_header(plain_settings):
    report = make_report([])
    wb = openpyxl.load_workbook(io.BytesIO(b"".join(render("xlsx", report, plain_settings))))
    assert [list(r) for r in wb["city"].iter_rows(values_only=True)] == [["city", "clicks", "unique_clicks"]]
    archive = zipfile.ZipFile(io.BytesIO(b"".join(render("csv", report, plain_settings))))
    assert archive.read("by_city.csv") == b"city,clicks,unique_clicks\r\n"
    root = ElementTree.fromstring(b"".join(render("xml", report, plain_settings)))
    assert len(root.find("breakdowns/breakdown[@name='city']")) == 0
    assert json.loads(b"".join(render("json", report, plain_settings)))["breakdowns"]["city"] == []


# ------------------------------------------------------------------------------ the registry
def test_registry_holds_the_five_formats():
    assert {name: (f.media_type, f.extension) for name, f in FORMATS.items()} == {
        "json": ("application/json", "json"),
        "xml": ("application/xml", "xml"),
        "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
        "csv": ("application/zip", "zip"),
        "html": ("text/html; charset=utf-8", "html"),
    }
    assert {name: f.headers for name, f in FORMATS.items() if f.headers} == {
        "html": (
            (
                "Content-Security-Policy",
                "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            ),
        )
    }
    with pytest.raises(ValueError):
        register(Format("csv", "text/csv", "csv", lambda report, settings: iter(())))


def test_a_fifth_format_is_served_once_registered(client, db, monkeypatch):
    def render_names(report, settings):
        yield "\n".join(report.breakdowns).encode()

    monkeypatch.setitem(FORMATS, "names", Format("names", "text/plain; charset=utf-8", "txt", render_names))
    add_url(db, "abc", created_at=datetime(2025, 3, 1))
    resp = client.simulate_get(
        ROUTE,
        params={
            "format": "names",
            "scope": "anon",
            "short_code": "abc",
            "start_date": "2025-03-01",
            "end_date": "2025-03-02",
            "group_by": "time,browser",
        },
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "text/plain; charset=utf-8"
    assert resp.text == "time\nbrowser\ntime,browser"
    assert resp.headers["content-disposition"] == 'attachment; filename="spoo-export_abc_20250301_20250302.txt"'


def test_each_builtin_renders_with_a_function_of_its_own_module():
    assert [fmt.name for fmt in BUILTINS] == sorted(FORMATS)
    for fmt in BUILTINS:
        assert FORMATS[fmt.name] is fmt
        for deferred in (fmt.render, fmt.render_clicks):
            if deferred is None:
                continue
            assert isinstance(deferred, Deferred)
            function = deferred.resolve()
            assert callable(function) and function.__name__ == deferred.function
            assert function.__module__ == f"spoo_export_plugin.formats.{deferred.module}"
    assert sorted(click_formats()) == ["csv", "json", "xlsx", "xml"]


def test_register_builtins_again_changes_nothing_and_register_adds_a_host_format():
    before = dict(FORMATS)
    register_builtins()
    assert FORMATS == before
    rows = Format(
        "rows", "text/plain", "txt", lambda report, settings: iter(()), render_clicks=lambda export, settings: iter(())
    )
    try:
        assert register(rows) is rows and register(rows) is rows  # the same format again is fine
        assert FORMATS["rows"] is rows and click_formats()["rows"] is rows
    finally:
        del FORMATS["rows"]
    assert FORMATS == before


_FIRST_FILES = """
import json, sys
from datetime import datetime, timezone
from spoo_export_plugin.core.report.report import Report, Summary
from spoo_export_plugin.core.settings import ExportSettings
from spoo_export_plugin.formats import FORMATS, click_formats

def loaded():
    modules = [name.rsplit(".", 1)[1] for name in sys.modules if name.startswith("spoo_export_plugin.formats.")]
    return sorted(modules) + [library for library in ("openpyxl", "xmltodict") if library in sys.modules]

steps = {}
_ = sorted(FORMATS), sorted(click_formats()), [(f.media_type, f.extension, f.headers) for f in FORMATS.values()]
steps["registry"] = loaded()
utc = timezone.utc
report = Report(scope="all", short_code=None, timezone="UTC", start=datetime(2025, 3, 9, tzinfo=utc),
                end=datetime(2025, 3, 10, tzinfo=utc), granularity="day", group_by=(), metrics=("clicks",),
                filters={}, generated_at=datetime(2025, 3, 11, tzinfo=utc), summary=Summary(3, 2), breakdowns={})
settings = ExportSettings(mongodb_uri="mongodb://127.0.0.1:9")  # never connected: formats read settings only
for name in ("csv", "json", "xml", "xlsx"):
    assert b"".join(FORMATS[name].render(report, settings))
    steps[name] = loaded()
print(json.dumps(steps))
"""


def test_a_format_module_and_its_library_load_with_its_first_file():
    """In a fresh interpreter: the registry's names, types and raw-click support import no format
    module; each file loads its own module, and openpyxl waits for the first xlsx."""
    out = subprocess.run(
        [sys.executable, "-c", _FIRST_FILES], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    steps = json.loads(out)
    assert steps["registry"] == []
    assert "_csv" in steps["csv"] and not {"_json", "_xml", "_xlsx", "openpyxl", "xmltodict"} & set(steps["csv"])
    assert "_json" in steps["json"] and not {"_xml", "_xlsx", "openpyxl", "xmltodict"} & set(steps["json"])
    assert {"_xml", "xmltodict"} <= set(steps["xml"]) and not {"_xlsx", "openpyxl"} & set(steps["xml"])
    assert {"_xlsx", "openpyxl"} <= set(steps["xlsx"]) and "_html" not in steps["xlsx"]


def test_a_raw_click_file_starts_with_the_reports_header_but_the_grouping() -> None:
    """One header for both kinds of export: the same keys, in the same order, with the same values."""
    from spoo_export_plugin.core.report.click_rows import ClickExport

    report = dataclasses.replace(
        make_report(short_code="abc", scope="link"),
        url_id="650000000000000000000001",
        filters={"city": ["Paris"]},
        exclude={"os": ["iOS"]},
        exclude_bots=True,
    )
    clicks = ClickExport(
        scope=report.scope,
        short_code=report.short_code,
        timezone=report.timezone,
        start=report.start,
        end=report.end,
        filters=report.filters,
        exclude=report.exclude,
        exclude_bots=True,
        generated_at=report.generated_at,
        total_clicks=5,
        row_count=5,
        columns=("time",),
        url_id=report.url_id,
    )
    grouping = ("granularity", "group_by", "metrics")
    expected = {k: v for k, v in report.header().items() if k not in (*grouping, "period")}  # no period: dates
    expected["summary"] = {"total_clicks": 5, "truncated": False}
    assert list(clicks.header().items()) == list(expected.items())
    which = ["scope", "short_code", "url_id", "timezone", "start_date", "end_date", "period"]
    assert list(report.header())[:7] == which
    assert list(report.header())[7:10] == list(grouping)
