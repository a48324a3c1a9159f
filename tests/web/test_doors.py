"""One core, two doors, byte for byte: every route, format and method, and the error answers, sent to
``create_app`` (WSGI) and ``create_asgi_app`` (ASGI) over the same data give the same status, the
same headers in the same order (names compared case-insensitively; only ``Date`` is left out, a
server's business) and the same body.

The clocks a body or header reads are frozen (``frozen_clock``, tests/web/conftest.py): the report's ``generated_at``
(``Exporter``'s default clock), the wall clock (``time.time``: the rate limit's reset, and the zip
members' dates openpyxl gets from ``zipfile``) and openpyxl's document properties. So the bodies are
compared whole, the zip (csv) included; an xlsx member by member (:func:`assert_same_workbook` says why).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from bson import ObjectId

from spoo_export_plugin import ExportSettings
from spoo_export_plugin.formats import FORMATS, click_formats

from ..doors import DOORS, make_app, open_response
from ..factories import ROUTE, add_url, url_id_for
from ..formats.hostile_data import ALL_DIMENSIONS, seed_hostile_dataset
from ..scenarios import VISITOR_SECRET

ORIGIN = "https://app.example"
RANGE = {"start_date": "2025-03-08", "end_date": "2025-03-10T23:59:59"}
STATISTICS = {**RANGE, "scope": "all", "group_by": ALL_DIMENSIONS, "granularity": "day"}
GENEROUS = {"anonymous_limits": "1000/minute", "authenticated_limits": "1000/minute"}

#: One answer: its status, its headers (lower-cased names, in order, ``date`` left out) and its body.
Answer = tuple[int, list[tuple[str, str]], bytes]


@pytest.fixture
def data(db: Any) -> dict[str, Any]:
    dataset = seed_hostile_dataset(db)
    add_url(db, "private", ObjectId(), created_at=dt.datetime(2025, 3, 1), private_stats=True)
    return {**dataset, "db": db, "link": str(url_id_for("abc", dataset["owner"]))}


def answer(
    app: Any, path: str, query: dict[str, str], headers: dict[str, str], method: str = "GET", body: bytes = b""
) -> Answer:
    """Send one request as a server would, read the whole body, close it."""
    response = open_response(app, path, urlencode(query), headers, method, body)
    try:
        content = b"".join(response)
    finally:
        response.close()
    return response.status, [(k.lower(), v) for k, v in response.header_list if k.lower() != "date"], content


def assert_same_workbook(asgi: bytes, wsgi: bytes) -> None:
    """An xlsx compared member by member: openpyxl writes each worksheet to a temporary file and zips it
    with that file's modification time (the filesystem's clock, which no frozen clock reaches), so two
    workbooks made a second apart differ in those dates. Everything else must match: the members, in
    order, their bytes, how each is stored, and the archive's length."""
    a_zip, w_zip = zipfile.ZipFile(io.BytesIO(asgi)), zipfile.ZipFile(io.BytesIO(wsgi))
    assert a_zip.namelist() == w_zip.namelist()
    for a_info, w_info in zip(a_zip.infolist(), w_zip.infolist(), strict=True):
        assert a_zip.read(a_info) == w_zip.read(w_info), a_info.filename
        stored = ("compress_type", "compress_size", "file_size", "CRC", "external_attr", "extra", "header_offset")
        assert [getattr(a_info, f) for f in stored] == [getattr(w_info, f) for f in stored], a_info.filename
    assert len(asgi) == len(wsgi)


#: A case: what it sends to one door's app (a fresh one per door), given the data; the answers it got.
Case = Callable[[Callable[..., Any], dict[str, Any]], list[Answer]]


def _settings(data: dict[str, Any], **settings: Any) -> ExportSettings:
    """CORS on for every case; raw clicks' visitor ids keyed by a set secret (random per export otherwise)."""
    return ExportSettings(
        database=data["db"], cors_origins=ORIGIN, visitor_id_secret=VISITOR_SECRET, **{**GENEROUS, **settings}
    )


def _get(path: str, method: str, **query: str) -> Case:
    def case(build: Callable[..., Any], data: dict[str, Any]) -> list[Answer]:
        headers = {"Authorization": data["auth"]["Authorization"], "Origin": ORIGIN}
        return [answer(build(_settings(data)), path.format(link=data["link"]), query, headers, method)]

    return case


CASES: dict[str, tuple[Case, tuple[int, ...]]] = {}
for _method in ("GET", "HEAD"):
    for _fmt in sorted(FORMATS):
        CASES[f"statistics-{_fmt}-{_method}"] = (_get(ROUTE, _method, format=_fmt, **STATISTICS), (200,))
        CASES[f"link-{_fmt}-{_method}"] = (_get(ROUTE + "/links/{link}", _method, format=_fmt, **RANGE), (200,))
    for _fmt in sorted(click_formats()):
        CASES[f"clicks-{_fmt}-{_method}"] = (_get(ROUTE + "/clicks", _method, format=_fmt, **RANGE), (200,))
    CASES[f"openapi-{_method}"] = (_get(ROUTE + "/openapi.json", _method), (200,))


def _preflight(path: str) -> Case:
    def case(build: Callable[..., Any], data: dict[str, Any]) -> list[Answer]:
        headers = {
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "Authorization",
        }
        return [answer(build(_settings(data)), path, {}, headers, "OPTIONS")]

    return case


def _plain(path: str, query: dict[str, str], *, auth: str | None = "owner", body: bytes = b"") -> Case:
    """One request; ``auth``: the owner's key, a key nobody has (``"bad"``), or none."""

    def case(build: Callable[..., Any], data: dict[str, Any]) -> list[Answer]:
        headers = {"Origin": ORIGIN}
        if auth == "owner":
            headers["Authorization"] = data["auth"]["Authorization"]
        elif auth == "bad":
            headers["Authorization"] = "Bearer spoo_not-a-key"
        return [answer(build(_settings(data)), path, query, headers, body=body)]

    return case


def _rate_limited(build: Callable[..., Any], data: dict[str, Any]) -> list[Answer]:
    app = build(_settings(data, anonymous_limits="2/minute"))
    query = {**RANGE, "scope": "anon", "short_code": "abc", "format": "json"}
    return [answer(app, ROUTE, query, {"Origin": ORIGIN}) for _ in range(3)]


def _busy(build: Callable[..., Any], data: dict[str, Any]) -> list[Answer]:
    """The only export slot held by a file still being sent: the next export is a 503 with Retry-After."""
    app = build(_settings(data, max_concurrent_exports=1, retry_after_seconds=11))
    query = urlencode({**STATISTICS, "format": "csv"})
    held = open_response(app, ROUTE, query, data["auth"])
    try:
        assert held.status == 200
        return [answer(app, ROUTE, {**STATISTICS, "format": "json"}, {**data["auth"], "Origin": ORIGIN})]
    finally:
        held.close()


def _job_request(
    method: str, path: str, body: bytes = b"", content_type: str = "application/json", auth: bool = True
) -> Case:
    """One request to a job route, jobs on (``immediate://``)."""

    def case(build: Callable[..., Any], data: dict[str, Any]) -> list[Answer]:
        headers = {"Origin": ORIGIN, **({"Content-Type": content_type} if body else {})}
        if auth:
            headers["Authorization"] = data["auth"]["Authorization"]
        app = build(_settings(data, job_queue="immediate://"))
        return [answer(app, path, {}, headers, method, body)]

    return case


def _job_body(url: str) -> bytes:
    return json.dumps({"url": url}).encode()


#: Scheduled reports: jobs on, a loopback webhook allowed (nothing is sent: no slot runs here).
SCHEDULE_SETTINGS = {
    "job_queue": "immediate://",
    "webhook_secret": "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "webhook_allow_http": True,
    "webhook_allow_private": True,
}
SCHEDULES = ROUTE + "/schedules"


def _schedule_body(**fields: Any) -> bytes:
    body = {"url": ROUTE + "?format=csv&period=last_week", "cron": "0 8 * * 1", "timezone": "Europe/Berlin"}
    return json.dumps({**body, "webhook_url": "http://127.0.0.1:9/hook", **fields}).encode()


def _schedule_request(method: str, path: str, body: bytes = b"", *, auth: bool = True, **settings: Any) -> Case:
    """One request to a schedule route (jobs on)."""

    def case(build: Callable[..., Any], data: dict[str, Any]) -> list[Answer]:
        headers = {"Origin": ORIGIN, **({"Content-Type": "application/json"} if body else {})}
        if auth:
            headers["Authorization"] = data["auth"]["Authorization"]
        app = build(_settings(data, **{**SCHEDULE_SETTINGS, **settings}))
        return [answer(app, path, {}, headers, method, body)]

    return case


def _schedule_life(build: Callable[..., Any], data: dict[str, Any]) -> list[Answer]:
    """Create, list, look at, pause, resume, delete, look again. Each door creates its own schedule, so its
    id (in the body and ``Location``) is replaced by ``<id>`` before the answers are compared."""
    app = build(_settings(data, **SCHEDULE_SETTINGS))
    data["db"]["export_schedules"].delete_many({})
    auth = {"Origin": ORIGIN, "Authorization": data["auth"]["Authorization"]}
    json_auth = {**auth, "Content-Type": "application/json"}
    created = answer(app, SCHEDULES, {}, json_auth, "POST", _schedule_body())
    schedule_id = json.loads(created[2])["id"]
    one = f"{SCHEDULES}/{schedule_id}"
    answers = [
        created,
        answer(app, SCHEDULES, {}, auth),
        answer(app, one, {}, auth),
        answer(app, one, {}, json_auth, "PATCH", b'{"paused": true}'),
        answer(app, one, {}, json_auth, "PATCH", b'{"paused": false}'),
        answer(app, one, {}, json_auth, "PATCH", b'{"paused": 1}'),
        answer(app, one, {}, auth, "DELETE"),
        answer(app, one, {}, auth),
    ]

    def anonymous(text: str) -> str:
        return text.replace(schedule_id, "<id>")

    return [
        (status, [(name, anonymous(value)) for name, value in headers], anonymous(body.decode()).encode())
        for status, headers, body in answers
    ]


def _schedule_cap(build: Callable[..., Any], data: dict[str, Any]) -> list[Answer]:
    """The owner's one schedule made, the next is refused (only the refusal is compared: ids differ)."""
    app = build(_settings(data, **SCHEDULE_SETTINGS, max_schedules_per_owner=1))
    data["db"]["export_schedules"].delete_many({})
    headers = {"Origin": ORIGIN, "Authorization": data["auth"]["Authorization"], "Content-Type": "application/json"}
    assert answer(app, SCHEDULES, {}, headers, "POST", _schedule_body())[0] == 201
    return [answer(app, SCHEDULES, {}, headers, "POST", _schedule_body())]


def _schedule_preflight(build: Callable[..., Any], data: dict[str, Any]) -> list[Answer]:
    headers = {
        "Origin": ORIGIN,
        "Access-Control-Request-Method": "PATCH",
        "Access-Control-Request-Headers": "Authorization",
    }
    app = build(_settings(data, **SCHEDULE_SETTINGS))
    return [answer(app, path, {}, headers, "OPTIONS") for path in (SCHEDULES, SCHEDULES + "/650000000000000000000123")]


CASES.update(
    {
        "schedules-life": (_schedule_life, (201, 200, 200, 200, 200, 400, 204, 404)),
        "schedules-400-cron": (_schedule_request("POST", SCHEDULES, _schedule_body(cron="@daily")), (400,)),
        "schedules-400-format": (
            _schedule_request("POST", SCHEDULES, _schedule_body(url=ROUTE + "?format=nope&period=last_week")),
            (400,),
        ),
        "schedules-401": (_schedule_request("POST", SCHEDULES, _schedule_body(), auth=False), (401,)),
        "schedules-404": (_schedule_request("GET", SCHEDULES + "/650000000000000000000123"), (404,)),
        "schedules-413": (_schedule_request("PATCH", SCHEDULES + "/x", b"{" + b" " * 17_000 + b"}"), (413,)),
        "schedules-429-cap": (_schedule_cap, (429,)),
        "preflight-schedules": (_schedule_preflight, (200, 200)),
        "preflight-schedules-off": (_preflight(SCHEDULES), (404,)),  # jobs off: no such route
    }
)

CASES.update(
    {
        "jobs-list": (_job_request("GET", ROUTE + "/jobs"), (200,)),
        "jobs-400-format": (_job_request("POST", ROUTE + "/jobs", _job_body(ROUTE + "?format=nope")), (400,)),
        "jobs-401": (_job_request("POST", ROUTE + "/jobs", _job_body(ROUTE + "?format=csv"), auth=False), (401,)),
        "jobs-413": (_job_request("POST", ROUTE + "/jobs", b"{" + b" " * 17_000 + b"}"), (413,)),
        "jobs-415": (_job_request("POST", ROUTE + "/jobs", _job_body(ROUTE), content_type="text/plain"), (415,)),
        "jobs-404-job": (_job_request("GET", ROUTE + "/jobs/650000000000000000000123"), (404,)),
        "jobs-404-file": (_job_request("GET", ROUTE + "/jobs/650000000000000000000123/file"), (404,)),
        "preflight-jobs-off": (_preflight(ROUTE + "/jobs"), (404,)),  # jobs off: no such route
        "preflight-statistics": (_preflight(ROUTE), (200,)),
        "preflight-clicks": (_preflight(ROUTE + "/clicks"), (200,)),
        "400-format": (_plain(ROUTE, {**STATISTICS, "format": "nope"}), (400,)),
        "400-clicks-group_by": (_plain(ROUTE + "/clicks", {**RANGE, "format": "csv", "group_by": "time"}), (400,)),
        "401-no-credentials": (_plain(ROUTE, {**STATISTICS, "format": "json"}, auth=None), (401,)),
        "401-refused-key": (_plain(ROUTE, {**STATISTICS, "format": "json"}, auth="bad"), (401,)),
        "403-private": (
            _plain(ROUTE, {**RANGE, "scope": "anon", "short_code": "private", "format": "json"}),  # not its owner
            (403,),
        ),
        "404-short_code": (
            _plain(ROUTE, {**RANGE, "scope": "anon", "short_code": "missing", "format": "json"}, auth=None),
            (404,),
        ),
        "404-link": (_plain(ROUTE + "/links/" + str(ObjectId()), RANGE), (404,)),
        "404-route": (_plain(ROUTE + "/nowhere/else", {}), (404,)),
        "413-get-with-body": (_plain(ROUTE, {**STATISTICS, "format": "json"}, body=b"x" * 10), (413,)),
        "429": (_rate_limited, (200, 200, 429)),
        "503-busy": (_busy, (503,)),
    }
)


@pytest.mark.parametrize("name", list(CASES))
def test_both_doors_answer_byte_for_byte(name: str, data: dict[str, Any], frozen_clock: dt.datetime) -> None:
    case, statuses = CASES[name]
    answers = {door: case(lambda settings, door=door: make_app(settings, door), data) for door in DOORS}
    wsgi, asgi = answers["wsgi"], answers["asgi"]
    assert [status for status, _, _ in wsgi] == list(statuses), [body[:300] for _, _, body in wsgi]
    for (w_status, w_headers, w_body), (a_status, a_headers, a_body) in zip(wsgi, asgi, strict=True):
        assert a_status == w_status
        assert a_headers == w_headers
        if w_headers and dict(w_headers).get("content-type") == FORMATS["xlsx"].media_type and w_body:
            assert_same_workbook(a_body, w_body)
        else:
            assert a_body == w_body
    last_headers = dict(wsgi[-1][1])
    if name.startswith(("statistics", "link", "clicks")):
        assert last_headers["content-disposition"] and (name.endswith("HEAD") or wsgi[-1][2])
    if name.startswith("401"):
        assert last_headers["www-authenticate"].startswith("Bearer")
    if name in ("429", "503-busy"):
        assert {"retry-after", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= set(last_headers)
    if name.startswith("4") or name.startswith("5"):
        assert wsgi[-1][2].startswith(b'{"error": ') and b'"param": ' in wsgi[-1][2]
    if name.startswith("preflight"):
        assert last_headers["access-control-allow-origin"] == ORIGIN
