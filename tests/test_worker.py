"""Workers: two share one large job, each image's result recorded exactly once."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import requests

from common.settings import Settings
from tests.conftest import IMAGES_TEST
from tests.stack import running_stack

pytestmark = pytest.mark.slow


def test_two_workers_share_one_large_job(settings: Settings, tmp_path: Path) -> None:
    settings = replace(settings, chunk_size=25)
    samples = sorted(IMAGES_TEST.glob("*.png"))
    files = [("files", (f"{i}.png", samples[i % 10].read_bytes(), "image/png"))
             for i in range(1000)]
    with running_stack(settings, tmp_path / "logs", workers=2) as stack:
        job = requests.post(f"{stack.url}/api/v1/jobs", files=files, timeout=60).json()
        job = requests.get(f"{stack.url}{job['url']}", params={"wait": 60}, timeout=70).json()
        logs = [worker.log() for worker in stack.workers]
    assert job["status"] == "succeeded"
    assert (job["total"], job["processed"], job["failed"]) == (1000, 1000, 0)
    assert [r["index"] for r in job["results"]] == list(range(1000))
    assert [r["filename"] for r in job["results"]] == [f"{i}.png" for i in range(1000)]
    first_ten = [r["prediction"] for r in job["results"][:10]]
    assert [r["prediction"] for r in job["results"]] == first_ten * 100
    chunks_per_worker = [log.count(f"job {job['id']}: chunk ") for log in logs]
    assert all(count > 0 for count in chunks_per_worker), chunks_per_worker
    assert sum(chunks_per_worker) == 40
