"""The `failed` status, against real processes: what a user sees when the service, not the
upload, is at fault (a worker whose model will not load, a broker that refuses the enqueue).

- A worker that loads its model lazily (the `threads` pool) and cannot, because the file
  went away after the worker started: its task's catch-all fails the job at once;
  `mnistq submit --wait` exits 1.
- A worker (the default prefork pool) that cannot load its model when it starts: it exits
  (status 1) before any pool process starts and before it takes any chunk (not a loop of
  pool processes that die loading it). That is a deployment error, not the job's, so the
  job is not failed: it waits in the queue, `/readyz` answers 503 (no worker), and it
  completes as soon as a sound worker runs.
- The broker refusing the enqueue (a Redis user that may not LPUSH, which is how kombu
  publishes): the POST answers 500 JSON and the job it had recorded ends `failed`, not
  `queued` until its TTL.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import requests

from common.interactive import taken_key
from common.jobs import FAILED
from common.jobstore import JobStore
from common.redis_keys import UNFINISHED_KEY, is_job_id
from common.settings import Settings
from tests.reliability import digit_files, finished, submit
from tests.stack import BIN, Process, settings_env, spawn, start_api, start_worker
from tests.support import RedisServer, wait_for

pytestmark = pytest.mark.slow


def redis_client(settings: Settings):
    import redis

    return redis.Redis.from_url(settings.broker_url)


def start_unready_worker(settings: Settings, log_dir: Path, pool: str) -> Process:
    """A Celery worker started without waiting for it to get ready (it never will)."""
    argv = [str(BIN / "celery"), "-A", "worker.app", "worker", "-n", f"broken-{pool}@%h",
            "--concurrency", "1", "--pool", pool, "--loglevel", "INFO",
            "--without-gossip", "--without-mingle", "--without-heartbeat"]
    return spawn(f"broken-{pool}", argv, settings_env(settings), log_dir / f"broken-{pool}.log")


def test_fail_ends_a_job_once_and_wakes_its_waiters(redis_server: RedisServer) -> None:
    store = JobStore(redis_server.client(), 3600)
    files = [("a.png", b"x"), ("b.png", b"y")]
    job_id, chunks = store.create_job(files, 1)
    store.fail(job_id, "test: the service cannot process it")
    job = store.get_job(job_id)
    assert (job["status"], job["processed"], job["results"]) == (FAILED, 0, [])
    assert job["finished_at"] is not None
    assert store.wait_until_ended(job_id, timeout=0)  # long-polls return at once
    assert redis_server.client().zscore(UNFINISHED_KEY, job_id) is None  # not counted for 429
    assert not store.store_images(job_id, chunks[1], files)  # nothing more is stored
    assert not store.begin_chunk(job_id, chunks[0]).runnable  # queued chunks are skipped
    assert store.cancel(job_id) == 0  # already ended: DELETE answers 409
    store.fail(job_id, "again")
    assert store.get_job(job_id)["status"] == FAILED


def test_a_worker_that_cannot_load_its_model_fails_the_job_and_submit_exits_1(
    settings: Settings, tmp_path: Path
) -> None:
    # the model is there when the worker starts (it checks), and gone when a chunk needs it
    model = tmp_path / "vanishing.joblib"
    model.write_bytes(settings.model_path.read_bytes())
    model.with_suffix(".json").write_bytes(settings.model_path.with_suffix(".json").read_bytes())
    broken = replace(settings, model_path=model)
    worker = start_unready_worker(broken, tmp_path, pool="threads")
    api = start_api(settings, log_dir=tmp_path)
    try:
        broker = redis_client(settings)
        wait_for(lambda: any(c["cmd"] == "brpop" for c in broker.client_list()), timeout=60,
                 what="the worker to consume")
        model.unlink()
        image = tmp_path / "7.png"
        image.write_bytes(digit_files(8)[7][1])
        done = subprocess.run(
            [sys.executable, "-m", "cli.main", "submit", str(image), "--url", api.url,
             "--wait"], capture_output=True, text=True, env=settings_env(settings), timeout=120)
        assert done.returncode == 1, (done.stdout, done.stderr, worker.log()[-2000:])
        assert "failed" in done.stderr + done.stdout
        job = finished(api.url, submit(api.url, digit_files(3)), timeout=60)
        assert job["status"] == "failed" and job["processed"] == 0
        assert job["finished_at"] is not None
        # the failed batch task forgets what it had taken once it has failed its jobs (a
        # moment after the job reads "failed": waited for, not assumed)
        wait_for(lambda: not list(broker.scan_iter(match=taken_key("*"))), timeout=30,
                 interval=0.1, what="the failed batch task to forget what it had taken")
        assert worker.alive()  # one broken task, not a dead worker
    finally:
        api.stop()
        worker.stop()


def test_a_prefork_worker_that_cannot_load_its_model_is_never_ready_and_costs_no_job(
    settings: Settings, tmp_path: Path
) -> None:
    settings = replace(settings, visibility_timeout=10)
    broken = replace(settings, model_path=tmp_path / "no-such-model.joblib")
    worker = start_unready_worker(broken, tmp_path, pool="prefork")
    api = start_api(settings, log_dir=tmp_path)
    try:
        job = submit(api.url, digit_files(20))
        # its pool process exits (status 1) at start-up, and then the worker itself: loudly,
        # before it ever took a chunk
        assert worker.popen.wait(timeout=120) != 0
        assert redis_client(settings).llen("mnistq") == 1  # the chunk waits in the queue
        ready = requests.get(f"{api.url}/readyz", timeout=10)
        assert ready.status_code == 503 and "worker" in ready.json()["error"]
        assert requests.get(f"{api.url}{job['url']}", timeout=10).json()["status"] == "queued"
        sound = start_worker(settings, "sound", log_dir=tmp_path)
        try:
            job = finished(api.url, job, timeout=90)
        finally:
            sound.stop()
        assert job["status"] == "succeeded" and job["processed"] == 20
    finally:
        api.stop()
        worker.stop()


def test_a_broker_that_refuses_the_enqueue_fails_the_job(
    settings: Settings, redis_server: RedisServer, tmp_path: Path
) -> None:
    # a Redis user allowed everything but LPUSH: the job store works, publishing a task fails
    admin = redis_server.client()
    admin.acl_setuser("api", enabled=True, passwords=["+secret"], keys=["*"], channels=["*"],
                      commands=["+@all", "-lpush"])
    refused = replace(settings, redis_url=f"redis://api:secret@127.0.0.1:{redis_server.port}/0")
    api = start_api(refused, log_dir=tmp_path)
    try:
        parts = [("files", (name, data)) for name, data in digit_files(3)]
        answer = requests.post(f"{api.url}/api/v1/jobs", files=parts, timeout=30)
        assert answer.status_code >= 500 and "error" in answer.json()
        ids = [key.decode().rsplit(":", 1)[1] for key in admin.keys("mnistq:job:*")]
        ids = [job_id for job_id in ids if is_job_id(job_id)]
        assert len(ids) == 1  # the job was recorded before its chunks were sent...
        job = requests.get(f"{api.url}/api/v1/jobs/{ids[0]}", timeout=10).json()
        assert job["status"] == "failed"  # ...and ended failed, not queued forever
        assert job["finished_at"] is not None
        assert admin.llen("mnistq") == 0  # no chunk reached the queue
    finally:
        api.stop()
