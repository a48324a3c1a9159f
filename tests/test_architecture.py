"""The package's shape: public names, documented module paths, and the layer contract.

The contract itself lives in setup.cfg (``[importlinter]``) and runs as ``lint-imports`` in
the test command; here it also runs in-process, so a plain ``pytest`` catches a broken layer.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import spoo_export_plugin

REPO = Path(__file__).resolve().parents[1]


def test_public_api_is_importable_as_spec_says():
    from spoo_export_plugin import ExportMiddleware, ExportResource, ExportSettings, create_app

    assert callable(create_app) and ExportSettings.__module__ == "spoo_export_plugin.core.settings"
    assert ExportMiddleware.__module__ == "spoo_export_plugin.web.middleware"
    assert ExportResource.__module__ == "spoo_export_plugin.web.resource"


@pytest.mark.parametrize(
    "old, new, name",
    [
        ("spoo_export_plugin.guard", "spoo_export_plugin.web.guard", "ExportGuard"),
        ("spoo_export_plugin.errors", "spoo_export_plugin.web.errors", "handle_export_error"),
        ("spoo_export_plugin.errors", "spoo_export_plugin.web.errors", "install"),
        ("spoo_export_plugin.openapi", "spoo_export_plugin.web.openapi", "OpenAPIResource"),
        ("spoo_export_plugin.auth", "spoo_export_plugin.access.auth", "Authenticator"),
        ("spoo_export_plugin.cli", "spoo_export_plugin.ops.cli", "main"),
    ],
)
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
    assert "6 kept, 0 broken" in result.stdout


def _lint_a_copy_with(tmp_path: Path, module: str, line: str) -> subprocess.CompletedProcess:
    """The same contracts over a copy of the package with ``line`` appended to ``module`` (a path in it)."""
    copy = tmp_path / "spoo_export_plugin"
    shutil.copytree(REPO / "spoo_export_plugin", copy, ignore=shutil.ignore_patterns("__pycache__"))
    edited = copy / module
    edited.write_text(edited.read_text("utf-8") + f"\n{line}  # noqa\n", "utf-8")
    shutil.copy(REPO / "setup.cfg", tmp_path / "setup.cfg")
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    return subprocess.run(
        [exe, "--no-cache"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(tmp_path), "PATH": str(Path(sys.executable).parent), "COLUMNS": "300"},
    )  # one import chain a line


def test_breaking_a_layer_breaks_the_contract(tmp_path):
    """The contract can fail: the same contracts over a copy of the package with a core->web import."""
    result = _lint_a_copy_with(tmp_path, "core/settings.py", "from ..web import errors as _oops")
    assert result.returncode != 0, result.stdout
    assert "spoo_export_plugin.core.settings -> spoo_export_plugin.web.errors" in result.stdout
    assert "BROKEN" in result.stdout


@pytest.mark.parametrize(
    "module, line, chain",
    [
        (
            "core/report/report.py",
            "from ..engine.time_stages import NO_BUCKET_WALL as _oops",
            "spoo_export_plugin.core.report.report -> spoo_export_plugin.core.engine.time_stages",
        ),
        (
            "core/request/params.py",
            "from ..service import Exporter as _oops",
            "spoo_export_plugin.core.request.params -> spoo_export_plugin.core.service",
        ),
        ("core/report/timebuckets.py", "import bson as _oops", "spoo_export_plugin.core.report.timebuckets -> bson"),
    ],
)
def test_a_room_reaching_for_the_engine_breaks_the_contract(tmp_path, module, line, chain):
    """The request and report rooms import no engine, no orchestration and no driver."""
    result = _lint_a_copy_with(tmp_path, module, line)
    assert result.returncode != 0, result.stdout
    assert "The core's request and report rooms import no engine" in result.stdout
    assert chain in result.stdout and "BROKEN" in result.stdout


# ----------------------------------------------------------------------------- what loads at run time
#: What the layers below ``web`` never load at run time (import-linter checks the import
#: statements; these tests check what a fresh interpreter has actually imported).
WEB_AND_FILE_LIBRARIES = ("falcon", "gunicorn", "openpyxl", "xmltodict")


def _modules_of(package: str) -> list[str]:
    """The package and every module under it, at any depth (the core's rooms are packages)."""
    module = importlib.import_module(package)
    return [package] + [info.name for info in pkgutil.walk_packages(module.__path__, f"{package}.")]


def _in_a_fresh_interpreter(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO, timeout=120
    ).stdout.strip()


def _libraries_loaded_by(module: str) -> list[str]:
    return _in_a_fresh_interpreter(
        f"import importlib, sys; importlib.import_module({module!r}); "
        f"print(*[name for name in {WEB_AND_FILE_LIBRARIES!r} if name in sys.modules])"
    ).split()


@pytest.mark.parametrize(
    "module",
    [
        "spoo_export_plugin",
        *_modules_of("spoo_export_plugin.core"),
        *_modules_of("spoo_export_plugin.access"),
        "spoo_export_plugin.formats",
        "spoo_export_plugin.ops.cli",
        "spoo_export_plugin.auth",
        "spoo_export_plugin.cli",
    ],
)
def test_importing_the_core_loads_no_web_framework_and_no_file_library(module):
    assert _libraries_loaded_by(module) == []


def test_the_web_layer_does_load_falcon():
    """The check above sees a framework when one is loaded."""
    assert _libraries_loaded_by("spoo_export_plugin.web.app") == ["falcon"]


def test_public_names_load_their_layer_on_first_use():
    code = (
        "import sys, spoo_export_plugin as p; loaded = lambda: 'falcon' in sys.modules; "
        "print(loaded(), p.ExportSettings.__module__, loaded(), p.create_app.__module__, loaded())"
    )
    assert _in_a_fresh_interpreter(code).split() == [
        "False",
        "spoo_export_plugin.core.settings",
        "False",
        "spoo_export_plugin.web.app",
        "True",
    ]


def test_star_import_and_dir_give_every_public_name():
    code = "from spoo_export_plugin import *; print(*sorted(name for name in dir() if not name.startswith('_')))"
    public = [name for name in spoo_export_plugin.__all__ if name != "__version__"]
    assert _in_a_fresh_interpreter(code).split() == sorted(public)
    assert set(spoo_export_plugin.__all__) | set(spoo_export_plugin.DOCUMENTED_ALIASES) <= set(dir(spoo_export_plugin))
    with pytest.raises(AttributeError, match="no attribute 'create_ap'"):
        spoo_export_plugin.create_ap  # noqa: B018


def test_type_checkers_see_the_names_the_package_loads():
    """The ``if TYPE_CHECKING:`` imports name each public name from the module ``__getattr__`` loads it from."""
    tree = ast.parse((REPO / "spoo_export_plugin" / "__init__.py").read_text("utf-8"))
    block = next(node for node in tree.body if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING")
    seen = {
        alias.name: "." * node.level + (node.module or "")
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert seen == spoo_export_plugin._PUBLIC
    assert sorted(seen) == sorted(name for name in spoo_export_plugin.__all__ if name != "__version__")
    for name, module in seen.items():
        assert getattr(spoo_export_plugin, name) is getattr(importlib.import_module(module, "spoo_export_plugin"), name)


@pytest.mark.parametrize("old", sorted(spoo_export_plugin.DOCUMENTED_ALIASES))
def test_an_old_module_path_is_the_same_module_object(old):
    new = spoo_export_plugin.DOCUMENTED_ALIASES[old]
    code = (
        f"import sys, spoo_export_plugin.{old}, {new}; import spoo_export_plugin as p; "
        f"print(p.{old} is {new}, sys.modules['spoo_export_plugin.{old}'] is {new})"
    )
    assert _in_a_fresh_interpreter(code) == "True True"
    assert importlib.import_module(f"spoo_export_plugin.{old}") is importlib.import_module(new)
