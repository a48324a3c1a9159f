"""A host's subclass of ExportResource: its own responders run behind the same hooks.

The hooks are applied to the class (and, through ``__init_subclass__``, to each subclass's own
responders), so a new route written without a thought for credentials still refuses a bad key
after counting it, and an override that calls its base's counts and renders once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import falcon
import falcon.testing
import pytest
from bson import ObjectId

from spoo_export_plugin import ExportResource, ExportSettings
from spoo_export_plugin.web import errors
from spoo_export_plugin.web.guard import ExportGuard

from ..factories import ROUTE, add_api_key, add_url, make_click

OWNER = ObjectId()
EXTRA = ROUTE + "/extra"
IP = "203.0.113.9"
REFUSED = 'Bearer error="invalid_token"'


class WithExtraRoute(ExportResource):
    """A host's extra route: it reads who the caller is and never mentions ``auth_error``."""

    def on_get_extra(self, req: falcon.Request, resp: falcon.Response) -> None:
        owner = req.context.owner_id
        resp.media = {"owner": None if owner is None else str(owner)}


class WithOverride(ExportResource):
    """A host's override of the main route that calls the base's responder."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        super().on_get(req, resp)
        resp.set_header("X-Host", "seen")


def host_app(resource_class: type, db: Any, **limits: str) -> falcon.testing.TestClient:
    """The resource mounted by a Falcon host, as docs/api.md describes (guard and error handlers)."""
    settings = ExportSettings(
        database=db, **{"anonymous_limits": "100/minute", "authenticated_limits": "100/minute", **limits}
    )
    app = falcon.App(middleware=[ExportGuard(settings)])
    errors.install(app)
    resource = resource_class(settings)
    app.add_route(ROUTE, resource)
    if hasattr(resource, "on_get_extra"):
        app.add_route(EXTRA, resource, suffix="extra")
    return falcon.testing.TestClient(app)


@pytest.fixture
def key(db: Any) -> str:
    return add_api_key(db, OWNER)


def remaining(resp: Any) -> int:
    return int(resp.headers["x-ratelimit-remaining"])


def test_a_new_responder_refuses_a_bad_key_and_counts_it_against_the_ip(db, key):
    client = host_app(WithExtraRoute, db, anonymous_limits="2/minute")
    refused = [
        client.simulate_get(EXTRA, headers={"Authorization": "Bearer spoo_nope"}, remote_addr=IP) for _ in range(2)
    ]
    for number, resp in enumerate(refused):
        assert resp.status_code == 401, resp.text
        assert resp.headers["www-authenticate"] == REFUSED
        assert resp.json == {"error": resp.json["error"], "param": "Authorization"}
        assert remaining(resp) == 1 - number  # the IP's anonymous budget, spent by the refusals
    assert client.simulate_get(EXTRA, remote_addr=IP).status_code == 429  # and now spent
    assert client.simulate_get(EXTRA, remote_addr="203.0.113.10").json == {"owner": None}
    served = client.simulate_get(EXTRA, headers={"Authorization": f"Bearer {key}"}, remote_addr=IP)
    assert served.status_code == 200 and served.json == {"owner": str(OWNER)}
    assert remaining(served) == 99  # the owner's own tier


def test_a_new_get_responder_answers_head_behind_the_same_hooks(db, key):
    client = host_app(WithExtraRoute, db)
    refused = client.simulate_head(EXTRA, headers={"Authorization": "Bearer spoo_nope"}, remote_addr=IP)
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == REFUSED
    head = client.simulate_head(EXTRA, headers={"Authorization": f"Bearer {key}"}, remote_addr=IP)
    assert head.status_code == 200 and head.content == b""
    assert remaining(head) == 99


def test_an_override_calling_its_base_counts_and_renders_once(db, key):
    add_url(db, "abc", OWNER, created_at=datetime(2025, 3, 1))
    db.clicks.insert_many([make_click("abc", OWNER, datetime(2025, 3, 9, 12, minute)) for minute in range(3)])
    client = host_app(WithOverride, db)
    params = {"format": "json", "scope": "all", "start_date": "2025-03-01", "end_date": "2025-03-31"}
    headers = {"Authorization": f"Bearer {key}"}
    first = client.simulate_get(ROUTE, params=params, headers=headers, remote_addr=IP)
    assert first.status_code == 200, first.text
    assert first.headers["x-host"] == "seen" and first.json["summary"]["total_clicks"] == 3
    second = client.simulate_get(ROUTE, params=params, headers=headers, remote_addr=IP)
    assert (remaining(first), remaining(second)) == (99, 98)  # one count per request, not two
    refused = client.simulate_get(ROUTE, params=params, headers={"Authorization": "Bearer spoo_nope"}, remote_addr=IP)
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == REFUSED
    assert "x-host" not in refused.headers  # the override never ran for a refused caller
    assert remaining(refused) == 99  # the IP's anonymous tier


def test_the_base_routes_keep_their_hooks_in_a_subclass(db):
    client = host_app(WithExtraRoute, db)
    resp = client.simulate_get(
        ROUTE, params={"format": "json", "scope": "all"}, headers={"Authorization": "Bearer spoo_nope"}, remote_addr=IP
    )
    assert resp.status_code == 401 and resp.headers["www-authenticate"] == REFUSED
    assert remaining(resp) == 99
