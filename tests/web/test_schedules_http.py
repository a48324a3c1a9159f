"""Scheduled reports over HTTP, through both doors: create (201, Location, the object), list, look at,
pause and resume, delete; owner only; the cap; every bad value a 400 naming its field, and a url
the GET would refuse refused now with the GET's own error."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest

from ..factories import ROUTE
from .jobs_support import jobs_client, seed
from .schedules_support import (
    BODY,
    CREATED,
    HOOK,
    SCHEDULES,
    WEEKLY_URL,
    create,
    schedule_settings,
    set_schedule_clock,
)

#: HTTP-level: each test runs through both doors (WSGI and ASGI, tests/doors.py).
pytestmark = pytest.mark.usefixtures("door")

UNKNOWN_ID = "650000000000000000000123"


@pytest.fixture
def data(db: Any) -> dict[str, Any]:
    return seed(db)


@pytest.fixture
def client(data: dict[str, Any]) -> Any:
    client = jobs_client(schedule_settings(data["db"]))
    set_schedule_clock(client, lambda: CREATED)
    return client


def test_create_answers_201_with_location_and_the_schedule(client, data):
    created = create(client, data["auth"], timezone="europe/berlin", email=["Team@Example.com", "team@example.com"])
    assert created.status_code == 201, created.text
    assert created.headers["content-type"] == "application/json"
    assert created.headers["cache-control"] == "private, no-store"
    schedule = created.json
    assert created.headers["location"] == f"{SCHEDULES}/{schedule['id']}"
    assert schedule == {
        "id": schedule["id"],
        "url": WEEKLY_URL,
        "cron": "0 8 * * 1",
        "timezone": "Europe/Berlin",  # as the tz database spells it
        "webhook_url": HOOK,
        "email": ["Team@Example.com"],  # a duplicate (ignoring case) dropped
        "paused": False,
        "next_run_at": "2026-02-09T07:00:00Z",  # Monday 08:00 CET
        "last_run_at": None,
        "last_error": None,
    }


def test_list_look_at_pause_resume_and_delete(client, data):
    first = create(client, data["auth"]).json
    second = create(client, data["auth"], cron="30 6 * * *", webhook_url=None, email=["a@example.com"]).json
    listed = client.simulate_get(SCHEDULES, headers=data["auth"])
    assert listed.status_code == 200 and listed.headers["cache-control"] == "private, no-store"
    assert listed.json == {"schedules": [second, first]}  # newest first
    one = client.simulate_get(f"{SCHEDULES}/{first['id']}", headers=data["auth"])
    assert (one.status_code, one.json, one.headers["content-type"]) == (200, first, "application/json")

    paused = client.simulate_patch(f"{SCHEDULES}/{first['id']}", json={"paused": True}, headers=data["auth"])
    assert paused.status_code == 200 and paused.json == {**first, "paused": True, "next_run_at": None}
    again = client.simulate_patch(f"{SCHEDULES}/{first['id']}", json={"paused": True}, headers=data["auth"])
    assert again.json == paused.json
    set_schedule_clock(client, lambda: CREATED.replace(day=10))  # resumed after Monday's slot: next Monday
    resumed = client.simulate_patch(f"{SCHEDULES}/{first['id']}", json={"paused": False}, headers=data["auth"])
    assert resumed.json == {**first, "next_run_at": "2026-02-16T07:00:00Z"}

    deleted = client.simulate_delete(f"{SCHEDULES}/{first['id']}", headers=data["auth"])
    assert deleted.status_code == 204 and deleted.content == b""
    assert client.simulate_get(f"{SCHEDULES}/{first['id']}", headers=data["auth"]).status_code == 404
    assert client.simulate_delete(f"{SCHEDULES}/{first['id']}", headers=data["auth"]).status_code == 404
    assert client.simulate_get(SCHEDULES, headers=data["auth"]).json == {"schedules": [second]}


def test_created_paused_has_no_next_run(client, data):
    created = create(client, data["auth"], paused=True)
    assert created.status_code == 201 and (created.json["paused"], created.json["next_run_at"]) == (True, None)


def test_owner_only(client, data):
    """Anonymous callers are 401 everywhere; another owner's schedule is the same 404 as none, and stays."""
    schedule = create(client, data["auth"]).json
    one = f"{SCHEDULES}/{schedule['id']}"
    for method, path, body in [
        ("POST", SCHEDULES, BODY),
        ("GET", SCHEDULES, None),
        ("GET", one, None),
        ("PATCH", one, {"paused": True}),
        ("DELETE", one, None),
    ]:
        for headers in (None, {"Authorization": "Bearer spoo_unknown"}):
            answer = client.simulate_request(method, path, json=body, headers=headers)
            assert (answer.status_code, answer.json["param"]) == (401, "Authorization"), (method, path)
    other = data["other_auth"]
    assert client.simulate_get(SCHEDULES, headers=other).json == {"schedules": []}
    for path in (one, f"{SCHEDULES}/{UNKNOWN_ID}", f"{SCHEDULES}/not-an-id"):
        for method, body in (("GET", None), ("PATCH", {"paused": True}), ("DELETE", None)):
            answer = client.simulate_request(method, path, json=body, headers=other)
            assert (answer.status_code, answer.json) == (404, {"error": "no such schedule", "param": None}), path
    assert client.simulate_get(one, headers=data["auth"]).json == schedule  # untouched by the other owner


def test_the_cap_is_429(data):
    client = jobs_client(schedule_settings(data["db"], max_schedules_per_owner=2))
    assert [create(client, data["auth"]).status_code for _ in range(2)] == [201, 201]
    refused = create(client, data["auth"])
    assert refused.status_code == 429 and refused.json["param"] is None and "at most 2" in refused.json["error"]
    assert len(client.simulate_get(SCHEDULES, headers=data["auth"]).json["schedules"]) == 2
    assert create(client, data["other_auth"]).status_code == 201  # the cap is per owner


def get_url(**query: str) -> str:
    return f"{ROUTE}?{urlencode(query)}"


#: name -> (fields changed in BODY, the param the 400 names).
BAD_FIELDS: dict[str, tuple[dict[str, Any], str]] = {
    "url-missing": ({"url": ...}, "url"),
    "url-not-a-string": ({"url": 5}, "url"),
    "url-not-an-export-route": ({"url": "/elsewhere?period=last_week&format=csv"}, "url"),
    "url-absolute-elsewhere": ({"url": "https://evil.example/api/v1/export?format=csv&period=last_week"}, "url"),
    "url-without-period": ({"url": get_url(format="csv")}, "url"),
    "url-with-start-date": ({"url": get_url(format="csv", period="last_week", start_date="2025-01-01")}, "url"),
    "url-with-end-date": ({"url": get_url(format="csv", period="last_week", end_date="2025-01-01")}, "url"),
    "url-too-long": ({"url": WEEKLY_URL + "&x=" + "a" * 5_000}, "url"),
    # The GET's own checks, with its own param:
    "url-format": ({"url": get_url(format="pdf", period="last_week")}, "format"),
    "url-period": ({"url": get_url(format="csv", period="last_fortnight")}, "period"),
    "url-group-by": ({"url": get_url(format="csv", period="last_week", group_by="shoe_size")}, "group_by"),
    "url-anon-without-short-code": ({"url": get_url(format="csv", period="last_week", scope="anon")}, "short_code"),
    "cron-missing": ({"cron": ...}, "cron"),
    "cron-six-fields": ({"cron": "0 0 8 * * 1"}, "cron"),
    "cron-at-form": ({"cron": "@daily"}, "cron"),
    "cron-out-of-range": ({"cron": "61 8 * * *"}, "cron"),
    "cron-not-a-string": ({"cron": 8}, "cron"),
    "timezone-missing": ({"timezone": ...}, "timezone"),
    "timezone-unknown": ({"timezone": "Mars/Olympus"}, "timezone"),
    "timezone-not-a-string": ({"timezone": ["UTC"]}, "timezone"),
    "webhook-not-a-string": ({"webhook_url": 1}, "webhook_url"),
    "webhook-not-a-url": ({"webhook_url": "not a url"}, "webhook_url"),
    "webhook-credentials": ({"webhook_url": "http://user:pw@127.0.0.1:9/x"}, "webhook_url"),
    "nowhere-to-deliver": ({"webhook_url": None}, "webhook_url"),
    "email-not-a-list": ({"email": "team@example.com"}, "email"),
    "email-bad-address": ({"email": ["not an address"]}, "email"),
    "email-not-strings": ({"email": [1]}, "email"),
    "email-too-many": ({"email": [f"u{n}@example.com" for n in range(11)]}, "email"),
    "paused-not-a-boolean": ({"paused": "yes"}, "paused"),
    "unknown-field": ({"when": "now"}, "when"),
}


@pytest.mark.parametrize("name", list(BAD_FIELDS))
def test_every_bad_value_is_400_naming_its_field(name, client, data):
    fields, param = BAD_FIELDS[name]
    refused = create(client, data["auth"], **fields)
    assert (refused.status_code, refused.json["param"]) == (400, param), refused.text
    assert refused.headers["content-type"] == "application/json" and refused.json["error"]
    assert client.simulate_get(SCHEDULES, headers=data["auth"]).json == {"schedules": []}


def test_the_urls_access_is_the_gets(client, data):
    """The GET a slot would run is planned now with the caller as owner: the GET's 404 and 403."""
    unknown = get_url(format="csv", period="last_week", scope="anon", short_code="nothere")
    private = get_url(format="csv", period="last_week", scope="anon", short_code="private")
    for url, status in ((unknown, 404), (private, 403)):
        path, _, query = url.partition("?")
        get = client.simulate_get(path, query_string=query, headers=data["auth"])
        refused = create(client, data["auth"], url=url)
        assert (refused.status_code, refused.json) == (status, get.json)
    link = get_url(format="csv", period="last_week").replace(ROUTE, f"{ROUTE}/links/{data['link']}")
    assert create(client, data["other_auth"], url=link).status_code == 404  # someone else's link
    assert create(client, data["auth"], url=link).status_code == 201


def test_the_url_is_planned_in_the_schedules_zone(client, data):
    """A slot's GET carries the schedule's zone: a zone the url names itself wins (and is checked)."""
    assert create(client, data["auth"], url=WEEKLY_URL + "&timezone=Asia/Tokyo").status_code == 201
    refused = create(client, data["auth"], url=WEEKLY_URL + "&timezone=Nowhere/Land")
    assert (refused.status_code, refused.json["param"]) == (400, "timezone")


def test_email_needs_smtp_and_webhooks_need_a_secret(data):
    no_mail = jobs_client(schedule_settings(data["db"], smtp_url=None, email_from=None))
    refused = create(no_mail, data["auth"], webhook_url=None, email=["team@example.com"])
    assert (refused.status_code, refused.json["param"]) == (400, "email")
    no_secret = jobs_client(schedule_settings(data["db"], webhook_secret=None))
    refused = create(no_secret, data["auth"])
    assert (refused.status_code, refused.json["param"]) == (400, "webhook_url")
    assert create(no_secret, data["auth"], webhook_url=None, email=["team@example.com"]).status_code == 201


PATCHES: dict[str, tuple[bytes, str | None, int, str | None]] = {
    "paused-string": (b'{"paused": "true"}', "application/json", 400, "paused"),
    "paused-missing": (b"{}", "application/json", 400, "paused"),
    "another-field": (b'{"cron": "0 9 * * 1"}', "application/json", 400, "cron"),
    "not-an-object": (b"[true]", "application/json", 400, "body"),
    "not-json": (b"paused=true", "application/json", 400, "body"),
    "key-twice": (b'{"paused": true, "paused": false}', "application/json", 400, "body"),
    "text-plain": (b'{"paused": true}', "text/plain", 415, "body"),
    "too-large": (b'{"paused": true, "x": "' + b"a" * 16_400 + b'"}', "application/json", 413, "body"),
}


@pytest.mark.parametrize("name", list(PATCHES))
def test_patch_bodies(name, client, data):
    body, content_type, status, param = PATCHES[name]
    schedule = create(client, data["auth"]).json
    headers = {**data["auth"], **({"Content-Type": content_type} if content_type else {})}
    refused = client.simulate_patch(f"{SCHEDULES}/{schedule['id']}", body=body, headers=headers)
    assert (refused.status_code, refused.json["param"]) == (status, param), refused.text
    assert client.simulate_get(f"{SCHEDULES}/{schedule['id']}", headers=data["auth"]).json == schedule


POSTS: dict[str, tuple[bytes, str | None, int, str | None]] = {
    "not-json": (b"url=x", "application/json", 400, "body"),
    "an-array": (json.dumps([BODY]).encode(), "application/json", 400, "body"),
    "empty": (b"", "application/json", 400, "body"),
    "key-twice": (b'{"cron": "0 8 * * 1", "cron": "0 9 * * 1"}', "application/json", 400, "body"),
    "form": (b"url=%2Fapi", "application/x-www-form-urlencoded", 415, "body"),
    "no-type": (json.dumps(BODY).encode(), None, 415, "body"),
    "too-large": (json.dumps({**BODY, "url": "a" * 17_000}).encode(), "application/json", 413, "body"),
    "charset": (json.dumps(BODY).encode(), "application/json; charset=utf-8", 201, None),
}


@pytest.mark.parametrize("name", list(POSTS))
def test_post_bodies(name, client, data):
    body, content_type, status, param = POSTS[name]
    headers = {**data["auth"], **({"Content-Type": content_type} if content_type else {})}
    answer = client.simulate_post(SCHEDULES, body=body, headers=headers)
    assert answer.status_code == status, answer.text
    if status != 201:
        assert answer.json["param"] == param and answer.json["error"]


def test_creation_counts_like_the_get_and_reads_do_not(data):
    """Creating plans a GET: it spends the export budget; reads, pauses and deletes do not."""
    client = jobs_client(schedule_settings(data["db"], authenticated_limits="3/minute"))
    schedule = create(client, data["auth"])
    assert schedule.headers["x-ratelimit-remaining"] == "2"
    one = f"{SCHEDULES}/{schedule.json['id']}"
    for _ in range(4):
        assert client.simulate_get(one, headers=data["auth"]).status_code == 200
        assert client.simulate_get(SCHEDULES, headers=data["auth"]).status_code == 200
        assert client.simulate_patch(one, json={"paused": True}, headers=data["auth"]).status_code == 200
    assert create(client, data["auth"]).headers["x-ratelimit-remaining"] == "1"
    assert client.simulate_delete(one, headers=data["auth"]).status_code == 204
    assert create(client, data["auth"]).status_code == 201
    limited = create(client, data["auth"])
    assert limited.status_code == 429 and limited.headers["retry-after"]


def test_head_answers_like_get(client, data):
    schedule = create(client, data["auth"]).json
    for path in (SCHEDULES, f"{SCHEDULES}/{schedule['id']}"):
        head = client.simulate_head(path, headers=data["auth"])
        get = client.simulate_get(path, headers=data["auth"])
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-type"] == get.headers["content-type"]
    assert client.simulate_head(f"{SCHEDULES}/{UNKNOWN_ID}", headers=data["auth"]).status_code == 404
    assert client.simulate_get(SCHEDULES, body=b"{}", headers=data["auth"]).status_code == 413


def test_under_a_mount_prefix(client, data):
    """``Location`` carries the prefix; ``url`` may name the GET with the prefix (as the client sends it) or
    without, and is kept without it (a slot's job runs it below the mount)."""
    for url in ("/stats" + WEEKLY_URL, WEEKLY_URL):
        created = client.simulate_post(SCHEDULES, json={**BODY, "url": url}, headers=data["auth"], root_path="/stats")
        assert created.status_code == 201, created.text
        assert created.headers["location"] == f"/stats{SCHEDULES}/{created.json['id']}"
        assert created.json["url"] == WEEKLY_URL
    elsewhere = client.simulate_post(
        SCHEDULES, json={**BODY, "url": "/stats/other?period=last_week"}, headers=data["auth"], root_path="/stats"
    )
    assert (elsewhere.status_code, elsewhere.json["param"]) == (400, "url")
