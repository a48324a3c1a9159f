"""The hand-computed examples' owners and client: ``tests/core/test_examples.py`` on mongomock, run
again over TCP by ``tests/integration/test_examples_secantus.py``; the ``example_env`` fixture
(``tests/conftest.py``) makes the client."""

from __future__ import annotations

from typing import Any

from bson import ObjectId

from .factories import ROUTE, add_api_key
from .scenarios import make_client

OWNER = ObjectId("650000000000000000000003")
OTHER = ObjectId("650000000000000000000004")


class ExampleClient:
    """The real app over ``db`` with one executor, asked with OWNER's API key or anonymously."""

    def __init__(self, db: Any, aggregation: str) -> None:
        self.key = add_api_key(db, OWNER)
        self.client = make_client(db, aggregation=aggregation)

    def get(self, anon: bool = False, **params: Any) -> dict[str, Any]:
        params.setdefault("format", "json")
        params.setdefault("scope", "anon" if anon else "all")
        headers = {} if anon else {"Authorization": f"Bearer {self.key}"}
        resp = self.client.simulate_get(ROUTE, params=params, headers=headers)
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"] == "application/json"
        return resp.json

    def error(self, status: int, **params: Any) -> dict[str, Any]:
        params.setdefault("format", "json")
        params.setdefault("scope", "all")
        resp = self.client.simulate_get(ROUTE, params=params, headers={"Authorization": f"Bearer {self.key}"})
        assert resp.status_code == status, resp.text
        assert resp.headers["content-type"] == "application/json"
        return resp.json
