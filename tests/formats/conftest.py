"""Fixtures shared by the format tests."""

from __future__ import annotations

from typing import Any

import pytest

from .hostile_data import seed_hostile_dataset


@pytest.fixture
def dataset(db: Any) -> dict[str, Any]:
    """The hostile cities' clicks in ``db``: ``owner``, ``auth`` (its API key's header) and ``clicks``."""
    return seed_hostile_dataset(db)
