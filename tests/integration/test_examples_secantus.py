"""The hand-computed examples of ``tests/core/test_examples.py`` over TCP against SecantusDB.

Their fixtures (``example_env``, ``aggregation``) are the shared ones of ``tests/conftest.py``; the
``db`` below makes them use the server."""

from __future__ import annotations

from typing import Any

import pytest

from ..core.test_examples import *  # noqa: F403  (the same tests, collected here again, against this db)

#: Over TCP once: the doors are compared on mongomock (tests/core/test_examples.py, tests/web/test_doors.py).
pytestmark = [pytest.mark.integration, pytest.mark.doors("wsgi")]


@pytest.fixture
def db(mongo_db: Any) -> Any:
    """Every example's database is a fresh one on the SecantusDB server."""
    return mongo_db
