"""The export endpoint end to end over a real MongoDB-protocol server (SecantusDB over TCP)."""

from datetime import datetime

import falcon.testing
import pytest
from bson import ObjectId

from spoo_export_plugin import ExportSettings, create_app

from ..factories import ROUTE, add_api_key, add_url, make_click

pytestmark = pytest.mark.integration


def test_scope_all_over_tcp(mongo_db):
    owner = ObjectId()
    key = add_api_key(mongo_db, owner)
    add_url(mongo_db, "abc", owner, created_at=datetime(2025, 3, 1))
    mongo_db.clicks.insert_many(
        [
            make_click("abc", owner, datetime(2025, 3, 9, 6, 30), ip_address="1.1.1.1"),
            make_click("abc", owner, datetime(2025, 3, 9, 7, 30), ip_address="1.1.1.1", browser="Firefox"),
            make_click("abc", ObjectId(), datetime(2025, 3, 9, 7, 30)),  # someone else's click
        ]
    )
    client = falcon.testing.TestClient(create_app(ExportSettings(database=mongo_db)))
    resp = client.simulate_get(
        ROUTE,
        params={
            "format": "json",
            "scope": "all",
            "start_date": "2025-03-08",
            "end_date": "2025-03-10",
            "group_by": "time,browser",
            "granularity": "day",
        },
        headers={"Authorization": f"Bearer {key}"},
    )
    assert resp.status_code == 200, resp.text
    body = resp.json
    assert body["summary"]["total_clicks"] == 2
    assert body["summary"]["unique_clicks"] == 1
    assert body["breakdowns"]["time"] == [
        {"time": "2025-03-08", "clicks": 0, "unique_clicks": 0},
        {"time": "2025-03-09", "clicks": 2, "unique_clicks": 1},
        {"time": "2025-03-10", "clicks": 0, "unique_clicks": 0},
    ]
    assert body["breakdowns"]["browser"] == [
        {"browser": "Chrome", "clicks": 1, "unique_clicks": 1},
        {"browser": "Firefox", "clicks": 1, "unique_clicks": 1},
    ]
