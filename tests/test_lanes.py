"""People share the service: a single image does not wait behind big jobs, and a big job
submitted behind another starts before the first one ends."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pytest
import redis

from api.app import create_app
from common.interactive import BATCH_IMAGES, WAITING_KEY, InteractiveBatches
from common.interactive import QUEUE as BATCH_QUEUE
from common.jobstore import Chunk, JobStore, NewJob, job_key
from common.queue import INTERACTIVE, QUEUE, chunk_priority, time_bounded_chunk
from common.settings import Settings
from tests.conftest import IMAGES_TEST
from tests.stack import start_worker
from tests.support import wait_for

pytestmark = pytest.mark.slow


def test_small_jobs_take_the_first_lane_and_big_jobs_go_round_by_round() -> None:
    assert chunk_priority(0, 1, 1) == INTERACTIVE
    lanes = [chunk_priority(i, 20, 10_000) for i in range(20)]
    assert lanes == sorted(lanes) and INTERACTIVE < lanes[0] < lanes[-1] == 9
    assert chunk_priority(0, 2, 100) < chunk_priority(1, 2, 100)  # by how far into the job


def test_big_jobs_are_cut_into_chunks_of_bounded_time() -> None:
    assert time_bounded_chunk(None, 512) == 512  # nothing measured yet
    assert time_bounded_chunk(0.0002, 512) == 250  # 5,000 images/s per worker: 50 ms
    assert time_bounded_chunk(0.01, 512) == 64  # never below the smallest chunk
    assert time_bounded_chunk(0.00001, 512) == 512  # nor above MNISTQ_CHUNK_SIZE


def test_a_single_image_and_a_second_big_job_do_not_wait_for_the_first(
    settings: Settings, tmp_path: Path
) -> None:
    settings = replace(settings, chunk_size=64)
    client = create_app(settings).test_client()
    sample = next(IMAGES_TEST.glob("*.png")).read_bytes()

    def submit(n: int) -> str:
        files = [(io.BytesIO(sample), f"{i}.png") for i in range(n)]
        response = client.post("/api/v1/jobs", data={"files": files},
                               content_type="multipart/form-data")
        assert response.status_code == 202, response.get_json()
        return response.get_json()["id"]

    # everything is queued before the one worker starts: the order it reads them in is the
    # order the lanes give, not the order of arrival
    first_big, second_big, single = submit(640), submit(640), submit(1)
    worker = start_worker(settings, "w0", log_dir=tmp_path)
    try:
        for job_id in (first_big, second_big, single):
            wait_for(lambda j=job_id: client.get(f"/api/v1/jobs/{j}").get_json()["status"]
                     == "succeeded", timeout=120, what=f"job {job_id}")
    finally:
        worker.stop()
    store = client.application.extensions["mnistq"].store

    def moment(job_id: str, field: str) -> float:
        return float(store.redis.hget(job_key(job_id), field))

    assert moment(single, "finished_at") <= moment(first_big, "started_at")
    assert moment(second_big, "started_at") < moment(first_big, "finished_at")


def test_single_images_waiting_together_are_read_by_one_task(
    settings: Settings, tmp_path: Path
) -> None:
    client = create_app(settings).test_client()
    sample = next(IMAGES_TEST.glob("*.png")).read_bytes()
    jobs = [client.post("/api/v1/jobs", data={"files": [(io.BytesIO(sample), "one.png")]},
                        content_type="multipart/form-data").get_json()["id"] for _ in range(16)]
    broker = redis.Redis.from_url(settings.broker_url)
    # sixteen single images wait as sixteen chunks, behind one task that will read them all
    assert broker.llen(WAITING_KEY) == 16 and broker.llen(QUEUE) == 1
    assert 'mnistq_queue_chunks 16.0' in client.get("/metrics").get_data(as_text=True)
    worker = start_worker(settings, "w0", log_dir=tmp_path)
    try:
        for job_id in jobs:
            wait_for(lambda j=job_id: client.get(f"/api/v1/jobs/{j}").get_json()["status"]
                     == "succeeded", timeout=120, what=f"job {job_id}")
    finally:
        worker.stop()
    results = [client.get(f"/api/v1/jobs/{j}").get_json()["results"] for j in jobs]
    assert {r[0]["prediction"] for r in results} == {results[0][0]["prediction"]}
    # (a worker that starts slower than the bell lasts rings again: an extra task finds
    # nothing to read; what matters is that nothing is left waiting)
    assert broker.llen(WAITING_KEY) == 0


def test_the_batch_bell_rings_once_and_nothing_is_left_unrung(settings: Settings) -> None:
    client = redis.Redis.from_url(settings.broker_url)
    store, batches = JobStore(client, ttl=60), InteractiveBatches(client, ttl=60)

    def small_job(images: int = 1) -> NewJob:  # recorded and queued as the API does
        return store.create([("a.png", b"x")] * images, images, batch=BATCH_QUEUE)

    one, two, big = small_job(), small_job(), small_job(BATCH_IMAGES)
    assert one.rang  # rang: send a task
    assert not two.rang  # a task is queued already
    assert big.rang is False

    def take(task_id: str) -> tuple[list[tuple[str, Chunk]], bool]:
        begun, more = batches.take_and_begin(task_id, "w0")
        assert all(start.runnable for _, _, start in begun)
        return [(job_id, chunk) for job_id, chunk, _ in begun], more

    taken, more = take("task-a")
    assert taken == [(one.id, Chunk(0, 1)), (two.id, Chunk(0, 1))]
    assert more  # the rest: one more task
    assert take("task-a") == (taken, False)  # delivered again: the same chunks
    assert take("task-b") == ([(big.id, Chunk(0, BATCH_IMAGES))], False)
    batches.done("task-a")
    assert batches.taken("task-a") == []
    # a bell whose task could not be sent is silenced; a worker's heartbeat rings for the rest
    assert small_job().rang
    batches.silence()
    assert batches.ring_if_waiting() and not batches.ring_if_waiting()
