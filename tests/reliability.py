"""Helpers of the reliability tests (tests/test_reliability_*.py): jobs and faults.

The tests record no figures: what they prove is their assertions (docs/reliability.md names
each test); a figure worth quoting is measured in `bench/`.
"""

from __future__ import annotations

import os
import signal
import time
from contextlib import suppress

import redis
import requests

from common.redis_keys import job_key
from tests.conftest import IMAGES_TEST
from tests.faulty_worker import SLOW
from tests.stack import Process
from tests.support import wait_for

FAULTY_APP = "tests.faulty_worker"  # the real worker with test-only faults (see that module)
SAMPLES = sorted(IMAGES_TEST.glob("*.png"))

CHUNK = 25  # images per chunk in these tests: a few ms of work, SLOW_SECONDS for the marked one
VISIBILITY = 10  # seconds before an unacknowledged chunk is redelivered
SLOW_AT = 110  # the image carrying the SLOW marker: its chunk (100-125) is the one struck
STRUCK = SLOW_AT // CHUNK * CHUNK


def digit_files(n: int, slow: int | None = None) -> list[tuple[str, bytes]]:
    """`n` (name, bytes) uploads cycling through the ten sample digits; image `slow` (if
    given) carries the SLOW marker, so a faulty worker takes SLOW_SECONDS on its chunk."""
    files = [(f"{i:04d}-{SAMPLES[i % 10].name}", SAMPLES[i % 10].read_bytes())
             for i in range(n)]
    if slow is not None:
        files[slow] = (files[slow][0], files[slow][1] + SLOW)
    return files


def submit(url: str, files: list[tuple[str, bytes]], headers: dict | None = None) -> dict:
    """Upload a job the way `mnistq submit` does; return the 202 body."""
    parts = [("files", (name, data, "application/octet-stream")) for name, data in files]
    response = requests.post(f"{url}/api/v1/jobs", files=parts, headers=headers or {},
                             timeout=60)
    assert response.status_code == 202, response.text
    return response.json()


def finished(url: str, job: dict, timeout: float, headers: dict | None = None) -> dict:
    """Long-poll the job until it ends (or fail after `timeout` s); return it."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"job {job['id']} did not end within {timeout} s"
        response = requests.get(f"{url}/api/v1/jobs/{job['id']}", headers=headers or {},
                                params={"wait": min(left, 30)}, timeout=min(left, 30) + 15)
        body = response.json()
        if response.status_code != 200:  # e.g. 503 while Redis comes back: ask again shortly
            time.sleep(0.2)
        elif body["status"] in ("succeeded", "cancelled", "failed"):
            return body


def assert_each_result_once(job: dict, files: list[tuple[str, bytes]]) -> None:
    """The promise: the job succeeded and every image has exactly one result, in order."""
    total = len(files)
    assert job["status"] == "succeeded", {k: v for k, v in job.items() if k != "results"}
    assert (job["total"], job["processed"], job["failed"]) == (total, total, 0)
    assert len(job["results"]) == total
    assert [r["index"] for r in job["results"]] == list(range(total))
    assert [r["filename"] for r in job["results"]] == [name for name, _ in files]


def predictions_match_samples(job: dict) -> bool:
    """Image i is sample i % 10, so its prediction repeats every ten images."""
    first = [r["prediction"] for r in job["results"][:10]]
    return all(r["prediction"] == first[r["index"] % 10] for r in job["results"])


class Chunks:
    """What Redis says about a job's chunks: deliveries counted and results recorded."""

    def __init__(self, redis_url: str, job_id: str) -> None:
        self.client = redis.Redis.from_url(redis_url)
        self.key = job_key(job_id)

    def deliveries(self) -> dict[int, int]:
        fields = self.client.hgetall(self.key)
        return {int(k.split(b":")[1]): int(v) for k, v in fields.items()
                if k.startswith(b"attempts:")}

    def recorded(self) -> set[int]:
        return {int(k) for k in self.client.hkeys(f"{self.key}:results")}

    def in_flight(self) -> set[int]:
        """Chunks a worker has begun and not yet recorded."""
        return set(self.deliveries()) - self.recorded()

    def when_in_flight(self, start: int, timeout: float = 60) -> None:
        """Wait until a worker is predicting the chunk that begins at image `start`."""
        wait_for(lambda: start in self.in_flight(), timeout=timeout, interval=0.01,
                 what=f"chunk {start} being predicted")


def kill_group(process: Process) -> None:
    """SIGKILL a process and everything it started (a crash, an OOM kill of a container)."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.popen.wait(timeout=30)
