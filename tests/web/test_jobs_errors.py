"""What a job submission refuses, through both doors: the GET's own errors for the GET it names
(the same status and body), the URL, the body (type, size, shape), the rate limit and the cap;
never a 500."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import urlencode

import falcon.testing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ..doors import ASGIResponse, WSGIResponse, is_asgi, make_app, open_response
from ..factories import ROUTE
from .jobs_support import JOBS, RANGE, STATISTICS, WEBHOOK_SECRET, get_path, job_settings, jobs_client, seed, submit

#: HTTP-level: each test runs through both doors (WSGI and ASGI, tests/doors.py).
pytestmark = pytest.mark.usefixtures("door")


@pytest.fixture
def data(db: Any) -> dict[str, Any]:
    return seed(db)


#: A GET the job names, the credentials sent (the owner's, a key nobody has), and the status both answer.
SAME_AS_GET = {
    "400-format": ("statistics", {**STATISTICS, "format": "nope"}, "owner", 400),
    "400-timezone": ("statistics", {**STATISTICS, "format": "csv", "timezone": "Nowhere/Land"}, "owner", 400),
    "400-clicks-group_by": ("clicks", {**RANGE, "format": "csv", "group_by": "time"}, "owner", 400),
    "400-link-scope": ("link", {**RANGE, "format": "csv", "scope": "anon"}, "owner", 400),
    "400-period-and-dates": ("clicks", {**RANGE, "format": "csv", "period": "today"}, "owner", 400),
    "401-refused-key": ("statistics", {**STATISTICS, "format": "json"}, "bad", 401),
    "403-private": ("statistics", {**RANGE, "scope": "anon", "short_code": "private", "format": "json"}, "owner", 403),
    "403-clicks-not-yours": (
        "clicks",
        {**RANGE, "scope": "anon", "short_code": "private", "format": "csv"},
        "owner",
        403,
    ),
    "404-short_code": (
        "statistics",
        {**RANGE, "scope": "anon", "short_code": "missing", "format": "json"},
        "owner",
        404,
    ),
}


def credentials(data: dict[str, Any], who: str) -> dict[str, str]:
    return data["auth"] if who == "owner" else {"Authorization": "Bearer spoo_not-a-key"}


@pytest.mark.parametrize("name", list(SAME_AS_GET))
def test_the_gets_errors_exactly(name, data):
    kind, query, who, status = SAME_AS_GET[name]
    client = jobs_client(job_settings(data["db"]))
    url = get_path(kind, data, query)
    path, _, query_string = url.partition("?")
    get = client.simulate_get(path, query_string=query_string, headers=credentials(data, who))
    posted = submit(client, url, credentials(data, who))
    assert get.status_code == posted.status_code == status, posted.text
    assert posted.json == get.json
    assert posted.headers.get("www-authenticate") == get.headers.get("www-authenticate")
    assert client.simulate_get(JOBS, headers=data["auth"]).json == {"jobs": []}  # nothing was queued


def test_an_unknown_link_is_the_gets_404(data):
    client = jobs_client(job_settings(data["db"]))
    url = f"{ROUTE}/links/650000000000000000000999?format=csv"
    posted = submit(client, url, data["auth"])
    get = client.simulate_get(
        f"{ROUTE}/links/650000000000000000000999", query_string="format=csv", headers=data["auth"]
    )
    assert (posted.status_code, posted.json) == (get.status_code, get.json) == (404, get.json)


def test_no_credentials_is_401_whatever_the_get_would_say(data):
    client = jobs_client(job_settings(data["db"]))
    public = get_path("statistics", data, {**RANGE, "scope": "anon", "short_code": "abc", "format": "csv"})
    for body in ({"url": public}, {"nothing": True}):  # credentials are checked before the body
        refused = client.simulate_post(JOBS, json=body)
        assert refused.status_code == 401 and refused.json["param"] == "Authorization"
        assert refused.headers["www-authenticate"] == "Bearer"
        assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= set(refused.headers)


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/api/v1/export?format=csv",
        "//evil.example/api/v1/export",
        "/elsewhere?format=csv",
        ROUTE + "/openapi.json",
        ROUTE + "/jobs",
        ROUTE + "/links/a/b?format=csv",
        "",
        12,
        ["x"],
        {"a": 1},
        True,
    ],
)
def test_a_url_that_is_no_export_get_is_400_naming_url(data, url):
    refused = submit(jobs_client(job_settings(data["db"])), url, data["auth"])
    assert (refused.status_code, refused.json["param"]) == (400, "url"), refused.text


def test_webhook_url_is_checked_at_submission(data):
    pytest.importorskip("spoo_export_plugin.jobs.webhooks", reason="the webhooks helper's branch (jobs-hooks)")
    url = get_path("clicks", data, {**RANGE, "format": "csv"})
    without_secret = jobs_client(job_settings(data["db"]))
    refused = submit(without_secret, url, data["auth"], webhook_url="https://hooks.example/x")
    assert (refused.status_code, refused.json["param"]) == (400, "webhook_url")
    with_secret = jobs_client(job_settings(data["db"], webhook_secret=WEBHOOK_SECRET))
    for target in ("http://hooks.example/x", "https://127.0.0.1/x", "https://10.0.0.1/x", 7):
        refused = submit(with_secret, url, data["auth"], webhook_url=target)
        assert (refused.status_code, refused.json["param"]) == (400, "webhook_url"), target


VALID = json.dumps({"url": ROUTE + "/clicks?format=csv"}).encode()
BODIES = {
    "not-json": (b"url=/api/v1/export", "application/json", 400, "body"),
    "an-array": (b'["/api/v1/export/clicks?format=csv"]', "application/json", 400, "body"),
    "a-string": (b'"/api/v1/export/clicks?format=csv"', "application/json", 400, "body"),
    "empty": (b"", "application/json", 400, "body"),
    "not-utf8": (b'{"url": "\xff"}', "application/json", 400, "body"),
    "unknown-key": (b'{"url": "/api/v1/export/clicks?format=csv", "when": 1}', "application/json", 400, "body"),
    "key-twice": (b'{"url": "/x", "url": "/api/v1/export/clicks?format=csv"}', "application/json", 400, "body"),
    "deep": (b"[" * 8_000 + b"]" * 8_000, "application/json", 400, "body"),
    "deep-object": (b'{"url": ' + b'{"a": ' * 2_000 + b"1" + b"}" * 2_001, "application/json", 400, "body"),
    "no-url": (b'{"webhook_url": null}', "application/json", 400, "url"),
    "null-url": (b'{"url": null}', "application/json", 400, "url"),
    "text-plain": (VALID, "text/plain", 415, "body"),
    "form": (b"url=%2Fapi%2Fv1%2Fexport%2Fclicks%3Fformat%3Dcsv", "application/x-www-form-urlencoded", 415, "body"),
    "no-type": (VALID, None, 415, "body"),
    "json-like-type": (VALID, "application/jsonx", 415, "body"),
    "too-large": (b'{"url": "' + b"a" * 16_400 + b'"}', "application/json", 413, "body"),
    "charset": (VALID, "Application/JSON; charset=utf-8", 202, None),
    "webhook-null": (
        b'{"url": "/api/v1/export/clicks?format=csv", "webhook_url": null}',
        "application/json",
        202,
        None,
    ),
}


@pytest.mark.parametrize("name", list(BODIES))
def test_bodies(name, data):
    body, content_type, status, param = BODIES[name]
    client = jobs_client(job_settings(data["db"]))
    headers = {**data["auth"], **({"Content-Type": content_type} if content_type else {})}
    answer = client.simulate_post(JOBS, body=body, headers=headers)
    assert answer.status_code == status, answer.text
    if status != 202:
        assert answer.json["param"] == param and answer.json["error"]


def test_a_body_of_unknown_length(data, door):
    """Chunked: the ASGI door reads at most 16 KiB + 1 of it; a WSGI server that does not mark the body's
    end (``wsgi.input_terminated``) cannot bound it: 411, and it is read when the server does."""
    app = make_app(job_settings(data["db"]))
    headers = {**data["auth"], "Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    if is_asgi(app):
        for body, status in ((VALID, 202), (b" " * 20_000 + VALID, 413)):
            scope = falcon.testing.create_scope(JOBS, method="POST", headers=headers)
            answer = ASGIResponse(app, scope, body)
            b"".join(answer)
            assert answer.status == status
        return
    for terminated, status in ((False, 411), (True, 202)):
        environ = falcon.testing.create_environ(JOBS, method="POST", headers=headers, body=VALID)
        del environ["CONTENT_LENGTH"]
        if terminated:
            environ["wsgi.input_terminated"] = True
        answer = open_response_from_environ(app, environ)
        assert answer.status == status


@pytest.mark.doors("asgi")
def test_a_body_that_stops_arriving_is_408_in_the_asgi_door(data, door):
    """The read waits on the event loop (no thread), but not for ever: ``send_timeout_seconds`` in all."""
    app = make_app(job_settings(data["db"], send_timeout_seconds=1))
    headers = {**data["auth"], "Content-Type": "application/json"}
    scope = falcon.testing.create_scope(JOBS, method="POST", headers=headers, content_length=100)
    parts = [{"type": "http.request", "body": b'{"url": ', "more_body": True}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if parts:
            return parts.pop()
        await asyncio.sleep(3600)  # the client stopped sending
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    started = time.monotonic()
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 408 and time.monotonic() - started < 10
    assert json.loads(b"".join(m.get("body", b"") for m in sent[1:]))["param"] == "body"


def open_response_from_environ(app: Any, environ: dict[str, Any]) -> Any:
    answer = WSGIResponse(app, environ)
    b"".join(answer)
    return answer


def test_a_get_or_head_with_a_body_is_refused_on_the_job_routes(data):
    client = jobs_client(job_settings(data["db"]))
    for method in ("GET", "HEAD"):
        for path in (JOBS, JOBS + "/650000000000000000000123", JOBS + "/650000000000000000000123/file"):
            refused = client.simulate_request(
                method, path, headers={**data["auth"], "Content-Length": "5"}, body=b"12345"
            )
            assert refused.status_code == 413, (method, path)


def test_the_submission_counts_like_the_get_and_polls_do_not(data):
    client = jobs_client(job_settings(data["db"], authenticated_limits="3/minute"))
    url = get_path("clicks", data, {**RANGE, "format": "csv"})
    path, _, query = url.partition("?")
    assert client.simulate_get(path, query_string=query, headers=data["auth"]).status_code == 200
    job = submit(client, url, data["auth"])
    assert job.status_code == 202 and job.headers["x-ratelimit-remaining"] == "1"
    for _ in range(5):  # polls: free, and say nothing of a budget they do not use
        polled = client.simulate_get(f"{JOBS}/{job.json['id']}", headers=data["auth"])
        assert polled.status_code == 200 and "x-ratelimit-remaining" not in polled.headers
    downloaded = client.simulate_get(f"{JOBS}/{job.json['id']}/file", headers=data["auth"])
    assert downloaded.status_code == 200 and downloaded.headers["x-ratelimit-remaining"] == "0"
    for refused in (
        submit(client, url, data["auth"]),
        client.simulate_get(f"{JOBS}/{job.json['id']}/file", headers=data["auth"]),
    ):
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert client.simulate_get(JOBS, headers=data["auth"]).status_code == 200


def test_token_downloads_and_refused_credentials_count_against_the_ip(data):
    client = jobs_client(job_settings(data["db"], anonymous_limits="2/minute"))
    job = submit(client, get_path("clicks", data, {**RANGE, "format": "csv"}), data["auth"]).json
    path, _, query = job["file_url"].partition("?")
    assert [client.simulate_get(path, query_string=query).status_code for _ in range(3)] == [200, 200, 429]
    other_ip = {"Authorization": "Bearer spoo_not-a-key"}
    fresh = jobs_client(job_settings(data["db"], anonymous_limits="2/minute"))
    assert [fresh.simulate_get(JOBS, headers=other_ip).status_code for _ in range(3)] == [401, 401, 429]


def test_the_cap_of_queued_jobs_and_a_job_not_done_yet(data, tmp_path):
    """A real queue with no worker (sqlite): the jobs stay queued; the fourth is a 429, its file a 409."""
    client = jobs_client(job_settings(data["db"], job_queue=f"sqlite:///{tmp_path}/jobs.db", max_jobs_per_owner=3))
    url = get_path("clicks", data, {**RANGE, "format": "csv"})
    jobs = [submit(client, url, data["auth"]) for _ in range(3)]
    assert [(j.status_code, j.json["status"], j.json["file_url"]) for j in jobs] == [(202, "queued", None)] * 3
    capped = submit(client, url, data["auth"])
    assert capped.status_code == 429 and capped.json["error"] and capped.json["param"] is None
    assert submit(client, url, data["other_auth"]).status_code == 202  # the cap is per owner
    waiting = client.simulate_get(f"{JOBS}/{jobs[0].json['id']}/file", headers=data["auth"])
    assert waiting.status_code == 409 and waiting.json["error"]
    assert client.simulate_delete(f"{JOBS}/{jobs[0].json['id']}", headers=data["auth"]).status_code == 204
    assert submit(client, url, data["auth"]).status_code == 202  # cancelling freed a place


def test_immediate_jobs_take_an_export_slot(data):
    app = make_app(job_settings(data["db"], max_concurrent_exports=1, retry_after_seconds=7))
    client = falcon.testing.TestClient(app)
    url = get_path("clicks", data, {**RANGE, "format": "csv"})
    held = open_response(app, ROUTE + "/clicks", urlencode({**RANGE, "format": "csv"}), data["auth"])
    try:
        busy = submit(client, url, data["auth"])
        assert (busy.status_code, busy.headers["retry-after"]) == (503, "7")
        bad = submit(client, get_path("clicks", data, {**RANGE, "format": "pdf"}), data["auth"])
        assert (bad.status_code, bad.json["param"]) == (400, "format")  # its own 400 first, never a busy 503
        listed = client.simulate_get(JOBS, headers=data["auth"])
        assert listed.json == {"jobs": []}  # the refused submission left no job waiting for a run
    finally:
        held.close()
    assert submit(client, url, data["auth"]).status_code == 202  # and gives it back


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["url", "webhook_url", "x"]), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(st.binary(max_size=64), JSON_VALUES.map(lambda v: json.dumps(v).encode())))
def test_no_body_is_a_server_error(data, body):
    client = jobs_client(job_settings(data["db"]))
    answer = client.simulate_post(JOBS, body=body, headers={**data["auth"], "Content-Type": "application/json"})
    assert answer.status_code in (202, 400, 404), (body, answer.text)
    assert answer.status_code == 202 or set(answer.json) == {"error", "param"}
