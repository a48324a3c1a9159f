"""The workbook's native charts, read back from the file's own XML (zipfile + ElementTree, no openpyxl).

Which chart belongs to which sheet is followed through the package's relationship files, as a
spreadsheet application does: workbook -> sheet -> drawing -> chart. Expected references and
titles are literals written here. The last test has LibreOffice draw the charts into a PDF.
"""

from __future__ import annotations

import io
import posixpath
import re
import shutil
import subprocess
import zipfile
from xml.etree import ElementTree

import pytest

from .hostile_data import fetch

C = "{http://schemas.openxmlformats.org/drawingml/2006/chart}"
A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
PKG = "{http://schemas.openxmlformats.org/package/2006/relationships}"
RANGE = "2025-03-08 00:00 to 2025-03-10 23:59 (UTC)"


def _targets(archive: zipfile.ZipFile, part: str) -> dict[str, str]:
    """Relationship id -> part name, for the relationships of ``part``."""
    folder, name = posixpath.split(part)
    rels = posixpath.join(folder, "_rels", name + ".rels")
    if rels not in archive.namelist():
        return {}
    found = {}
    for rel in ElementTree.fromstring(archive.read(rels)).iter(PKG + "Relationship"):
        target = rel.get("Target")
        found[rel.get("Id")] = (
            target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
        )
    return found


def charts_by_sheet(body: bytes) -> dict[str, list[ElementTree.Element]]:
    """Sheet title -> the chart documents drawn on it."""
    archive = zipfile.ZipFile(io.BytesIO(body))
    sheets = _targets(archive, "xl/workbook.xml")
    result = {}
    for sheet in ElementTree.fromstring(archive.read("xl/workbook.xml")).iter(MAIN + "sheet"):
        part = sheets[sheet.get(REL + "id")]
        charts = []
        for drawing in _targets(archive, part).values():
            if "/drawings/" in drawing:
                charts += [
                    ElementTree.fromstring(archive.read(chart))
                    for chart in _targets(archive, drawing).values()
                    if "/charts/" in chart
                ]
        result[sheet.get("name")] = charts
    return result


def series(chart: ElementTree.Element) -> list[tuple[str, str, str]]:
    """(name reference, categories reference, values reference) of each series."""
    return [
        (ser.findtext(f"{C}tx/{C}strRef/{C}f"), ser.findtext(f"{C}cat//{C}f"), ser.findtext(f"{C}val//{C}f"))
        for ser in chart.iter(C + "ser")
    ]


def title(chart: ElementTree.Element) -> list[str]:
    return [t.text for t in chart.find(f"{C}chart/{C}title").iter(A + "t")]


def test_time_sheet_has_a_line_chart_of_its_cells_on_a_date_axis(client, dataset):
    charts = charts_by_sheet(fetch(client, dataset, "xlsx", group_by="time,browser").content)
    assert [len(charts[name]) for name in ("Summary", "time", "browser", "time,browser")] == [0, 1, 1, 0]
    chart = charts["time"][0]
    assert chart.find(f"{C}chart/{C}plotArea/{C}lineChart") is not None
    assert series(chart) == [
        ("'time'!B1", "'time'!$A$2:$A$4", "'time'!$B$2:$B$4"),
        ("'time'!C1", "'time'!$A$2:$A$4", "'time'!$C$2:$C$4"),
    ]
    axis = chart.find(f"{C}chart/{C}plotArea/{C}dateAx")
    assert axis is not None and axis.find(f"{C}baseTimeUnit").get("val") == "days"
    assert axis.find(f"{C}delete").get("val") == "0"
    assert title(chart) == ["Clicks and unique clicks per day", RANGE]
    assert not chart.findall(f".//{C}numCache")  # references only: the sheet's cells are the data


def test_time_chart_draws_equal_series_distinguishably(client, dataset):
    """Unique clicks = clicks on both days: the second line is dashed over the solid first one, in
    another colour, so neither hides the other."""
    charts = charts_by_sheet(fetch(client, dataset, "xlsx", group_by="time", start_date="2025-03-09").content)
    lines = [ser.find(f"{C}spPr/{A}ln") for ser in charts["time"][0].iter(C + "ser")]
    assert len(lines) == 2 and None not in lines
    dash = [ln.find(f"{A}prstDash").get("val") if ln.find(f"{A}prstDash") is not None else "solid" for ln in lines]
    colour = [ln.find(f"{A}solidFill/{A}srgbClr").get("val") for ln in lines]
    assert dash[0] == "solid" and dash[1] in ("dash", "sysDash", "lgDash", "dashDot", "sysDot")
    assert colour[0] != colour[1] and int(lines[0].get("w")) > int(lines[1].get("w"))


def test_single_dimension_sheets_chart_their_top_10_rows(client, dataset):
    charts = charts_by_sheet(fetch(client, dataset, "xlsx", group_by="browser,city,referrer").content)
    browser, city = charts["browser"][0], charts["city"][0]
    bar = city.find(f"{C}chart/{C}plotArea/{C}barChart")
    assert bar is not None and bar.find(f"{C}barDir").get("val") == "bar"
    assert series(city) == [
        ("'city'!B1", "'city'!$A$2:$A$11", "'city'!$B$2:$B$11"),  # 16 cities: the first 10
        ("'city'!C1", "'city'!$A$2:$A$11", "'city'!$C$2:$C$11"),
    ]
    assert series(browser)[0] == ("'browser'!B1", "'browser'!$A$2:$A$5", "'browser'!$B$2:$B$5")  # 4 browsers
    assert title(city) == ["Top 10 cities by clicks", RANGE] and title(browser) == ["All 4 browsers by clicks", RANGE]
    assert len(charts["referrer"]) == 1


def test_chart_follows_the_requested_metrics(client, dataset):
    charts = charts_by_sheet(
        fetch(client, dataset, "xlsx", group_by="time,country", metrics="share,unique_clicks").content
    )
    assert series(charts["time"][0]) == [("'time'!C1", "'time'!$A$2:$A$4", "'time'!$C$2:$C$4")]
    assert title(charts["time"][0])[0] == "Unique clicks per day"
    share_only = charts_by_sheet(fetch(client, dataset, "xlsx", group_by="time", metrics="share").content)
    chart = share_only["time"][0]
    assert series(chart) == [("'time'!B1", "'time'!$A$2:$A$4", "'time'!$B$2:$B$4")]
    assert chart.find(f".//{C}valAx/{C}numFmt").get("formatCode") == "0%"


def test_hour_buckets_use_a_category_axis(client, dataset):
    """A spreadsheet date axis counts whole days: hours would pile up on one point."""
    body = fetch(
        client,
        dataset,
        "xlsx",
        group_by="time",
        granularity="hour",
        start_date="2025-03-09T00:00:00Z",
        end_date="2025-03-09T05:59:59Z",
    ).content
    chart = charts_by_sheet(body)["time"][0]
    assert chart.find(f".//{C}dateAx") is None and chart.find(f".//{C}catAx") is not None
    assert series(chart)[0][2] == "'time'!$B$2:$B$7"
    assert title(chart) == ["Clicks and unique clicks per hour", "2025-03-09 00:00 to 2025-03-09 05:59 (UTC)"]


def test_continued_breakdown_keeps_its_chart_on_the_first_sheet(client, dataset, monkeypatch):
    from spoo_export_plugin.formats import _xlsx

    monkeypatch.setattr(_xlsx, "EXCEL_MAX_ROWS", 7)  # header + 6 data rows per sheet
    charts = charts_by_sheet(fetch(client, dataset, "xlsx", group_by="city").content)
    assert [len(charts[name]) for name in ("city", "city (2)", "city (3)")] == [1, 0, 0]
    assert series(charts["city"][0])[0][2] == "'city'!$B$2:$B$7"


def test_empty_breakdown_gets_no_chart(client, dataset):
    charts = charts_by_sheet(
        fetch(
            client,
            dataset,
            "xlsx",
            group_by="time,city",
            start_date="2024-01-01",
            end_date="2024-01-02",
            granularity="day",
        ).content
    )
    assert len(charts["time"]) == 1 and charts["city"] == []


def test_sheets_print_landscape_one_page_wide_with_the_header_repeated(client, dataset):
    archive = zipfile.ZipFile(io.BytesIO(fetch(client, dataset, "xlsx", group_by="time").content))
    sheet = ElementTree.fromstring(archive.read("xl/worksheets/sheet2.xml"))
    assert sheet.find(f"{MAIN}sheetPr/{MAIN}pageSetUpPr").get("fitToPage") == "1"
    setup = sheet.find(f"{MAIN}pageSetup")
    assert (setup.get("orientation"), setup.get("fitToWidth"), setup.get("fitToHeight")) == ("landscape", "1", "0")
    names = ElementTree.fromstring(archive.read("xl/workbook.xml")).iter(MAIN + "definedName")
    assert any(n.get("name") == "_xlnm.Print_Titles" and n.text == "'time'!$1:$1" for n in names)


# ---------------------------------------------------------------------------------- a real office suite


def coloured_pixels(ppm: bytes) -> int:
    """Pixels of a binary PPM (P6) that are clearly coloured (not black, grey or white): chart ink."""
    match = re.match(rb"P6\s+(\d+)\s+(\d+)\s+255\s", ppm)
    assert match, ppm[:20]
    pixels = memoryview(ppm)[match.end() :]
    found = 0
    for i in range(0, len(pixels) - 2, 3 * 2):  # every other pixel is plenty
        r, g, b = pixels[i], pixels[i + 1], pixels[i + 2]
        if max(r, g, b) - min(r, g, b) > 60:
            found += 1
    return found


@pytest.mark.doors("wsgi")  # the bytes are the same through both doors (test_doors.py)
def test_libreoffice_draws_the_charts_into_a_pdf(client, dataset, tmp_path):
    office = shutil.which("soffice") or shutil.which("libreoffice")
    if office is None:
        pytest.skip("LibreOffice (soffice) is not installed: the charts were not drawn by a real spreadsheet app")
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed: the PDF pages could not be rendered")
    (tmp_path / "charted.xlsx").write_bytes(fetch(client, dataset, "xlsx", group_by="time,browser").content)
    subprocess.run(
        [
            office,
            "--headless",
            f"-env:UserInstallation=file://{tmp_path}/profile",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp_path),
            str(tmp_path / "charted.xlsx"),
        ],
        check=True,
        timeout=180,
        capture_output=True,
    )
    pdf = tmp_path / "charted.pdf"
    assert pdf.read_bytes().startswith(b"%PDF-")
    subprocess.run(
        ["pdftoppm", "-r", "40", str(pdf), str(tmp_path / "page")], check=True, timeout=60, capture_output=True
    )
    pages = sorted(tmp_path.glob("page-*.ppm"))
    assert len(pages) == 4  # Summary, time, browser, time,browser: each one page, a chart beside its table
    ink = [coloured_pixels(page.read_bytes()) for page in pages]
    assert ink[0] == ink[3] == 0 and ink[1] > 40 and ink[2] > 40, ink  # colour: only the charts drawn
