"""The runner, the reaper and the sweep on mongomock, faults injected where they happen: a killed
attempt's chunks, a lease that ran out, the database failing mid-write, a cancel mid-write, a worker
asked to stop. The real SIGKILL is tests/jobs/test_worker_kill.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import mongomock
import pytest
from bson import ObjectId
from pymongo.errors import AutoReconnect, ExecutionTimeout

from spoo_export_plugin.core.exceptions import TIMEOUT_MESSAGE
from spoo_export_plugin.files.produce import ProducedFile
from spoo_export_plugin.jobs.records import MAX_ATTEMPTS
from spoo_export_plugin.jobs.service import JobService
from spoo_export_plugin.jobs.stored_files import CHUNK_SIZE, ChunkWriter
from spoo_export_plugin.jobs.upkeep import upkeep

from ..factories import ROUTE, make_click
from .conftest import ME, World, files_in, read

BIG = f"{ROUTE}/clicks?format=json&start_date=2025-03-01"


@pytest.fixture
def queued(world: World, tmp_path: Any) -> JobService:
    """A service on a SQLite queue nobody consumes: the test runs each task itself."""
    return world.service_with(job_queue=f"sqlite:///{tmp_path}/queue.db")


@pytest.fixture
def big(world: World) -> None:
    """Enough clicks for a raw-click file of several flushes (~2 MB of json)."""
    world.db.clicks.insert_many(
        [make_click("mine", ME, datetime(2025, 3, 3, i // 60 % 24, i % 60), city=f"City {i}") for i in range(7000)]
    )


def doc(world: World, job_id: str) -> dict[str, Any]:
    return world.db.export_jobs.find_one({"_id": ObjectId(job_id)})


def test_a_big_file_is_written_in_chunks_and_read_back_whole(world: World, big: None) -> None:
    got = world.get(BIG)
    assert len(got.content) > 4 * CHUNK_SIZE
    job = world.service.submit(ME, BIG, None)
    assert files_in(world.db)[1] == -(-len(got.content) // (255 * 1024))
    assert read(world.service, job["id"], owner_id=ME) == got.content


def test_the_period_is_read_at_submission(world: World, queued: JobService) -> None:
    url = f"{ROUTE}?format=json&period=last_7_days&group_by=time"
    expected = world.get(url).content
    job = queued.submit(ME, url, None)
    world.clock.advance(days=2)  # the worker runs it two days later, with new clicks in between
    world.db.clicks.insert_many([make_click("mine", ME, datetime(2025, 3, 21, 9)) for _ in range(5)])
    queued.run_job(job["id"])
    assert read(queued, job["id"], owner_id=ME) == expected  # generated_at included: the job's as_of
    assert queued.get(ME, job["id"])["created_at"] == "2025-03-20T12:30:15Z"


def killed_attempt(service: JobService, job_id: str) -> ObjectId:
    """What a worker SIGKILLed mid-write leaves: the job running under a lease, some chunks written."""
    file_id = ObjectId()
    assert service.records.claim(ObjectId(job_id), file_id) is not None
    writer = ChunkWriter(service.records.bucket, file_id, "x.json", {})
    writer.write(b"x" * (3 * CHUNK_SIZE + 10))  # three chunks inserted, no files document
    return file_id


def test_the_reaper_requeues_a_killed_attempt_and_the_next_one_delivers(world: World, queued: JobService) -> None:
    expected = world.get(BIG).content
    job = queued.submit(ME, BIG, None)
    killed_attempt(queued, job["id"])
    assert files_in(world.db) == (0, 3)
    queued.upkeep()  # the lease has not run out: nothing happens
    assert doc(world, job["id"])["status"] == "running" and files_in(world.db) == (0, 3)
    world.clock.advance(seconds=61)
    queued.upkeep()
    after = doc(world, job["id"])
    assert after["status"] == "queued" and after["attempts"] == 1
    assert files_in(world.db) == (0, 0)  # no half file
    assert queued.queue is not None and queued.queue.huey.pending_count() == 2  # submitted + re-queued
    queued.run_job(job["id"])
    queued.run_job(job["id"])  # the duplicate task finds the job done: nothing happens
    done = doc(world, job["id"])
    assert done["status"] == "done" and done["attempts"] == 2
    assert files_in(world.db)[0] == 1
    assert read(queued, job["id"], owner_id=ME) == expected


def test_three_killed_attempts_fail_the_job_in_words(world: World, queued: JobService) -> None:
    job = queued.submit(ME, BIG, None)
    ended: list[dict[str, Any]] = []
    queued.runner.on_end = ended.append
    for attempt in range(1, MAX_ATTEMPTS + 1):
        killed_attempt(queued, job["id"])
        world.clock.advance(seconds=61)
        upkeep(queued.records, lambda job_id, delay: None, ended.append)  # the re-queued task is lost too
        assert doc(world, job["id"])["attempts"] == attempt
    failed = queued.get(ME, job["id"])
    assert failed["status"] == "failed"
    assert failed["error"] == (
        "the export was interrupted 3 times (a worker stopped while writing it); "
        "try a shorter date range or ask the operator"
    )
    assert files_in(world.db) == (0, 0)
    assert [e["status"] for e in ended] == ["failed"]
    queued.run_job(job["id"])  # a late task: nothing
    assert doc(world, job["id"])["status"] == "failed"


@pytest.fixture
def chunk_insert_fails(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The database drops the connection on the second chunk insert of the run (one failure)."""
    calls: list[int] = []
    real = mongomock.collection.Collection.insert_many

    def flaky(self: Any, documents: Any, *args: Any, **kwargs: Any) -> Any:
        if self.name.endswith(".chunks"):
            calls.append(1)
            if len(calls) == 2:
                raise AutoReconnect("connection reset")
        return real(self, documents, *args, **kwargs)

    monkeypatch.setattr(mongomock.collection.Collection, "insert_many", flaky)
    return calls


def test_a_database_failure_mid_write_requeues_with_a_delay(
    world: World, queued: JobService, big: None, chunk_insert_fails: list[int]
) -> None:
    expected = world.get(BIG).content
    job = queued.submit(ME, BIG, None)
    queued.run_job(job["id"])
    after = doc(world, job["id"])
    assert after["status"] == "queued" and after["attempts"] == 1
    assert files_in(world.db) == (0, 0)  # the partial file removed
    assert queued.queue is not None
    retries = [task for task in queued.queue.huey.pending() if task.eta is not None]
    assert len(retries) == 1 and retries[0].args == (job["id"],)  # the retry, with a delay (10 s)
    queued.run_job(job["id"])
    assert doc(world, job["id"])["status"] == "done"
    assert read(queued, job["id"], owner_id=ME) == expected


def test_a_database_failure_in_immediate_mode_fails_the_job(
    world: World, big: None, chunk_insert_fails: list[int]
) -> None:
    job = world.service.submit(ME, BIG, None)
    assert job["status"] == "failed"
    assert job["error"] == "the statistics database is unreachable; submit the export again later"
    assert files_in(world.db) == (0, 0)


def interrupting(service: JobService, action: Any) -> None:
    """Make ``action`` happen after the first chunk the runner writes, and beat at every chunk."""
    produce = service.runner._produce
    service.runner.beat_seconds = 0.01  # the lease thread notices soon; the outcome holds either way

    def with_action(job: dict[str, Any]) -> ProducedFile:
        produced = produce(job)

        def chunks() -> Iterator[bytes]:
            for number, chunk in enumerate(produced.open()):
                yield chunk
                if number == 0:
                    action()

        return ProducedFile(produced.media_type, produced.disposition, produced.headers, chunks)

    service.runner._produce = with_action  # type: ignore[method-assign]


def test_delete_while_running_cancels_and_leaves_nothing(world: World, queued: JobService, big: None) -> None:
    job = queued.submit(ME, BIG, None)
    ended: list[Any] = []
    queued.runner.on_end = ended.append
    interrupting(queued, lambda: queued.delete(ME, job["id"]))
    queued.run_job(job["id"])
    assert world.db.export_jobs.count_documents({"owner_id": ME}) == 0
    assert files_in(world.db) == (0, 0) and ended == []


def test_an_attempt_that_lost_its_lease_delivers_nothing(world: World, queued: JobService, big: None) -> None:
    job = queued.submit(ME, BIG, None)
    ended: list[Any] = []
    queued.runner.on_end = ended.append

    def stall_past_the_lease() -> None:
        world.clock.advance(seconds=61)
        queued.upkeep()  # the reaper gives the job to another attempt

    interrupting(queued, stall_past_the_lease)
    queued.run_job(job["id"])
    after = doc(world, job["id"])
    assert after["status"] == "queued" and after["attempts"] == 1 and ended == []
    assert files_in(world.db) == (0, 0)
    del queued.runner._produce  # the next attempt runs undisturbed
    queued.run_job(job["id"])
    assert doc(world, job["id"])["status"] == "done" and [e["status"] for e in ended] == ["done"]
    assert files_in(world.db)[0] == 1


def test_a_worker_asked_to_stop_puts_the_job_back(world: World, queued: JobService, big: None) -> None:
    job = queued.submit(ME, BIG, None)
    interrupting(queued, queued.stopping.set)
    queued.run_job(job["id"])
    after = doc(world, job["id"])
    assert after["status"] == "queued" and after["attempts"] == 0  # not counted against the job
    assert files_in(world.db) == (0, 0)
    assert queued.queue is not None and queued.queue.huey.pending_count() == 2


def test_a_refusal_at_run_time_fails_with_the_gets_words(world: World, queued: JobService) -> None:
    url = f"{ROUTE}/links/{world.ids['mine']}?format=json"
    job = queued.submit(ME, url, None)
    world.db.urlsV2.delete_one({"_id": world.ids["mine"]})  # deleted by its owner meanwhile
    expected = world.get(url).json["error"]
    queued.run_job(job["id"])
    failed = queued.get(ME, job["id"])
    assert failed["status"] == "failed" and failed["error"] == expected
    assert files_in(world.db) == (0, 0)


def test_a_lost_queued_task_is_enqueued_again(world: World, queued: JobService) -> None:
    job = queued.submit(ME, f"{ROUTE}?format=json", None)
    assert queued.queue is not None
    queued.queue.huey.flush()  # the task was popped by a worker that died before claiming it
    world.clock.advance(minutes=9)
    queued.upkeep()
    assert queued.queue.huey.pending_count() == 0
    world.clock.advance(minutes=2)
    queued.upkeep()
    queued.upkeep()  # once
    assert queued.queue.huey.pending_count() == 1
    assert doc(world, job["id"])["status"] == "queued"


def test_a_query_past_its_time_budget_fails_at_once(
    world: World, queued: JobService, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = queued.submit(ME, BIG, None)
    real = mongomock.collection.Collection.aggregate

    def too_slow(self: Any, pipeline: Any, *args: Any, **kwargs: Any) -> Any:
        if self.name == "clicks":
            raise ExecutionTimeout("operation exceeded time limit", 50)
        return real(self, pipeline, *args, **kwargs)

    monkeypatch.setattr(mongomock.collection.Collection, "aggregate", too_slow)
    queued.run_job(job["id"])
    failed = queued.get(ME, job["id"])
    assert failed["status"] == "failed" and failed["error"] == TIMEOUT_MESSAGE  # not retried: it would time out again
    assert doc(world, job["id"])["attempts"] == 1 and files_in(world.db) == (0, 0)
