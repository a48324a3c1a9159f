"""The gunicorn range the package allows is the range CI runs the worker on.

``ops/worker.py`` overrides gthread internals (docs/architecture.md#the-gunicorn-worker), so
the extras promise only what is tested: tox's ``py`` env gets the newest release they allow,
``gunicorn-oldest`` the oldest, and the README's test command runs both.
"""

from __future__ import annotations

import configparser
from pathlib import Path

import gunicorn
import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]


def gunicorn_requirements() -> dict[str, str]:
    """Each extra's gunicorn requirement, by extra."""
    tomllib = pytest.importorskip("tomllib", reason="tomllib is Python 3.11+")
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    return {extra: req for extra, reqs in extras.items() for req in reqs if req.startswith("gunicorn")}


def pinned_range() -> SpecifierSet:
    return SpecifierSet(gunicorn_requirements()["server"].removeprefix("gunicorn"))


def tox_ini() -> configparser.ConfigParser:
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini")
    return tox


def test_every_extra_that_installs_gunicorn_pins_the_same_bounded_range():
    requirements = gunicorn_requirements()
    assert set(requirements) == {"server", "demo", "test"}, requirements
    assert len(set(requirements.values())) == 1, requirements
    assert {spec.operator for spec in pinned_range()} == {">=", "<"}, requirements  # an oldest and a ceiling


def test_ci_runs_the_worker_on_the_oldest_release_the_range_allows():
    tox = tox_ini()
    oldest = tox["gunicorn"]["oldest"]
    lower = next(spec.version for spec in pinned_range() if spec.operator == ">=")
    assert Version(oldest) == Version(lower), (oldest, lower)
    assert "gunicorn-oldest" in tox["tox"]["envlist"]
    env = tox["testenv:gunicorn-oldest"]
    assert env["deps"].strip() == "gunicorn=={[gunicorn]oldest}"
    for worker_tests in ("test_worker.py", "test_slow_clients.py", "test_hostile_clients.py"):
        assert f"tests/ops/{worker_tests}" in env["commands"]


def test_the_gunicorn_installed_here_is_in_the_range():
    assert Version(gunicorn.__version__) in pinned_range(), (gunicorn.__version__, str(pinned_range()))


def test_the_readme_and_ci_run_both_envs():
    command = "tox -e py,gunicorn-oldest"
    assert command in (ROOT / "README.md").read_text(encoding="utf-8")
    assert command in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert command in (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
