"""Limits and access: API key, too many files or bytes, a full queue, readiness."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from cli.main import main
from common.settings import Settings
from tests.conftest import IMAGES_TEST
from tests.stack import Api, start_api, start_worker
from tests.support import RedisServer, wait_for

pytestmark = pytest.mark.slow

KEY = "test-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
IMAGE = (IMAGES_TEST / "digit7_test0.png").read_bytes()


@pytest.fixture()
def limited(
    data_dir: Path, small_model_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, Api, Path]]:
    """An API (no worker yet) with small limits and an API key, on its own Redis: one per
    test, so that no test sees another's queued jobs (the 429 limit counts them)."""
    base = tmp_path_factory.mktemp("limits")
    server = RedisServer(base / "redis").start()
    settings = Settings(
        data_dir=data_dir, model_path=small_model_path, redis_url=server.url,
        max_files=3, max_upload_bytes=20_000, max_queued_jobs=2, api_key=KEY,
    )
    api = start_api(settings, log_dir=base)
    try:
        yield settings, api, base
    finally:
        api.stop()
        server.stop()


def post(api: Api, n: int, data: bytes = IMAGE, headers: dict | None = None, **params):
    files = [("files", (f"{i}.png", data, "image/png")) for i in range(n)]
    return requests.post(f"{api.url}/api/v1/jobs", files=files, params=params,
                         headers=AUTH if headers is None else headers, timeout=30)


def test_every_api_route_needs_the_key(limited) -> None:
    _, api, _ = limited
    for path in ("/api/v1/jobs/" + "0" * 32, "/api/v1/model", "/api/v1/openapi.json",
                 "/api/v1/jobs/" + "0" * 32 + "/results"):
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}):
            response = requests.get(api.url + path, headers=headers, timeout=10)
            assert response.status_code == 401, (path, headers)
            assert "error" in response.json()
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert post(api, 1, headers={}).status_code == 401
    assert requests.get(api.url + "/api/v1/openapi.json", headers=AUTH, timeout=10).ok
    assert requests.get(api.url + "/healthz", timeout=10).ok  # probes need no key


def test_too_many_files_or_bytes_is_413(limited) -> None:
    _, api, _ = limited
    too_many = post(api, 4)
    assert too_many.status_code == 413 and "3" in too_many.json()["error"]
    too_big = post(api, 1, data=b"\x89PNG" + b"\0" * 30_000)
    assert too_big.status_code == 413 and "error" in too_big.json()


def test_readyz_needs_a_worker_and_a_full_queue_is_429(limited) -> None:
    settings, api, base = limited
    not_ready = requests.get(api.url + "/readyz", timeout=10)
    assert not_ready.status_code == 503 and "worker" in not_ready.json()["error"]
    # without a worker jobs stay queued: the third unfinished job is refused
    first, second = post(api, 1), post(api, 2)
    assert (first.status_code, second.status_code) == (202, 202)
    full = post(api, 1)
    assert full.status_code == 429 and int(full.headers["Retry-After"]) > 0
    assert "error" in full.json()
    worker = start_worker(settings, "limits", log_dir=base)
    try:
        assert requests.get(api.url + "/readyz", timeout=10).status_code == 200
        for accepted in (first, second):
            job = requests.get(api.url + accepted.json()["url"], params={"wait": 30},
                               headers=AUTH, timeout=40).json()
            assert job["status"] == "succeeded"
        assert post(api, 1, wait=30).status_code == 200  # the queue drained: accepted again
    finally:
        worker.stop()
    wait_for(lambda: requests.get(api.url + "/readyz", timeout=10).status_code == 503,
             timeout=20, what="readyz 503 once the worker has stopped")


def test_submit_sends_the_key_from_the_settings(limited, capsys, monkeypatch) -> None:
    _, api, _ = limited
    image = str(IMAGES_TEST / "digit7_test0.png")
    monkeypatch.delenv("MNISTQ_API_KEY", raising=False)
    assert main(["submit", image, "--url", api.url]) == 3
    assert "401" in capsys.readouterr().err
    monkeypatch.setenv("MNISTQ_API_KEY", KEY)
    assert main(["submit", image, "--url", api.url]) == 0
