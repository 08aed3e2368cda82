"""People share the service: a single image does not wait behind big jobs, and a big job
submitted behind another starts before the first one ends."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pytest

from api.app import create_app
from common.jobstore import job_key
from common.queue import INTERACTIVE, chunk_priority, time_bounded_chunk
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
