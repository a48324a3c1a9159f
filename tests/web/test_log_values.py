"""The log line's format and scope of a refused request: the registry's formats and the core's
scopes as sent, anything else "invalid" (free text never reaches the log)."""

from __future__ import annotations

import json
import logging
from typing import Any

import falcon.testing
import pytest

from spoo_export_plugin import ExportSettings
from spoo_export_plugin.core.request.params import LINK_SCOPE, SCOPES
from spoo_export_plugin.formats import FORMATS, Format
from spoo_export_plugin.web.observability import safe_choice

from ..doors import make_app
from ..factories import ROUTE

#: HTTP-level: each test runs through both doors (WSGI and ASGI, tests/doors.py).
pytestmark = pytest.mark.usefixtures("door")

#: A request refused before it is parsed into an ExportRequest: the log reads the raw parameters.
REFUSED = {"start_date": "2025-03-31", "end_date": "2025-03-01"}


def logged_refusal(db: Any, caplog: pytest.LogCaptureFixture, **params: str) -> dict[str, Any]:
    client = falcon.testing.TestClient(make_app(ExportSettings(database=db, anonymous_limits="1000/minute")))
    caplog.set_level(logging.INFO, logger="spoo_export_plugin.export")
    caplog.clear()
    resp = client.simulate_get(ROUTE, params={**REFUSED, **params})
    assert resp.status_code == 400, resp.text
    [record] = [json.loads(r.getMessage()) for r in caplog.records if r.name == "spoo_export_plugin.export"]
    return record


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_registered_format_is_logged_by_name(db, caplog, fmt):
    assert logged_refusal(db, caplog, format=fmt, scope="all")["format"] == fmt


def test_a_format_registered_by_the_host_is_logged_by_name(db, caplog, monkeypatch):
    monkeypatch.setitem(FORMATS, "names", Format("names", "text/plain", "txt", lambda report, settings: iter(())))
    assert logged_refusal(db, caplog, format="names")["format"] == "names"
    monkeypatch.delitem(FORMATS, "names")
    assert logged_refusal(db, caplog, format="names")["format"] == "invalid"


@pytest.mark.parametrize("scope", SCOPES)
def test_every_scope_is_logged_by_name(db, caplog, scope):
    assert logged_refusal(db, caplog, format="json", scope=scope)["scope"] == scope


def test_the_link_scope_is_known_and_other_text_is_not():
    assert safe_choice("scope", LINK_SCOPE) == "link"
    for name, value in (("scope", "ALL"), ("scope", "all "), ("format", "JSON"), ("format", "pdf")):
        assert safe_choice(name, value) == "invalid"
    assert safe_choice("format", "") is None and safe_choice("scope", None) is None
