"""Workers die mid-job (pool process killed, whole worker killed, graceful stop, a poison
image that kills its worker every time); every job still ends with each image's result once.

Chunks come back after a crash two ways, both exercised here: a pool process that dies is
noticed by its Celery main process, which requeues the message at once (reject on worker
lost); a whole worker that dies leaves its message unacknowledged in Redis, and another
worker restores it after `visibility_timeout` (a few seconds here, two minutes by default).
"""

from __future__ import annotations

import signal
import time
from dataclasses import replace
from pathlib import Path

import pytest
import redis

from common.queue import QUEUE
from common.settings import Settings
from tests.poison_worker import POISON
from tests.reliability import (
    Chunks,
    assert_each_result_once,
    digit_files,
    finished,
    kill_group,
    predictions_match_samples,
    record,
    submit,
)
from tests.stack import running_stack, start_api, start_worker
from tests.support import wait_for

pytestmark = pytest.mark.slow

IMAGES = 400
CHUNK = 25  # ~0.1 s of work per chunk: far below the visibility timeout
VISIBILITY = 10  # seconds before an unacknowledged chunk is redelivered


@pytest.fixture()
def fast_redelivery(settings: Settings) -> Settings:
    return replace(settings, chunk_size=CHUNK, visibility_timeout=VISIBILITY,
                   max_chunk_attempts=3)


def test_a_pool_process_killed_mid_chunk_loses_no_image(
    fast_redelivery: Settings, tmp_path: Path
) -> None:
    files = digit_files(IMAGES)
    with running_stack(fast_redelivery, tmp_path / "logs") as stack:
        job = submit(stack.url, files)
        chunks = Chunks(fast_redelivery.broker_url, job["id"])
        chunks.when_one_is_in_flight()
        stack.workers[0].kill_pool_process(signal.SIGKILL)
        job = finished(stack.url, job, timeout=90)
    assert_each_result_once(job, files)
    assert predictions_match_samples(job)
    assert max(chunks.deliveries().values()) == 2  # the killed chunk ran again, once
    record("pool_process_killed", jobs=1, images=IMAGES, kills=1)


def test_a_whole_worker_killed_mid_chunk_is_made_good_by_a_fresh_worker(
    fast_redelivery: Settings, tmp_path: Path
) -> None:
    files = digit_files(IMAGES)
    logs = tmp_path / "logs"
    with running_stack(fast_redelivery, logs) as stack:
        job = submit(stack.url, files)
        chunks = Chunks(fast_redelivery.broker_url, job["id"])
        lost = chunks.when_one_is_in_flight()
        kill_group(stack.workers[0])  # main process and pool: nobody is left to requeue
        killed_at = time.monotonic()
        fresh = start_worker(fast_redelivery, "fresh", log_dir=logs)
        # the fresh worker is consuming before the lost chunk's visibility timeout is over:
        # only its periodic restore sweep can bring the chunk back
        assert time.monotonic() - killed_at < VISIBILITY
        try:
            job = finished(stack.url, job, timeout=VISIBILITY + 90)
        finally:
            fresh.stop()
        took = time.monotonic() - killed_at
    assert_each_result_once(job, files)
    assert predictions_match_samples(job)
    assert all(chunks.deliveries()[start] == 2 for start in lost)
    # bounded by the visibility timeout plus the restore sweep, not Redis's one-hour default
    assert took < VISIBILITY + 45, took
    record("whole_worker_killed", jobs=1, images=IMAGES, kills=1, restarts=1,
           recovery_seconds=round(took, 1))


def test_a_worker_stopped_gracefully_finishes_its_chunk_first(
    fast_redelivery: Settings, tmp_path: Path
) -> None:
    files = digit_files(IMAGES)
    with running_stack(fast_redelivery, tmp_path / "logs", workers=2) as stack:
        leaving = stack.workers[0]
        job = submit(stack.url, files)

        def leaving_is_mid_chunk() -> bool:
            log = leaving.log()
            return log.count("predict_chunk[") > 2 * log.count("] succeeded in")

        wait_for(leaving_is_mid_chunk, timeout=60, interval=0.01,
                 what="the leaving worker to be mid-chunk")
        leaving.signal(signal.SIGTERM)
        assert leaving.popen.wait(timeout=60) == 0
        job = finished(stack.url, job, timeout=90)
        chunks = Chunks(fast_redelivery.broker_url, job["id"])
    assert_each_result_once(job, files)
    assert predictions_match_samples(job)
    after_stop = leaving.log().split("Warm shutdown", 1)[-1]
    assert f"job {job['id']}: chunk " in after_stop  # the chunk it held was finished
    assert set(chunks.deliveries().values()) == {1}  # so nothing had to be redelivered
    record("worker_stopped_gracefully", jobs=1, images=IMAGES, sigterms=1)


def test_a_poison_image_is_given_up_after_a_bounded_number_of_crashes(
    fast_redelivery: Settings, tmp_path: Path
) -> None:
    settings = fast_redelivery
    files = digit_files(100)
    files[37] = ("crashes-the-decoder.png", POISON + b"\x89PNG")
    poisoned = 37 // CHUNK * CHUNK
    logs = tmp_path / "logs"
    worker = start_worker(settings, "poisoned", app="tests.poison_worker", log_dir=logs)
    api = start_api(settings, log_dir=logs)
    try:
        job = submit(api.url, files)
        job = finished(api.url, job, timeout=120)
        deliveries = Chunks(settings.broker_url, job["id"]).deliveries()
        broker = redis.Redis.from_url(settings.broker_url)
        wait_for(lambda: broker.llen(QUEUE) == 0 and broker.hlen("unacked") == 0,
                 timeout=30, what="no message left in the queue or unacknowledged")
        assert worker.alive()
        crashes = worker.log().count("WorkerLostError")
    finally:
        api.stop()
        worker.stop()
    assert job["status"] == "succeeded"
    assert (job["total"], job["processed"], job["failed"]) == (100, 100, CHUNK)
    assert [r["index"] for r in job["results"]] == list(range(100))
    for result in job["results"]:
        in_poisoned_chunk = poisoned <= result["index"] < poisoned + CHUNK
        assert (result["error"] is not None) == in_poisoned_chunk, result
        if in_poisoned_chunk:
            assert "not processed" in result["error"] and result["prediction"] is None
    assert deliveries[poisoned] == settings.max_chunk_attempts + 1
    assert all(n == 1 for start, n in deliveries.items() if start != poisoned)
    assert crashes >= settings.max_chunk_attempts
    record("poison_chunk", jobs=1, images=100, kills=settings.max_chunk_attempts,
           per_file_errors=CHUNK)
