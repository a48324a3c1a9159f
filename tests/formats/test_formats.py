"""Every format fetched over HTTP from the real app, parsed back and compared with the JSON report.

Expected values come from the JSON answer to the same request, or from literals written here;
the parsers are independent ones (json, xml.etree/lxml, zipfile + csv, openpyxl reading).
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import zipfile
from datetime import datetime
from typing import Any
from xml.etree import ElementTree

import openpyxl
import pytest

from ..doors import make_app
from .hostile_data import ALL_DIMENSIONS, MEDIA_TYPES, fetch, xml_chars

EXTENSIONS = {"json": "json", "xml": "xml", "xlsx": "xlsx", "csv": "zip", "html": "html"}


def csv_cell(value: Any) -> str:
    """What a CSV cell must hold for a JSON value (OWASP: quote before a formula trigger)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    text = str(value)
    if isinstance(value, str) and text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


# ---------------------------------------------------------------------------------- readers
def read_xml(body: bytes) -> tuple[ElementTree.Element, dict[str, list[dict[str, Any]]]]:
    root = ElementTree.fromstring(body)
    assert root.tag == "report"
    tables = {}
    for breakdown in root.find("breakdowns"):
        assert breakdown.tag == "breakdown"
        tables[breakdown.get("name")] = [{cell.tag: cell.text for cell in row} for row in breakdown]
    return root, tables


def read_zip(body: bytes) -> dict[str, list[list[str]]]:
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert archive.testzip() is None
    return {
        name: list(csv.reader(io.StringIO(archive.read(name).decode("utf-8"), newline="")))
        for name in archive.namelist()
    }


def entry_for(breakdown: str) -> str:
    return {
        "time": "by_time.csv",
        "browser": "by_browser.csv",
        "time,browser": "by_time_and_browser.csv",
    }.get(breakdown, "by_" + breakdown.replace(",", "_and_") + ".csv")


# ---------------------------------------------------------------------------------- json
def test_json_report_matches_hand_written_values(client, dataset):
    body = fetch(client, dataset, "json", group_by="time,browser").json
    assert body["summary"]["total_clicks"] == dataset["clicks"] == 17
    assert body["breakdowns"]["time"] == [
        {"time": "2025-03-08", "clicks": 6, "unique_clicks": 5},
        {"time": "2025-03-09", "clicks": 6, "unique_clicks": 6},  # + the 203.0.113.1 click
        {"time": "2025-03-10", "clicks": 5, "unique_clicks": 5},
    ]
    assert body["breakdowns"]["browser"] == [
        {"browser": "Chrome", "clicks": 6, "unique_clicks": 5},
        {"browser": "Firefox", "clicks": 5, "unique_clicks": 5},
        {"browser": "Safari", "clicks": 5, "unique_clicks": 5},
        {"browser": "Unknown", "clicks": 1, "unique_clicks": 1},
    ]
    assert list(body["breakdowns"]) == ["time", "browser", "time,browser"]


# ---------------------------------------------------------------------------------- xml
def test_xml_is_the_json_tree(client, dataset):
    expected = fetch(client, dataset, "json").json
    resp = fetch(client, dataset, "xml")
    root, tables = read_xml(resp.content)
    assert list(tables) == list(expected["breakdowns"])
    for name, rows in expected["breakdowns"].items():
        assert tables[name] == [
            {k: (xml_chars(v) if isinstance(v, str) else str(v)) or None for k, v in row.items()} for row in rows
        ], name
    for key in ("scope", "timezone", "start_date", "end_date", "granularity"):
        assert root.findtext(key) == expected[key]
    assert datetime.fromisoformat(root.findtext("generated_at")).tzinfo is not None  # differs per request
    assert root.find("short_code").text is None and expected["short_code"] is None
    assert [item.text for item in root.find("group_by")] == expected["group_by"] == ALL_DIMENSIONS.split(",")
    assert [item.text for item in root.find("metrics")] == ["clicks", "unique_clicks"]
    summary = root.find("summary")
    assert summary.findtext("total_clicks") == str(expected["summary"]["total_clicks"]) == "17"
    assert summary.findtext("unique_clicks") == str(expected["summary"]["unique_clicks"])
    assert summary.findtext("first_click") == expected["summary"]["first_click"]
    assert summary.findtext("truncated") == "false"


def test_xml_survives_hostile_text(client, dataset):
    body = fetch(client, dataset, "xml", group_by="city").content
    assert body.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    lxml_etree = pytest.importorskip("lxml.etree")
    lxml_etree.fromstring(body, lxml_etree.XMLParser(recover=False))  # strict XML 1.0
    _, tables = read_xml(body)
    cities = {row["city"] for row in tables["city"]}
    assert {
        "Null",
        "CtlBell",
        "Nonchar",
        "🦄 Town",
        "]]> <script>alert(1)</script>",
        "Mid\rreturn",
        "Line\nfeed",
        '=HYPERLINK("http://evil.example","click")',
        "Zürich",
    } <= cities
    assert b"<script>" not in body and b"\x00" not in body and b"\x1b" not in body


def test_xml_filters_and_truncation(client, dataset, settings):
    import falcon.testing

    capped = falcon.testing.TestClient(make_app(settings.replace(row_cap=2)))
    root, tables = read_xml(
        fetch(
            capped, dataset, "xml", group_by="city,browser", filters=json.dumps({"browser": ["Chrome", "Safari"]})
        ).content
    )
    assert [item.text for item in root.find("filters/browser")] == ["Chrome", "Safari"]
    assert root.findtext("summary/truncated") == "true"
    assert [item.text for item in root.find("summary/truncated_breakdowns")] == ["city"]
    assert len(tables["city"]) == 2 and len(tables["browser"]) == 2


# ---------------------------------------------------------------------------------- csv
def test_csv_zip_is_the_json_report(client, dataset):
    expected = fetch(client, dataset, "json").json
    files = read_zip(fetch(client, dataset, "csv").content)
    assert list(files) == ["summary.csv"] + [entry_for(name) for name in expected["breakdowns"]]
    assert "by_time_and_city.csv" in files and "by_time_and_browser.csv" in files
    for name, rows in expected["breakdowns"].items():
        table = files[entry_for(name)]
        assert table[0] == name.split(",") + ["clicks", "unique_clicks"]
        assert table[1:] == [[csv_cell(v) for v in row.values()] for row in rows], name
    summary = dict(files["summary.csv"][1:])
    assert files["summary.csv"][0] == ["field", "value"]
    assert summary["scope"] == "all" and summary["short_code"] == ""
    assert summary["total_clicks"] == "17" and summary["truncated"] == "false"
    assert summary["group_by"] == ALL_DIMENSIONS and summary["start_date"] == expected["start_date"]


def test_csv_neutralises_formula_cells(client, dataset):
    files = read_zip(fetch(client, dataset, "csv", group_by="city,referrer").content)
    cells = [cell for name, table in files.items() for row in table[1:] for cell in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    cities = [row[0] for row in files["by_city.csv"][1:]]
    assert {
        '\'=HYPERLINK("http://evil.example","click")',
        "'+1+2",
        "'-3",
        "'@SUM(A1)",
        "'\tTabbed",
        "'\rReturned",
        "Nul\x00l",
        "Zürich",
        "Mid\rreturn",
        "#N/A",
    } <= set(cities)
    assert "'=cmd|' /C calc'!A0" in [row[0] for row in files["by_referrer.csv"][1:]]


def test_csv_bom_is_off_by_default_and_on_by_setting(client, dataset, settings):
    import falcon.testing

    plain = zipfile.ZipFile(io.BytesIO(fetch(client, dataset, "csv").content))
    assert not any(plain.read(n).startswith(b"\xef\xbb\xbf") for n in plain.namelist())
    with_bom = falcon.testing.TestClient(make_app(settings.replace(csv_bom=True)))
    archive = zipfile.ZipFile(io.BytesIO(fetch(with_bom, dataset, "csv").content))
    assert all(archive.read(n).startswith(b"\xef\xbb\xbf") for n in archive.namelist())
    assert archive.read("by_time.csv").decode("utf-8-sig").startswith("time,clicks,unique_clicks\r\n")


def test_csv_zip_entries_are_dated_when_the_export_was_made(client, dataset):
    """Not 1980-01-01: each entry carries generated_at (wall time of the report's timezone; ZIP keeps even seconds)."""
    for timezone in ("UTC", "Pacific/Kiritimati"):
        body = fetch(client, dataset, "csv", timezone=timezone).content
        archive = zipfile.ZipFile(io.BytesIO(body))
        generated = datetime.fromisoformat(dict(read_zip(body)["summary.csv"][1:])["generated_at"])
        assert str(generated.tzinfo.utcoffset(generated)) == ("0:00:00" if timezone == "UTC" else "14:00:00")
        expected = generated.replace(second=generated.second // 2 * 2).timetuple()[:6]
        assert {info.date_time for info in archive.infolist()} == {expected}
        assert all(info.compress_type == zipfile.ZIP_DEFLATED for info in archive.infolist())


# ---------------------------------------------------------------------------------- xlsx
def test_xlsx_is_the_json_report(client, dataset):
    expected = fetch(client, dataset, "json").json
    body = fetch(client, dataset, "xlsx").content
    wb = openpyxl.load_workbook(io.BytesIO(body))
    assert wb.sheetnames == ["Summary"] + list(expected["breakdowns"])
    for name, rows in expected["breakdowns"].items():
        ws = wb[name]
        assert ws.freeze_panes == "A2"
        table = list(ws.iter_rows())
        assert [c.value for c in table[0]] == list(rows[0])
        assert all(c.font.b for c in table[0]) and not any(c.font.b for c in table[1])
        assert len(table) - 1 == len(rows)
        for cells, row in zip(table[1:], rows, strict=True):
            for cell, (column, value) in zip(cells, row.items(), strict=True):
                if column == "time":
                    assert cell.is_date and cell.value == datetime.fromisoformat(value), (name, value)
                    assert cell.number_format == "yyyy-mm-dd"
                elif column in ("clicks", "unique_clicks"):
                    assert cell.data_type == "n" and cell.value == value
                else:
                    assert cell.data_type == "s" and (cell.value or "") == xml_chars(value), (name, value)
    summary = {row[0]: row[1] for row in wb["Summary"].iter_rows(min_row=2, values_only=True)}
    assert summary["total_clicks"] == expected["summary"]["total_clicks"] == 17
    assert summary["truncated"] is False and summary["short_code"] is None
    assert summary["group_by"] == ALL_DIMENSIONS and summary["end_date"] == expected["end_date"]


def test_xlsx_has_no_formula_or_error_cells(client, dataset):
    body = fetch(client, dataset, "xlsx", group_by="city,referrer").content
    wb = openpyxl.load_workbook(io.BytesIO(body))
    cells = [c for ws in wb for row in ws.iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type in ("f", "e")]
    cities = {c.value for c in wb["city"]["A"]}
    assert {'=HYPERLINK("http://evil.example","click")', "#N/A", "@SUM(A1)", "Null", "CtlBell"} <= cities
    archive = zipfile.ZipFile(io.BytesIO(body))  # the raw sheet XML: no <f> (formula) element at all
    for name in archive.namelist():
        if name.startswith("xl/worksheets/"):
            assert not re.search(rb"<f[ >]", archive.read(name)), name


def test_xlsx_hour_buckets_are_datetimes_with_their_offset(client, dataset):
    body = fetch(
        client,
        dataset,
        "xlsx",
        group_by="time",
        start_date="2025-03-09T05:00:00Z",
        end_date="2025-03-09T08:30:00Z",
        timezone="America/New_York",
        granularity="hour",
    ).content
    ws = openpyxl.load_workbook(io.BytesIO(body))["time"]
    cells = [row[0] for row in ws.iter_rows(min_row=2)]
    assert [c.value for c in cells] == [
        datetime(2025, 3, 9, 0),
        datetime(2025, 3, 9, 1),
        datetime(2025, 3, 9, 3),
        datetime(2025, 3, 9, 4),
    ]
    assert [c.number_format for c in cells] == ['yyyy-mm-dd hh:mm" (UTC-05:00)"'] * 2 + [
        'yyyy-mm-dd hh:mm" (UTC-04:00)"'
    ] * 2


def test_xlsx_10min_buckets_keep_the_repeated_hour_apart(client, dataset):
    """New York falls back at 06:00Z: 01:50 EDT is followed by 01:00 EST, each with its offset."""
    body = fetch(
        client,
        dataset,
        "xlsx",
        group_by="time",
        start_date="2025-11-02T05:50:00Z",
        end_date="2025-11-02T06:10:00Z",
        timezone="America/New_York",
        granularity="10min",
    ).content
    ws = openpyxl.load_workbook(io.BytesIO(body))["time"]
    cells = [row[0] for row in ws.iter_rows(min_row=2)]
    assert [c.value for c in cells] == [
        datetime(2025, 11, 2, 1, 50),
        datetime(2025, 11, 2, 1, 0),
        datetime(2025, 11, 2, 1, 10),
    ]
    assert all(c.is_date for c in cells)
    assert [c.number_format for c in cells] == ['yyyy-mm-dd hh:mm" (UTC-04:00)"'] + [
        'yyyy-mm-dd hh:mm" (UTC-05:00)"'
    ] * 2


def test_xlsx_month_buckets_show_as_months(client, dataset):
    body = fetch(client, dataset, "xlsx", group_by="time", granularity="month").content
    cell = openpyxl.load_workbook(io.BytesIO(body))["time"]["A2"]
    assert cell.is_date and cell.value == datetime(2025, 3, 1) and cell.number_format == "yyyy-mm"


def test_xlsx_long_breakdown_continues_on_more_sheets(client, dataset, monkeypatch):
    from spoo_export_plugin.formats import _xlsx

    monkeypatch.setattr(_xlsx, "EXCEL_MAX_ROWS", 7)  # header + 6 data rows per sheet
    expected = fetch(client, dataset, "json", group_by="city").json["breakdowns"]["city"]
    wb = openpyxl.load_workbook(io.BytesIO(fetch(client, dataset, "xlsx", group_by="city").content))
    assert len(expected) == 16  # "" and absent are both Unknown
    assert wb.sheetnames == ["Summary", "city", "city (2)", "city (3)"]
    titles = ("city", "city (2)", "city (3)")
    values = [r[0] for title in titles for r in wb[title].iter_rows(min_row=2, values_only=True)]
    assert [v or "" for v in values] == [xml_chars(row["city"]) for row in expected]
    assert all(wb[t]["A1"].value == "city" and wb[t].freeze_panes == "A2" for t in titles)


@pytest.mark.doors("wsgi")  # the bytes are the same through both doors (test_doors.py)
def test_xlsx_opens_in_a_real_spreadsheet_application(client, dataset, tmp_path):
    office = shutil.which("soffice") or shutil.which("libreoffice")
    if office is None:
        pytest.skip("LibreOffice (soffice) is not installed: the xlsx was not opened by a real spreadsheet app")
    expected = fetch(client, dataset, "json", group_by="browser").json["breakdowns"]["browser"]
    (tmp_path / "export.xlsx").write_bytes(fetch(client, dataset, "xlsx", group_by="browser").content)
    subprocess.run(
        [
            office,
            "--headless",
            f"-env:UserInstallation=file://{tmp_path}/profile",
            "--convert-to",
            "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1",
            "--outdir",
            str(tmp_path),
            str(tmp_path / "export.xlsx"),
        ],
        check=True,
        timeout=180,
        capture_output=True,
    )
    sheet = (tmp_path / "export-browser.csv").read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(sheet)))
    assert rows == [["browser", "clicks", "unique_clicks"]] + [
        [r["browser"], str(r["clicks"]), str(r["unique_clicks"])] for r in expected
    ]


# ---------------------------------------------------------------------------------- headers
@pytest.mark.parametrize("fmt", sorted(MEDIA_TYPES))
def test_headers_name_the_scope_and_dates(client, dataset, fmt):
    resp = fetch(client, dataset, fmt, start_date="2025-03-08T00:00:00+01:00")
    assert resp.headers["content-disposition"] == (
        f'attachment; filename="spoo-export_all_20250307_20250310.{EXTENSIONS[fmt]}"'
    )
    assert resp.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("fmt", sorted(MEDIA_TYPES))
def test_emoji_short_code_gets_rfc6266_filename(client, dataset, fmt):
    resp = fetch(client, dataset, fmt, scope="anon", short_code="🦄", group_by="time")
    assert resp.headers["content-disposition"] == (
        f'attachment; filename="spoo-export_20250308_20250310.{EXTENSIONS[fmt]}"; '
        f"filename*=UTF-8''spoo-export_%F0%9F%A6%84_20250308_20250310.{EXTENSIONS[fmt]}"
    )


def test_ascii_short_code_in_the_filename(client, dataset):
    resp = fetch(
        client,
        dataset,
        "csv",
        scope="anon",
        short_code="abc",
        group_by="time",
        timezone="Asia/Tokyo",
        start_date="2025-03-08T20:00:00Z",
    )
    assert resp.headers["content-disposition"] == 'attachment; filename="spoo-export_abc_20250309_20250311.zip"'
