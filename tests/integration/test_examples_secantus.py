"""The hand-computed examples of ``tests/test_examples.py`` over TCP against SecantusDB."""

from __future__ import annotations

from typing import Any

import pytest

from ..core.test_examples import *  # noqa: F401,F403  (the same tests, collected here again)
from ..core.test_examples import aggregation, env  # noqa: F401  (fixtures, resolved against this module's db)

pytestmark = pytest.mark.integration


@pytest.fixture
def db(mongo_db: Any) -> Any:
    """Every example's database is a fresh one on the SecantusDB server."""
    return mongo_db
