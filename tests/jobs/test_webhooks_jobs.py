"""A job's end announced to its webhook_url: JobService and deliver() together, to a real receiver on
loopback, verified as a Standard Webhooks receiver would."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook

from ..factories import ROUTE
from .conftest import ME, World
from .webhook_receiver import SECRET, Answer, Receiver, serve

CSV = f"{ROUTE}/clicks?format=csv&start_date=2025-03-06"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serve(Receiver()) as running:
        yield running


def hooked(world: World, **changes: Any) -> Any:
    return world.service_with(webhook_secret=SECRET, webhook_allow_http=True, webhook_allow_private=True, **changes)


def test_a_finished_job_posts_export_completed_with_its_job_object(world: World, receiver: Receiver) -> None:
    service = hooked(world)
    job = service.submit(ME, CSV, receiver.url())
    assert job["status"] == "done"
    [request] = receiver.requests
    event = Webhook(SECRET).verify(request.body, request.headers)
    assert event["type"] == "export.completed"
    assert event["timestamp"] == "2025-03-20T12:30:15Z"  # the service's clock (the tests' frozen one)
    assert event["data"] == service.get(ME, job["id"])  # the job object its owner sees, file_url included
    assert event["data"]["file_url"].startswith(f"{ROUTE}/jobs/{job['id']}/file?token=")


def test_a_failed_job_posts_export_failed(world: World, receiver: Receiver, tmp_path: Path) -> None:
    """Queued (SQLite, no worker), then its URL deleted: the run fails with the GET's refusal, and says so."""
    service = hooked(world, job_queue=f"sqlite:///{tmp_path}/jobs.db")
    job = service.submit(ME, f"{ROUTE}/links/{world.ids['mine']}?format=json", receiver.url())
    assert job["status"] == "queued" and receiver.requests == []
    world.db.urlsV2.delete_many({"_id": world.ids["mine"]})
    service.run_job(job["id"])
    [request] = receiver.requests
    event = Webhook(SECRET).verify(request.body, request.headers)
    assert event["type"] == "export.failed"
    assert event["data"]["status"] == "failed" and event["data"]["error"]
    assert event["data"] == service.get(ME, job["id"])


def test_a_receiver_that_fails_does_not_change_the_job(world: World, receiver: Receiver, monkeypatch: Any) -> None:
    """Five 500s: the job is still done (the webhook is the announcement, not the job)."""
    from spoo_export_plugin.jobs import service, webhooks

    waits: list[float] = []
    real_deliver = webhooks.deliver
    monkeypatch.setattr(service, "deliver", lambda *a, **k: real_deliver(*a, **{**k, "sleep": waits.append}))
    receiver.script = [Answer(500)] * 5
    job = hooked(world).submit(ME, CSV, receiver.url())
    assert job["status"] == "done" and len(receiver.requests) == 5 and waits == [1, 2, 4, 8]
