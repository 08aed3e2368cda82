"""What users see at the service's edges, each a setting or a promise of the docs: the
`MNISTQ_MAX_WAIT` cap, `/api/v1/model` before any worker, Redis out of memory, several
prediction processes per worker, `MNISTQ_MAX_IMAGE_BYTES`, an image whose bytes are gone, and
the page's security headers. Real processes: a private Redis, the API under gunicorn, Celery
workers (started only when a test needs one)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
import requests

from common.jobstore import JobStore
from common.redis_keys import job_key
from common.settings import Settings
from tests.reliability import digit_files, finished, submit
from tests.stack import Api, start_api, start_worker
from tests.support import RedisServer

pytestmark = pytest.mark.slow


@contextmanager
def api_on(settings: Settings, log_dir: Path) -> Iterator[Api]:
    api = start_api(settings, log_dir=log_dir)
    try:
        yield api
    finally:
        api.stop()


@pytest.fixture()
def idle(settings: Settings, tmp_path: Path) -> Callable[..., Iterator[Api]]:
    """`idle(**changes)`: the API on this test's Redis with `settings` changed, no worker."""
    return lambda **changes: api_on(replace(settings, **changes), tmp_path)


def test_long_polls_are_capped_by_max_wait(idle) -> None:
    with idle(max_wait=1.0) as api:  # no worker: the job cannot end
        job = submit(api.url, digit_files(2))
        # asked to wait ten minutes, each answers once the 1 s cap is over, job still queued
        again = requests.post(f"{api.url}/api/v1/jobs", params={"wait": 600}, timeout=60,
                              files=[("files", ("a.png", digit_files(1)[0][1]))])
        assert again.status_code == 202 and again.json()["status"] == "queued"
        polled = requests.get(f"{api.url}{job['url']}", params={"wait": 600}, timeout=60)
        assert polled.status_code == 200 and polled.json()["status"] == "queued"


def test_the_model_is_503_until_a_worker_has_loaded_one(idle, tmp_path: Path) -> None:
    with idle(model_path=tmp_path / "not-trained-yet.joblib") as api:
        answer = requests.get(f"{api.url}/api/v1/model", timeout=10)
        assert answer.status_code == 503
        assert "no model" in answer.json()["error"] and int(answer.headers["Retry-After"]) > 0


def test_redis_out_of_memory_answers_503_and_recovers(idle, redis_server: RedisServer) -> None:
    with idle() as api:
        admin = redis_server.client()
        admin.config_set("maxmemory-policy", "noeviction")
        admin.config_set("maxmemory", "1")  # full: every write is refused with OOM
        try:
            answer = requests.post(f"{api.url}/api/v1/jobs", timeout=30,
                                   files=[("files", ("a.png", digit_files(1)[0][1]))])
            assert answer.status_code == 503, answer.text
            assert "Redis" in answer.json()["error"] and int(answer.headers["Retry-After"]) > 0
        finally:
            admin.config_set("maxmemory", "0")
        assert submit(api.url, digit_files(1))["status"] == "queued"  # room again: accepted


def test_a_worker_with_two_processes_of_two_threads_serves_jobs(
    settings: Settings, tmp_path: Path
) -> None:
    settings = replace(settings, worker_concurrency=2, worker_threads=2, chunk_size=16)
    worker = start_worker(settings, "two", concurrency=settings.worker_concurrency,
                          log_dir=tmp_path)
    try:
        assert len(worker.pool_pids()) == 2  # both loaded the model and beat
        with api_on(settings, tmp_path) as api:
            assert requests.get(f"{api.url}/readyz", timeout=10).json()["workers"] == 2
            files = digit_files(200)
            job = finished(api.url, submit(api.url, files), timeout=120)
            assert job["status"] == "succeeded" and job["processed"] == 200
            readers = set(JobStore(settings_client(settings), settings.job_ttl)
                          .chunk_workers(job["id"]).values())
            pids = {int(name.rsplit(":", 1)[1]) for name in readers}
            assert pids <= set(worker.pool_pids())  # read by the pool processes, no other
    finally:
        worker.stop()


def settings_client(settings: Settings):
    import redis

    return redis.Redis.from_url(settings.broker_url)


def test_max_image_bytes_is_a_per_file_error_through_the_service(
    settings: Settings, tmp_path: Path
) -> None:
    files = digit_files(3)
    small, large = sorted(len(data) for _, data in files)[0], max(len(d) for _, d in files)
    settings = replace(settings, max_image_bytes=small)
    files.append(("large.png", files[0][1] + b"\0" * (large - len(files[0][1]) + 1)))
    worker = start_worker(settings, "bytes", log_dir=tmp_path)
    try:
        with api_on(settings, tmp_path) as api:
            job = finished(api.url, submit(api.url, files), timeout=60)
    finally:
        worker.stop()
    for result, (_, data) in zip(job["results"], files, strict=True):
        if len(data) > small:
            assert result["prediction"] is None
            assert re.search(rf"file too large: {len(data)} bytes \(limit {small}\)",
                             result["error"]), result
        else:
            assert result["error"] is None and result["prediction"] is not None
    assert job["status"] == "succeeded" and job["failed"] >= 1


def test_an_image_whose_stored_bytes_are_gone_gets_its_own_error(
    settings: Settings, redis_server: RedisServer, tmp_path: Path
) -> None:
    settings = replace(settings, chunk_size=64)
    with api_on(settings, tmp_path) as api:
        job = submit(api.url, digit_files(130))  # chunks 0, 64, 128, all queued: no worker
        # the second chunk's stored bytes vanish (say, evicted by a Redis under pressure)
        assert redis_server.client().hdel(f"{job_key(job['id'])}:images", "64") == 1
        worker = start_worker(settings, "late", log_dir=tmp_path)
        try:
            job = finished(api.url, job, timeout=60)
        finally:
            worker.stop()
    assert job["status"] == "succeeded" and (job["processed"], job["failed"]) == (130, 64)
    for result in job["results"]:
        lost = 64 <= result["index"] < 128
        assert (result["error"] == "image data is no longer stored") == lost, result
        assert (result["prediction"] is None) == lost


def test_the_page_and_its_assets_send_the_security_headers(shared_stack) -> None:
    page = requests.get(f"{shared_stack.url}/", timeout=10)
    assert page.status_code == 200
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    script = re.search(r'src="([^"]+/app\.js)"', page.text).group(1)
    asset = requests.get(f"{shared_stack.url}{script}", timeout=10)
    assert asset.status_code == 200 and asset.headers["X-Content-Type-Options"] == "nosniff"
