"""People share the service: a single image does not wait behind big jobs, and a big job
submitted behind another starts before the first one ends."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pytest
import redis

from api.app import create_app
from common.interactive import (
    BATCH_IMAGES,
    BELL_KEY,
    LANE_QUEUE,
    LANES_KEY,
    WAITING_KEY,
    WAKE_KEY,
    WAKE_TOKENS,
    InteractiveBatches,
    taken_key,
)
from common.interactive import QUEUE as BATCH_QUEUE
from common.jobs import Chunk, NewJob
from common.jobstore import JobStore
from common.queue import (
    INTERACTIVE,
    QUEUE,
    SMALLEST_CHUNK,
    chunk_priority,
    time_bounded_chunk,
)
from common.redis_keys import job_key
from common.settings import Settings
from tests.conftest import IMAGES_TEST
from tests.reliability import FAULTY_APP, Chunks, digit_files
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


@pytest.mark.parametrize("fast_lane", [False, True])
def test_a_single_image_and_a_second_big_job_do_not_wait_for_the_first(
    settings: Settings, tmp_path: Path, fast_lane: bool
) -> None:
    settings = replace(settings, chunk_size=64, fast_lane=fast_lane)
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

    if fast_lane:  # read beside the big jobs, by the pool process's fast lane
        assert moment(single, "finished_at") < moment(first_big, "finished_at")
    else:  # read first, in the first of Celery's lanes
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


def test_a_fast_lane_alive_is_woken_instead_of_the_bell(settings: Settings) -> None:
    client = redis.Redis.from_url(settings.broker_url)
    store, batches = JobStore(client, ttl=60), InteractiveBatches(client, ttl=60)

    def small_job() -> NewJob:  # recorded and queued as the API does, lanes on
        return store.create([("a.png", b"x")], 1, batch=LANE_QUEUE)

    def waiting() -> list[bytes]:
        return client.lrange(WAITING_KEY, 0, -1)

    assert small_job().rang  # no lane alive: the bell, as without lanes
    batches.take_and_begin("task-a", "w0")
    batches.done("task-a")
    lane = "lane:w1:1"
    batches.join_lanes(lane)
    jobs = [small_job() for _ in range(WAKE_TOKENS + 4)]
    assert not any(job.rang for job in jobs) and client.get(BELL_KEY) is None
    assert client.llen(WAKE_KEY) == WAKE_TOKENS  # a token per chunk waiting, a few at most
    # tokens left unclaimed (every lane busy): a heartbeat rings for a batch task as well
    assert batches.ring_if_waiting()
    client.delete(BELL_KEY)
    queued = waiting()
    begun, more = batches.take_and_begin(lane, "w1", lane=True)
    assert [job_id for job_id, _, _ in begun] == [job.id for job in jobs]
    assert all(start.runnable for _, _, start in begun)
    assert not more and client.get(BELL_KEY) is None  # a lane sends no task...
    assert client.llen(WAKE_KEY) == 0  # ...and leaves no token when nothing is left
    # its process dies (no heartbeat for HEARTBEAT_MAX_AGE): what it took goes back, first
    first = small_job()  # (waits behind)
    assert batches.put_back_dead_lanes(max_age=0) == len(jobs)
    assert waiting() == [*queued, f"{first.id}:0:1".encode()]
    assert client.zcard(LANES_KEY) == 0 and not client.exists(taken_key(lane))
    assert client.llen(WAKE_KEY) >= 1  # woken for
    # a lane alive that has claimed the tokens is taking them: no bell
    batches.join_lanes(lane)
    while batches.wait_for_wake(1):
        pass
    assert not batches.ring_if_waiting()
    # a lane that stops puts back what it holds
    taken, _ = batches.take_and_begin(lane, "w1", lane=True)
    assert batches.leave(lane) == len(taken) and client.zcard(LANES_KEY) == 0
    assert batches.ring_if_waiting()  # no lane left: the bell


@pytest.mark.parametrize("fast_lane", [True, False])
def test_a_single_image_is_read_beside_a_chunk_in_progress_unless_the_lane_is_off(
    settings: Settings, tmp_path: Path, fast_lane: bool
) -> None:
    # one worker process, busy with a big job's slow chunk: its fast lane reads a single
    # image meanwhile; without the lane, the image's batch task waits for that process
    settings = replace(settings, fast_lane=fast_lane)
    worker = start_worker(settings, "w0", concurrency=1, log_dir=tmp_path, app=FAULTY_APP)
    client = create_app(settings).test_client()
    try:
        big = client.post("/api/v1/jobs", data={"files": [
            (io.BytesIO(data), name) for name, data in digit_files(SMALLEST_CHUNK + 1, slow=0)]},
            content_type="multipart/form-data").get_json()
        chunks = Chunks(settings.broker_url, big["id"])
        chunks.when_in_flight(0)
        single = client.post("/api/v1/jobs?wait=30",
                             data={"files": [(io.BytesIO(digit_files(1)[0][1]), "one.png")]},
                             content_type="multipart/form-data").get_json()
        assert single["status"] == "succeeded"
        assert (0 in chunks.recorded()) is not fast_lane  # read while the chunk is being read
    finally:
        worker.stop()
    # a worker that stops takes its lanes out: the API rings the bell again at once
    assert redis.Redis.from_url(settings.broker_url).zcard(LANES_KEY) == 0
