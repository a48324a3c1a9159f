"""A WSGI app for the render-budget test under a real server: ``gunicorn tests.apps.render_budget_app:app``.

Click data in mongomock (one owner, 200 clicks over 3 days, the API key ``spoo_`` +
``$RENDER_BUDGET_APP_SECRET``); settings from ``SPOO_EXPORT_*`` variables. Not for importing into
the test process: it replaces the budgets' clock for the whole process. The budgets' clock ticks one
second per reading (as in
tests/web/test_render_budget.py), so whether a file passes ``render_time_ms`` depends on how
often it is looked at, never on this machine's speed. The plugin's log lines go to stderr.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import sys
from datetime import datetime, timedelta

import mongomock
from bson import ObjectId

from spoo_export_plugin import ExportSettings, create_app
from spoo_export_plugin.core.report import timebudget
from tests.factories import add_url, make_click

OWNER = ObjectId("650000000000000000000077")
_ticks = itertools.count()
timebudget.monotonic = lambda: float(next(_ticks))

_db = mongomock.MongoClient().get_database("spoo")
add_url(_db, "abc", OWNER, created_at=datetime(2025, 1, 1))
_db.clicks.insert_many(
    [
        make_click(
            "abc",
            OWNER,
            datetime(2025, 3, 1) + timedelta(minutes=20 * i),
            city=f"City {i}",
            referrer=f"https://r{i}.example/",
        )
        for i in range(200)
    ]
)
_secret = os.environ["RENDER_BUDGET_APP_SECRET"]
_db["api-keys"].insert_one(
    {
        "user_id": OWNER,
        "token_hash": hashlib.sha256(_secret.encode()).hexdigest(),
        "scopes": ["stats:read"],
        "revoked": False,
    }
)

logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(name)s %(message)s")
app = create_app(ExportSettings.from_env(database=_db, authenticated_limits="1000/minute"))
