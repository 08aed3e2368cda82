"""Redis and the API restart under running jobs; the jobs do not notice.

Each restart strikes while a chunk is being predicted (a worker running
`tests.faulty_worker` takes a couple of seconds on one marked image). Redis runs with
append-only persistence, as `mnistq up` and compose run it: queued chunks,
unacknowledged chunks and job state survive a restart on the same port and data directory.
While Redis is down the API says so with a JSON 503, and `/readyz` says why.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from common.settings import Settings
from tests.reliability import (
    CHUNK,
    FAULTY_APP,
    SLOW_AT,
    STRUCK,
    VISIBILITY,
    Chunks,
    assert_each_result_once,
    digit_files,
    finished,
    kill_group,
    predictions_match_samples,
    submit,
)
from tests.stack import running_stack, start_api
from tests.support import RedisServer

pytestmark = pytest.mark.slow



def test_redis_restarting_under_running_jobs_loses_nothing(
    data_dir: Path, small_model_path: Path, tmp_path: Path
) -> None:
    server = RedisServer(tmp_path / "redis", appendonly=True).start()
    settings = Settings(data_dir=data_dir, model_path=small_model_path, redis_url=server.url,
                        chunk_size=CHUNK, visibility_timeout=VISIBILITY)
    running_files, queued_files = digit_files(400, slow=SLOW_AT), digit_files(60)
    try:
        with running_stack(settings, tmp_path / "logs", app=FAULTY_APP) as stack:
            running = submit(stack.url, running_files)
            queued = submit(stack.url, queued_files)
            Chunks(server.url, running["id"]).when_in_flight(STRUCK)
            server.stop()  # mid-chunk: its results cannot be recorded, nor the message acked

            upload = requests.post(f"{stack.url}/api/v1/jobs", timeout=30,
                                   files=[("files", ("a.png", running_files[0][1]))])
            poll = requests.get(f"{stack.url}{running['url']}", timeout=30)
            ready = requests.get(f"{stack.url}/readyz", timeout=30)
            for answer in (upload, poll, ready):
                assert answer.status_code == 503
                assert answer.headers["Content-Type"].startswith("application/json")
                assert "Redis" in answer.json()["error"]
                assert int(answer.headers["Retry-After"]) > 0
            assert requests.get(f"{stack.url}/healthz", timeout=30).status_code == 200

            server.start()  # same port, same data directory: the append-only file is replayed
            # a chunk cut off by the outage comes back after the visibility timeout (and one
            # restore sweep), not Redis's one-hour default: the job ends within this bound
            jobs = [finished(stack.url, running, timeout=VISIBILITY + 45),
                    finished(stack.url, queued, timeout=60)]
            after_files = digit_files(30)
            after = finished(stack.url, submit(stack.url, after_files), timeout=60)
            assert stack.ready()
    finally:
        server.stop()
    for job, files in zip([*jobs, after], [running_files, queued_files, after_files],
                          strict=True):
        assert_each_result_once(job, files)
        assert predictions_match_samples(job)


def test_the_api_restarting_mid_job_changes_nothing_for_the_job(
    settings: Settings, tmp_path: Path
) -> None:
    settings = replace(settings, chunk_size=CHUNK, visibility_timeout=VISIBILITY)
    files = digit_files(400, slow=SLOW_AT)
    logs = tmp_path / "logs"
    with running_stack(settings, logs, app=FAULTY_APP) as stack:
        job = submit(stack.url, files)
        Chunks(settings.broker_url, job["id"]).when_in_flight(STRUCK)
        seen = requests.get(f"{stack.url}{job['url']}", timeout=30).json()["processed"]
        kill_group(stack.api)
        api = start_api(settings, port=urlsplit(stack.url).port, log_dir=logs)
        try:
            job = finished(api.url, job, timeout=90)
        finally:
            api.stop()
    assert_each_result_once(job, files)
    assert predictions_match_samples(job)
    assert job["processed"] >= seen
