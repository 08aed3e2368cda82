"""Workers: two share one large job, each image's result recorded exactly once."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import redis
import requests

from common.jobstore import JobStore
from common.queue import SMALLEST_CHUNK, chunk_size_for
from common.settings import Settings
from tests.conftest import IMAGES_TEST
from tests.stack import running_stack
from tests.support import wait_for

pytestmark = pytest.mark.slow


def test_chunks_are_sized_so_that_every_live_worker_shares_a_job() -> None:
    assert chunk_size_for(10_000, live_workers=2, largest=512) == 512
    assert chunk_size_for(10_000, live_workers=8, largest=512) == 313
    assert chunk_size_for(600, live_workers=2, largest=512) == 75
    assert chunk_size_for(100, live_workers=2, largest=512) == SMALLEST_CHUNK
    assert chunk_size_for(1, live_workers=0, largest=512) == SMALLEST_CHUNK  # one chunk of 1
    assert chunk_size_for(1000, live_workers=2, largest=25) == 25  # the setting wins


def test_two_workers_share_one_large_job(settings: Settings, tmp_path: Path) -> None:
    settings = replace(settings, chunk_size=100)
    samples = sorted(IMAGES_TEST.glob("*.png"))

    def upload(count: int) -> list:
        return [("files", (f"{i}.png", samples[i % 10].read_bytes(), "image/png"))
                for i in range(count)]

    with running_stack(settings, tmp_path / "logs", workers=2) as stack:
        # a worker counts as started once its pool process has the model; sharing also needs
        # both main processes waiting on the queue, or the first could take every chunk
        broker = redis.Redis.from_url(settings.broker_url)
        wait_for(lambda: sum(c["cmd"] == "brpop" for c in broker.client_list()) >= 2,
                 timeout=60, what="both workers waiting on the queue")
        jobs = []
        for count in (1000, 200):  # 10 chunks of the largest size, then 4 of SMALLEST_CHUNK
            job = requests.post(f"{stack.url}/api/v1/jobs", files=upload(count),
                                timeout=60).json()
            jobs.append(requests.get(f"{stack.url}{job['url']}", params={"wait": 60},
                                     timeout=70).json())
        store = JobStore.from_settings(settings)
        readers = [store.chunk_workers(job["id"]) for job in jobs]
        worker_pids = [{*worker.children(), worker.pid} for worker in stack.workers]
    job = jobs[0]
    assert job["status"] == "succeeded"
    assert (job["total"], job["processed"], job["failed"]) == (1000, 1000, 0)
    assert [r["index"] for r in job["results"]] == list(range(1000))
    assert [r["filename"] for r in job["results"]] == [f"{i}.png" for i in range(1000)]
    first_ten = [r["prediction"] for r in job["results"][:10]]
    assert [r["prediction"] for r in job["results"]] == first_ten * 100
    for job, chunks, reader in zip(jobs, (10, 4), readers, strict=True):
        assert job["processed"] == job["total"]
        assert len(reader) == chunks  # every chunk recorded once, by the worker that read it
        pids = [int(name.rsplit(":", 1)[1]) for name in reader.values()]
        chunks_per_worker = [sum(pid in own for pid in pids) for own in worker_pids]
        assert all(count > 0 for count in chunks_per_worker), chunks_per_worker
        assert sum(chunks_per_worker) == chunks
    # the workers measured what a digit costs them, which the next jobs' chunks are cut by
    assert 0 < store.seconds_per_image("digit", min_images=1200) < 0.01
    assert store.seconds_per_image("number", min_images=1) is None
