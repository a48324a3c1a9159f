"""The package's shape: public names, documented module paths, and the layer contract.

The contract itself lives in setup.cfg (``[importlinter]``) and runs as ``lint-imports`` in
the test command; here it also runs in-process, so a plain ``pytest`` catches a broken layer.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_public_api_is_importable_as_spec_says():
    from spoo_export_plugin import ExportMiddleware, ExportResource, ExportSettings, create_app

    assert callable(create_app) and ExportSettings.__module__ == "spoo_export_plugin.core.settings"
    assert ExportMiddleware.__module__ == "spoo_export_plugin.web.middleware"
    assert ExportResource.__module__ == "spoo_export_plugin.web.resource"


@pytest.mark.parametrize("old, new, name", [
    ("spoo_export_plugin.guard", "spoo_export_plugin.web.guard", "ExportGuard"),
    ("spoo_export_plugin.errors", "spoo_export_plugin.web.errors", "handle_export_error"),
    ("spoo_export_plugin.errors", "spoo_export_plugin.web.errors", "install"),
    ("spoo_export_plugin.openapi", "spoo_export_plugin.web.openapi", "OpenAPIResource"),
    ("spoo_export_plugin.auth", "spoo_export_plugin.access.auth", "Authenticator"),
    ("spoo_export_plugin.cli", "spoo_export_plugin.ops.cli", "main"),
])
def test_documented_module_paths_still_import_the_same_objects(old, new, name):
    assert getattr(importlib.import_module(old), name) is getattr(importlib.import_module(new), name)


def test_documented_alias_works_in_a_fresh_interpreter():
    """``from spoo_export_plugin.guard import ExportGuard`` as the first import of a process."""
    code = "from spoo_export_plugin.guard import ExportGuard; print(ExportGuard.__module__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "spoo_export_plugin.web.guard"


def test_the_console_script_points_at_the_ops_layer():
    text = (REPO / "pyproject.toml").read_text("utf-8")
    assert 'spoo-export = "spoo_export_plugin.ops.cli:main"' in text
    assert callable(importlib.import_module("spoo_export_plugin.ops.cli").main)


def _lint_imports(*args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if exe is None:
        pytest.fail("lint-imports is not installed: it is part of the test extra")
    return subprocess.run([exe, "--no-cache", *args], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_the_layer_contracts_hold():
    result = _lint_imports()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 kept, 0 broken" in result.stdout


def test_breaking_a_layer_breaks_the_contract(tmp_path):
    """The contract can fail: the same contracts over a copy of the package with a core->web import."""
    copy = tmp_path / "spoo_export_plugin"
    shutil.copytree(REPO / "spoo_export_plugin", copy, ignore=shutil.ignore_patterns("__pycache__"))
    settings = copy / "core" / "settings.py"
    settings.write_text(settings.read_text("utf-8") + "\nfrom ..web import errors as _oops  # noqa\n", "utf-8")
    shutil.copy(REPO / "setup.cfg", tmp_path / "setup.cfg")
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    result = subprocess.run([exe, "--no-cache"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env={"PYTHONPATH": str(tmp_path), "PATH": str(Path(sys.executable).parent)})
    assert result.returncode != 0, result.stdout
    assert "spoo_export_plugin.core.settings -> spoo_export_plugin.web.errors" in result.stdout
    assert "BROKEN" in result.stdout
