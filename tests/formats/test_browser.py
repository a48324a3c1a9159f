"""The html report in a real browser: headless Chromium with JavaScript off (tests/browser.py).

It must lay out, show its charts in the screenshot, print to a PDF, and load nothing: no
network request but the file itself, no console error or warning (a Content-Security-Policy
violation is one). A control page that does load things shows the checks can fail.
"""

from __future__ import annotations

import io
import shutil
import subprocess

import pytest

from ..browser import Chromium, find_chromium
from .hostile_data import fetch

BLUE, ORANGE = (0x1D, 0x4E, 0xD8), (0xB4, 0x53, 0x09)  # the report's two series colours


@pytest.fixture(scope="module")
def browser():
    executable = find_chromium()
    if executable is None:
        pytest.skip("Chromium is not installed (Debian package `chromium`): the report was not opened in a browser")
    pytest.importorskip("websocket", reason="websocket-client (the `test` extra) drives Chromium")
    pytest.importorskip("PIL", reason="pillow (the `test` extra) reads the screenshot's pixels")
    chromium = Chromium(executable)
    yield chromium
    chromium.close()


def colour_count(png: bytes, colour: tuple[int, int, int]) -> int:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    return sum(n for n, rgb in image.getcolors(image.width * image.height) if rgb == colour)


@pytest.mark.doors("wsgi")  # the bytes are the same through both doors (test_doors.py)
def test_report_renders_with_javascript_off_and_loads_nothing(browser, client, dataset, tmp_path):
    page = tmp_path / "report.html"
    page.write_bytes(fetch(client, dataset, "html", group_by="time,browser,city").content)
    browser.open(page.as_uri())
    assert browser.requests() == [page.as_uri()]
    assert browser.problems() == []
    charts = browser.boxes("svg.chart")
    assert len(charts) == 3 and all(w > 500 and h > 100 for w, h in charts), charts
    assert len(browser.boxes("table")) == 2 + 5  # the summary's two; time, browser, city, time,browser, time,city

    png = browser.screenshot(height=1400)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert colour_count(png, BLUE) > 2_000 and colour_count(png, ORANGE) > 1_000  # lines and bars drawn

    pdf = browser.pdf()
    assert pdf.startswith(b"%PDF-") and browser.problems() == [] and browser.requests() == [page.as_uri()]
    if shutil.which("pdfinfo"):  # poppler-utils, beside pdftoppm
        (tmp_path / "report.pdf").write_bytes(pdf)
        info = subprocess.run(
            ["pdfinfo", str(tmp_path / "report.pdf")], capture_output=True, text=True, check=True, timeout=30
        ).stdout
        pages = int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))
        assert 2 <= pages <= 6, info  # A4 pages of summary, charts and tables; no blank or runaway pages
        assert "(A4)" in info  # the print stylesheet's @page size


@pytest.mark.doors("wsgi")  # the bytes are the same through both doors (test_doors.py)
def test_hostile_values_stay_text_in_the_browser(browser, client, dataset, tmp_path):
    page = tmp_path / "cities.html"
    page.write_bytes(fetch(client, dataset, "html", group_by="city").content)
    browser.open(page.as_uri())
    assert browser.requests() == [page.as_uri()] and browser.problems() == []
    assert browser.boxes("img, script, iframe, object, embed") == []
    table = browser.outer_html("table:not(.summary)")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in table and "<script" not in table


def test_the_checks_catch_a_page_that_loads_or_runs_things(browser, tmp_path):
    """A control: remote image and style sheet are requested and fail; an inline script does not run."""
    page = tmp_path / "control.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>control</title>"
        '<link rel="stylesheet" href="http://127.0.0.1:9/style.css"></head>'
        '<body><img src="http://127.0.0.1:9/pixel.png" alt="">'
        '<script>document.title = "script ran"</script></body></html>',
        encoding="utf-8",
    )
    browser.open(page.as_uri())
    assert set(browser.requests()) == {page.as_uri(), "http://127.0.0.1:9/style.css", "http://127.0.0.1:9/pixel.png"}
    assert any(p.startswith("failed load") for p in browser.problems())
    assert browser.outer_html("title") == "<title>control</title>"  # JavaScript is off
