"""Remake the two pictures in docs/pictures/ from the demo dataset (a script, not a test).

    .venv/bin/python -m tests.doc_pictures

- ``html-report.png``: the top of the html report as headless Chromium shows it, JavaScript off;
- ``xlsx-chart.png``: the ``time`` sheet of the workbook as LibreOffice prints it (pdftoppm).

Both go through the real app, as a user's download would. Needs chromium, soffice, pdftoppm.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import falcon.testing
import mongomock

from spoo_export_plugin import ExportSettings, create_app
from spoo_export_plugin.ops.demo_data import build_dataset, seed_database

from .browser import Chromium, find_chromium

ANCHOR = datetime(2026, 11, 30, 12)  # fixed, so the pictures change only when the product does
PARAMS = {
    "scope": "all",
    "group_by": "time,browser,country,referrer",
    "timezone": "Europe/Paris",
    "start_date": "2026-10-01",
    "end_date": "2026-11-29",
}


def main() -> int:
    out = Path(__file__).resolve().parents[1] / "docs" / "pictures"
    out.mkdir(parents=True, exist_ok=True)
    dataset = build_dataset(ANCHOR)
    database = mongomock.MongoClient().get_database("url-shortener")
    seed_database(database, dataset)
    client = falcon.testing.TestClient(create_app(ExportSettings(database=database)))
    auth = {"Authorization": f"Bearer {dataset.api_key}"}
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        for fmt in ("html", "xlsx"):
            resp = client.simulate_get("/api/v1/export", params={"format": fmt, **PARAMS}, headers=auth)
            assert resp.status_code == 200, resp.text
            (folder / f"report.{fmt}").write_bytes(resp.content)

        browser = Chromium(find_chromium() or sys.exit("chromium is not installed"), width=1100, height=1250)
        try:
            browser.open((folder / "report.html").as_uri())
            assert browser.problems() == [], browser.problems()
            (out / "html-report.png").write_bytes(browser.screenshot(height=1250))
        finally:
            browser.close()

        office = shutil.which("soffice") or sys.exit("soffice is not installed")
        subprocess.run(
            [
                office,
                "--headless",
                f"-env:UserInstallation=file://{folder}/profile",
                "--convert-to",
                "pdf",
                "--outdir",
                str(folder),
                str(folder / "report.xlsx"),
            ],
            check=True,
            timeout=180,
            capture_output=True,
        )
        # page 2 is the `time` sheet (page 1 the Summary): its table and its line chart
        subprocess.run(
            [
                "pdftoppm",
                "-png",
                "-r",
                "90",
                "-f",
                "2",
                "-l",
                "2",
                "-singlefile",
                str(folder / "report.pdf"),
                str(out / "xlsx-chart"),
            ],
            check=True,
            timeout=60,
        )
    print(f"wrote {out / 'html-report.png'} and {out / 'xlsx-chart.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
