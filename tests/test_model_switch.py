"""Model versions in the running service: activation switches every worker between two chunks
without losing an image, results name their model, bad versions change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from common import model_registry
from common.settings import Settings
from core import versions
from tests.model_versions import corrupt_copy
from tests.stack import Stack, running_stack
from tests.support import RedisServer, wait_for
from tests.test_api_jobs import get, many_files, submit, wait_job

pytestmark = pytest.mark.slow

KEY = "versions-test-key"


@pytest.fixture()
def versioned_settings(data_dir: Path, model_dir: Path, redis_server: RedisServer) -> Settings:
    """No MNISTQ_MODEL_PATH: the active version of this test's model folder is served."""
    return Settings(data_dir=data_dir, model_dir=model_dir, redis_url=redis_server.url,
                    api_key=KEY, chunk_size=64)


@pytest.fixture()
def two_workers(versioned_settings: Settings, tmp_path: Path) -> Iterator[Stack]:
    with running_stack(versioned_settings, tmp_path / "logs", workers=2) as running:
        yield running


def activate(stack: Stack, version: str, **extra: object) -> requests.Response:
    return requests.put(f"{stack.url}/api/v1/model", json={"version": version, **extra},
                        headers=stack.headers, timeout=30)


def workers_on(stack: Stack, version: str, count: int) -> bool:
    shown = get(stack, "/api/v1/models").json()["workers"]
    return len(shown) == count and all(w["version"] == version and w["error"] is None
                                       for w in shown)


def test_activation_switches_every_worker_while_a_job_runs_and_loses_nothing(
    two_workers: Stack, two_versions: tuple[Path, str, str]
) -> None:
    _, a, b = two_versions
    listed = get(two_workers, "/api/v1/models").json()
    assert listed["active"] == a and [v["version"] for v in listed["versions"]] == [a, b]
    assert get(two_workers, "/api/v1/model").json()["version"] == a
    wait_for(lambda: workers_on(two_workers, a, 2), timeout=30, what="both workers on A")

    files = many_files(3000)
    job_id = submit(two_workers, files).json()["id"]
    wait_for(lambda: get(two_workers, f"/api/v1/jobs/{job_id}").json()["processed"] > 0,
             timeout=60, what="the job under way")
    answer = activate(two_workers, b)
    assert answer.status_code == 200 and answer.json()["version"] == b

    job = wait_job(two_workers, job_id)
    assert job["status"] == "succeeded" and job["failed"] == 0
    results = job["results"]
    assert [r["index"] for r in results] == list(range(len(files)))
    assert all(r["prediction"] is not None and r["model"] in (a, b) for r in results)
    assert job["models"] == sorted({r["model"] for r in results})
    assert a in job["models"]  # the chunks recorded before the activation

    wait_for(lambda: workers_on(two_workers, b, 2), timeout=60, what="both workers on B")
    after = wait_job(two_workers, submit(two_workers, files[:200]).json()["id"])
    assert after["models"] == [b] and {r["model"] for r in after["results"]} == {b}
    assert get(two_workers, "/api/v1/model").json()["version"] == b


def test_bad_versions_change_nothing_and_a_worker_that_cannot_load_keeps_its_model(
    versioned_settings: Settings, two_versions: tuple[Path, str, str], model_dir: Path,
    redis_server: RedisServer, tmp_path: Path,
) -> None:
    _, a, b = two_versions
    bad = corrupt_copy(model_dir, b)
    with running_stack(versioned_settings, tmp_path / "logs", workers=1) as stack:
        wait_for(lambda: workers_on(stack, a, 1), timeout=30, what="the worker on A")
        assert requests.put(f"{stack.url}/api/v1/model", json={"version": b},
                            timeout=10).status_code == 401  # the API key is set
        unknown = activate(stack, "20200101-000000-12345678")
        assert unknown.status_code == 404 and "unknown model version" in unknown.json()["error"]
        assert activate(stack, "nonsense").status_code == 404
        assert requests.put(f"{stack.url}/api/v1/model", data="7", headers=stack.headers,
                            timeout=10).status_code == 400
        refused = activate(stack, bad)
        assert refused.status_code == 409 and "SHA-256" in refused.json()["error"]
        assert get(stack, "/api/v1/models").json()["active"] == a
        assert versions.active_version(model_dir) == a

        # A version published whose file is damaged on the worker's disk: it stays on A
        model_registry.publish_active(redis_server.client(), bad)
        shown = wait_for(lambda: [w for w in get(stack, "/api/v1/models").json()["workers"]
                                  if w["error"]], timeout=30, what="the worker's refusal")
        assert shown[0]["version"] == a and bad in shown[0]["error"]
        assert "SHA-256" in shown[0]["error"]
        job = wait_job(stack, submit(stack, many_files(20)).json()["id"])
        assert job["models"] == [a] and job["failed"] == 0

        # back to a good version: the error goes, and rollback returns to A
        assert activate(stack, b).status_code == 200
        wait_for(lambda: workers_on(stack, b, 1), timeout=60, what="the worker on B")
        assert versions.rollback(model_dir).active == a
        model_registry.publish_active(redis_server.client(), a)
        wait_for(lambda: workers_on(stack, a, 1), timeout=60, what="the worker back on A")
