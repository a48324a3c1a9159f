"""What a wheel holds besides the modules: every data file the package reads at run time is declared
in ``[tool.setuptools.package-data]`` (an editable install reads the source tree, so a file left
out would only be missed by a real install: the OpenAPI documents, the nginx example)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "spoo_export_plugin"


def declared_package_data() -> set[str]:
    """The package's line of the table (read without tomllib, which Python 3.10 lacks)."""
    table = (REPO / "pyproject.toml").read_text("utf-8").split("[tool.setuptools.package-data]", 1)[1]
    line = next(line for line in table.splitlines() if line.startswith("spoo_export_plugin = "))
    return set(ast.literal_eval(line.split("=", 1)[1].strip()))


def test_every_data_file_of_the_package_is_declared():
    data_files = {
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and path.suffix not in (".py", ".pyc") and "__pycache__" not in path.parts
    }
    assert "web/openapi_jobs.json" in data_files
    assert data_files == declared_package_data()
