"""deliver(): signed POSTs to a real HTTP receiver on loopback, verified as a receiver would
(``standardwebhooks.Webhook(secret).verify``); retries, timeouts, redirects, and the target pinned
to the address its check accepted (DNS rebinding)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from spoo_export_plugin import ExportSettings
from spoo_export_plugin.jobs.webhooks import check_webhook_url, deliver

from ..factories import unused_port
from .webhook_receiver import SECRET, Answer, FakeDNS, Receiver, install_fake_dns, serve

JOB = {
    "id": "6650f1c2a1b2c3d4e5f60718",
    "status": "done",
    "url": "/api/v1/export/clicks?format=csv",
    "created_at": "2025-05-01T10:00:00Z",
    "started_at": "2025-05-01T10:00:01Z",
    "finished_at": "2025-05-01T10:00:09Z",
    "size": 1234,
    "file_url": "/api/v1/export/jobs/6650f1c2a1b2c3d4e5f60718/file?token=abc.def",
    "expires_at": "2025-05-02T10:00:09Z",
    "error": None,
}
EVENT = {"type": "export.completed", "timestamp": "2025-05-01T10:00:09Z", "data": JOB}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serve(Receiver()) as running:
        yield running


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDNS:
    return install_fake_dns(monkeypatch)


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def loopback_settings(db: Any, **overrides: Any) -> ExportSettings:
    return ExportSettings(
        database=db,
        **{"webhook_secret": SECRET, "webhook_allow_http": True, "webhook_allow_private": True, **overrides},
    )


def test_a_delivery_is_signed_per_standard_webhooks(db: Any, receiver: Receiver) -> None:
    before = time.time()
    result = deliver(receiver.url(), EVENT, loopback_settings(db), sleep=Sleeps())
    assert (result.delivered, result.attempts, result.status, result.error) == (True, 1, 204, None)
    [request] = receiver.requests
    assert (request.method, request.path) == ("POST", "/hooks/export?source=spoo")
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Host"] == f"127.0.0.1:{receiver.port}"
    assert json.loads(request.body) == EVENT
    assert Webhook(SECRET).verify(request.body, request.headers) == EVENT
    assert request.headers["webhook-id"] == result.webhook_id and result.webhook_id.startswith("msg_")
    assert before - 1 <= int(request.headers["webhook-timestamp"]) <= time.time()
    assert request.headers["webhook-signature"].startswith("v1,")
    with pytest.raises(WebhookVerificationError):  # the check can fail: another key, an altered body
        Webhook("whsec_" + "QUJD" * 8).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(request.body.replace(b"done", b"fail"), request.headers)


def test_the_id_is_the_events_not_the_attempts(db: Any, receiver: Receiver) -> None:
    """A job delivered again (a worker restarted after sending) sends the same id; another event type another."""
    settings = loopback_settings(db)
    first = deliver(receiver.url(), EVENT, settings, sleep=Sleeps())
    again = deliver(receiver.url(), dict(EVENT, timestamp="2025-05-01T10:05:00Z"), settings, sleep=Sleeps())
    failed = deliver(receiver.url(), dict(EVENT, type="export.failed"), settings, sleep=Sleeps())
    assert first.webhook_id == again.webhook_id != failed.webhook_id
    assert deliver(receiver.url(), EVENT, settings, sleep=Sleeps(), message_id="msg_given").webhook_id == "msg_given"


def test_a_failing_receiver_is_retried_with_backoff_until_it_answers(db: Any, receiver: Receiver) -> None:
    receiver.script = [Answer(500), Answer(503), Answer(200)]
    sleeps = Sleeps()
    result = deliver(receiver.url(), EVENT, loopback_settings(db), sleep=sleeps)
    assert (result.delivered, result.attempts, result.status) == (True, 3, 200)
    assert sleeps == [1, 2]
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
    assert len({r.body for r in receiver.requests}) == 1
    for request in receiver.requests:
        assert Webhook(SECRET).verify(request.body, request.headers) == EVENT


def test_five_failures_and_it_gives_up(db: Any, receiver: Receiver) -> None:
    receiver.script = [Answer(400), Answer(404), Answer(500), Answer(410), Answer(502)]
    sleeps = Sleeps()
    result = deliver(receiver.url(), EVENT, loopback_settings(db), sleep=sleeps)
    assert (result.delivered, result.attempts, result.status, result.error) == (False, 5, 502, "HTTP 502")
    assert sleeps == [1, 2, 4, 8] and len(receiver.requests) == 5


def test_a_redirect_is_a_failure_and_is_not_followed(db: Any, receiver: Receiver) -> None:
    receiver.script = [Answer(302)] * 5
    result = deliver(receiver.url(), EVENT, loopback_settings(db), sleep=Sleeps())
    assert (result.delivered, result.attempts, result.status) == (False, 5, 302)
    assert result.error == "HTTP 302: a redirect, not followed (webhooks go to the URL given)"
    assert [r.path for r in receiver.requests] == ["/hooks/export?source=spoo"] * 5  # never /elsewhere


def test_a_silent_receiver_times_out_and_is_retried(db: Any, receiver: Receiver, caplog: Any) -> None:
    receiver.script = [Answer(204, delay=3)]
    caplog.set_level(logging.INFO, "spoo_export_plugin")
    started = time.monotonic()
    result = deliver(receiver.url(), EVENT, loopback_settings(db, webhook_timeout_seconds=1), sleep=Sleeps())
    assert (result.delivered, result.attempts) == (True, 2)
    assert time.monotonic() - started < 2.5
    assert "attempt 1/5" in caplog.text and "no answer within 1 s" in caplog.text


def test_the_timeout_bounds_the_whole_attempt_not_each_read(db: Any, receiver: Receiver) -> None:
    """A receiver trickling its answer (one byte every 0.15 s, ~5 s in all) never lets a single read wait
    a second; the attempt is still cut off after one."""
    receiver.script = [Answer(200, trickle=0.15)]
    started = time.monotonic()
    result = deliver(receiver.url(), EVENT, loopback_settings(db, webhook_timeout_seconds=1), sleep=Sleeps())
    assert (result.delivered, result.attempts) == (True, 2)
    assert time.monotonic() - started < 2.5


def test_nothing_listening_is_retried_then_given_up(db: Any) -> None:
    url = f"http://127.0.0.1:{unused_port()}/hook"
    result = deliver(url, EVENT, loopback_settings(db), sleep=Sleeps())
    assert (result.delivered, result.attempts, result.status) == (False, 5, None)
    assert result.error is not None and result.error.startswith("connection failed: ConnectionRefusedError")


def test_a_host_that_stops_resolving_is_retried(db: Any, receiver: Receiver, dns: FakeDNS) -> None:
    dns.set("hooks.example.test", None, ["127.0.0.1"])
    result = deliver(receiver.url(host="hooks.example.test"), EVENT, loopback_settings(db), sleep=Sleeps())
    assert (result.delivered, result.attempts) == (True, 2)


def test_dns_rebinding_is_refused_at_delivery(db: Any, receiver: Receiver, dns: FakeDNS) -> None:
    """Public when the job was submitted, loopback when the webhook is sent: refused, never connected."""
    settings = loopback_settings(db, webhook_allow_private=False)
    dns.set("rebind.example.test", ["93.184.215.14"], [receiver_address := "127.0.0.1"])
    url = receiver.url(host="rebind.example.test")
    check_webhook_url(url, settings)  # at submission: public
    result = deliver(url, EVENT, settings, sleep=Sleeps())
    assert (result.delivered, result.attempts, result.status) == (False, 1, None)
    assert result.error == (
        f"target refused: webhook_url's host resolves to a loopback address ({receiver_address}); "
        "webhooks go to public addresses only"
    )
    assert receiver.connections == 0 and receiver.requests == []
    assert dns.lookups == ["rebind.example.test"] * 2


def test_the_connection_goes_to_the_address_the_check_accepted(db: Any, receiver: Receiver, dns: FakeDNS) -> None:
    """The name resolves once per attempt: to 127.0.0.1 (the receiver) first, then to 127.0.0.2
    (nothing there). Delivered at the first attempt, to 127.0.0.1, with the name in Host."""
    dns.set("pinned.example.test", ["127.0.0.1"], ["127.0.0.2"])
    result = deliver(receiver.url(host="pinned.example.test"), EVENT, loopback_settings(db), sleep=Sleeps())
    assert (result.delivered, result.attempts) == (True, 1)
    assert dns.lookups == ["pinned.example.test"]
    assert receiver.requests[0].headers["Host"] == f"pinned.example.test:{receiver.port}"


def test_the_addresses_of_a_name_are_tried_in_turn(db: Any, receiver: Receiver, dns: FakeDNS) -> None:
    dns.set("two.example.test", ["127.0.0.2", "127.0.0.1"])  # nothing listens on 127.0.0.2
    result = deliver(receiver.url(host="two.example.test"), EVENT, loopback_settings(db), sleep=Sleeps())
    assert (result.delivered, result.attempts) == (True, 2)


def test_http_is_refused_at_delivery_unless_allowed(db: Any, receiver: Receiver) -> None:
    result = deliver(receiver.url(), EVENT, loopback_settings(db, webhook_allow_http=False), sleep=Sleeps())
    assert (result.delivered, result.attempts) == (False, 1)
    assert result.error == "target refused: webhook_url must use https (this server sends no webhook over plain http)"
    assert receiver.connections == 0


def test_no_secret_no_delivery(db: Any, receiver: Receiver) -> None:
    result = deliver(receiver.url(), EVENT, loopback_settings(db, webhook_secret=None), sleep=Sleeps())
    assert (result.delivered, result.attempts) == (False, 1)
    assert "the operator must set webhook_secret" in (result.error or "")
    assert receiver.connections == 0


def test_the_logs_name_the_attempts_but_no_secret(db: Any, receiver: Receiver, caplog: Any) -> None:
    """The secret, the signature and the receiver's path and query (a receiver's URL often holds its own
    token) stay out of the logs."""
    caplog.set_level(logging.DEBUG, "spoo_export_plugin")
    receiver.script = [Answer(500)]
    deliver(receiver.url("/hooks/T0001/s3cr3t-path?token=s3cr3t-query"), EVENT, loopback_settings(db), sleep=Sleeps())
    text = caplog.text
    assert f"attempt 1/5 to http://127.0.0.1:{receiver.port} [127.0.0.1]: HTTP 500" in text
    assert "attempt 2/5" in text and "delivered (HTTP 204)" in text and JOB["id"] in text
    signatures = [r.headers["webhook-signature"] for r in receiver.requests]
    for secret in ["s3cr3t", SECRET, SECRET[len("whsec_") :], *signatures]:
        assert secret not in text
