"""Users submit jobs to the real stack (Redis, a Celery worker, the API under gunicorn)."""

from __future__ import annotations

import csv
import io
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import redis
import requests

from api.app import create_app
from common.queue import queue_keys
from common.settings import Settings
from core.imaging import ImageLimits
from core.pipeline import predict_files
from tests.conftest import IMAGES_TEST
from tests.reliability import Chunks
from tests.stack import Stack, start_api, start_worker
from tests.support import wait_for

pytestmark = pytest.mark.slow

ENDED = {"succeeded", "cancelled", "failed"}


def images_test() -> list[tuple[str, bytes, int]]:
    """(filename, bytes, label) of the 10 sample images, in labels.csv order."""
    rows = csv.DictReader((IMAGES_TEST / "labels.csv").open())
    return [(r["filename"], (IMAGES_TEST / r["filename"]).read_bytes(), int(r["label"]))
            for r in rows]


def submit(stack: Stack, files: list[tuple[str, bytes]], wait: float | None = None):
    params = {"wait": wait} if wait is not None else {}
    parts = [("files", (name, data, "application/octet-stream")) for name, data in files]
    return requests.post(f"{stack.url}/api/v1/jobs", files=parts, params=params,
                         headers=stack.headers, timeout=60)


def get(stack: Stack, path: str, timeout: float = 60, **params):
    return requests.get(stack.url + path, params=params, headers=stack.headers, timeout=timeout)


def wait_job(stack: Stack, job_id: str) -> dict:
    job = get(stack, f"/api/v1/jobs/{job_id}", wait=30).json()
    assert job["status"] in ENDED, job
    return job


def many_files(n: int) -> list[tuple[str, bytes]]:
    samples = images_test()
    return [(f"{i}-{samples[i % 10][0]}", samples[i % 10][1]) for i in range(n)]


def test_the_ten_sample_images_are_read_right(shared_stack: Stack, small_model) -> None:
    samples = images_test()
    response = submit(shared_stack, [(name, data) for name, data, _ in samples], wait=30)
    assert response.status_code == 200, response.text
    job = response.json()
    assert job["status"] == "succeeded"
    assert (job["total"], job["processed"], job["failed"]) == (10, 10, 0)
    assert [r["index"] for r in job["results"]] == list(range(10))
    assert [r["filename"] for r in job["results"]] == [name for name, _, _ in samples]
    assert [r["prediction"] for r in job["results"]] == [label for _, _, label in samples]
    # the service gives exactly what the model gives in-process
    local = predict_files(small_model, [(i, n, d) for i, (n, d, _) in enumerate(samples)],
                          ImageLimits(max_bytes=16 << 20, max_pixels=40_000_000))
    assert [(r["prediction"], r["runner_up"]) for r in job["results"]] == [
        (r.prediction, r.runner_up) for r in local]
    # (confidences may differ in the last rounded digit: BLAS threads sum in another order)
    assert [r["confidence"] for r in job["results"]] == pytest.approx(
        [r.confidence for r in local], abs=2e-4)
    assert all(r["error"] is None and 0 < r["confidence"] <= 1 for r in job["results"])
    assert job["finished_at"] >= job["created_at"]


def test_without_wait_the_upload_is_accepted_with_a_location(shared_stack: Stack) -> None:
    response = submit(shared_stack, many_files(3))
    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"id", "status", "total", "read", "url"}
    assert body["total"] == 3 and body["status"] == "queued"
    assert len(body["id"]) == 32 and response.headers["Location"] == body["url"]
    assert wait_job(shared_stack, body["id"])["status"] == "succeeded"


def test_bad_files_get_their_own_errors_and_the_job_still_succeeds(shared_stack: Stack) -> None:
    good_name, good, label = images_test()[3]
    files = [
        (good_name, good),
        ("notes.txt", b"this is not an image\n"),
        ("truncated.png", good[: len(good) // 2]),
        ("empty.png", b""),
        ("=cmd|' /C calc'!A0.png", good),
    ]
    job = submit(shared_stack, files, wait=30).json()
    assert job["status"] == "succeeded"
    assert (job["total"], job["processed"], job["failed"]) == (5, 5, 3)
    results = job["results"]
    assert results[0]["prediction"] == label and results[0]["error"] is None
    for bad in results[1:4]:
        assert bad["prediction"] is None and bad["confidence"] is None
        assert isinstance(bad["error"], str) and bad["error"]
    assert results[4]["filename"] == files[4][0]  # echoed as sent in JSON...
    download = get(shared_stack, f"/api/v1/jobs/{job['id']}/results", format="csv")
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert rows[4]["filename"].startswith("'=")  # ...and defused in CSV


def test_progress_only_grows_until_the_job_ends(shared_stack: Stack) -> None:
    job_id = submit(shared_stack, many_files(1200)).json()["id"]
    seen: list[tuple[int, int]] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = get(shared_stack, f"/api/v1/jobs/{job_id}").json()
        seen.append((job["processed"], job["failed"]))
        if job["status"] in ENDED:
            break
        assert job["results"] is None  # results only once the job has ended
    assert job["status"] == "succeeded" and job["processed"] == 1200
    assert seen == sorted(seen)
    assert len(job["results"]) == 1200


@pytest.fixture()
def idle_api(settings: Settings, tmp_path: Path) -> Iterator[Stack]:
    """The API on this test's Redis with no worker yet (start one with `start_worker`):
    a job stays queued until the test says otherwise. Long-polls may wait 10 minutes."""
    settings = replace(settings, max_wait=600.0, chunk_size=64)
    api = start_api(settings, log_dir=tmp_path)
    try:
        yield Stack(api.url, settings, api, [])
    finally:
        api.stop()


def test_a_long_poll_returns_when_the_job_ends_not_when_the_wait_is_over(
    idle_api: Stack, tmp_path: Path
) -> None:
    job_id = submit(idle_api, many_files(600)).json()["id"]
    answers: list[dict] = []
    poll = threading.Thread(target=lambda: answers.append(
        get(idle_api, f"/api/v1/jobs/{job_id}", wait=600, timeout=700).json()))
    poll.start()
    worker = start_worker(idle_api.settings, "late", log_dir=tmp_path)
    try:
        # 600 s is the wait: an answer long before it means the end woke the poll
        wait_for(lambda: not poll.is_alive(), timeout=120, what="the long-poll to answer")
    finally:
        worker.stop()
    assert answers[0]["status"] == "succeeded" and len(answers[0]["results"]) == 600
    # an ended job answers a long-poll at once, with the same job
    again = threading.Thread(target=lambda: answers.append(
        get(idle_api, f"/api/v1/jobs/{job_id}", wait=600, timeout=700).json()))
    again.start()
    wait_for(lambda: not again.is_alive(), timeout=60, what="the second long-poll to answer")
    assert answers[1] == answers[0]


def test_cancel_skips_every_queued_chunk_and_conflicts_once_ended(
    idle_api: Stack, tmp_path: Path
) -> None:
    total = 1000  # 16 chunks of 64, all still queued: no worker runs yet
    job_id = submit(idle_api, many_files(total)).json()["id"]
    response = requests.delete(f"{idle_api.url}/api/v1/jobs/{job_id}", timeout=10)
    assert response.status_code == 200, response.text
    cancelled = response.json()
    assert cancelled["status"] == "cancelled" and cancelled["finished_at"] is not None
    assert (cancelled["total"], cancelled["processed"], cancelled["results"]) == (total, 0, [])
    again = requests.delete(f"{idle_api.url}/api/v1/jobs/{job_id}", timeout=10)
    assert again.status_code == 409 and "cancelled" in again.json()["error"]
    # a worker comes; the later job is queued behind the 16 cancelled chunks
    worker = start_worker(idle_api.settings, "after-cancel", log_dir=tmp_path)
    broker = redis.Redis.from_url(idle_api.settings.broker_url)
    try:
        after = submit(idle_api, many_files(3), wait=60).json()
        assert after["status"] == "succeeded" and after["processed"] == 3
        # the worker consumes the cancelled chunks too (small jobs' lane first), skipping each
        wait_for(lambda: not any(broker.llen(key) for key in queue_keys()), timeout=60,
                 what="every queued chunk to be consumed")
    finally:
        worker.stop()
    # every cancelled chunk was skipped, not predicted: none was begun, and the skipped
    # images are reported as such: counted in total, never processed, no result
    assert Chunks(idle_api.settings.broker_url, job_id).deliveries() == {}
    job = get(idle_api, f"/api/v1/jobs/{job_id}").json()
    assert (job["status"], job["total"], job["processed"], job["results"]) == (
        "cancelled", total, 0, [])


def test_unknown_and_malformed_ids_are_404(shared_stack: Stack) -> None:
    for job_id in ("0" * 32, "not-a-job", "../../etc/passwd", "A" * 32):
        for path in (f"/api/v1/jobs/{job_id}", f"/api/v1/jobs/{job_id}/results"):
            response = get(shared_stack, path)
            assert response.status_code == 404, path
            assert "error" in response.json()
        response = requests.delete(f"{shared_stack.url}/api/v1/jobs/{job_id}", timeout=10)
        assert response.status_code == 404


def test_an_upload_without_files_is_400(shared_stack: Stack) -> None:
    url = f"{shared_stack.url}/api/v1/jobs"
    for kwargs in (
        {},
        {"files": [("other", ("a.png", b"x"))]},
        {"data": {"files": "not a file"}},
        {"json": {"files": []}},
        {"files": [("files", ("", b""))]},  # a browser's empty file input
    ):
        response = requests.post(url, timeout=10, **kwargs)
        assert response.status_code == 400, kwargs
        assert "error" in response.json()
    assert submit(shared_stack, many_files(1), wait=-1).status_code == 400


def test_results_download_as_json_and_csv(shared_stack: Stack) -> None:
    job = submit(shared_stack, many_files(12), wait=30).json()
    path = f"/api/v1/jobs/{job['id']}/results"
    as_json = get(shared_stack, path)
    assert as_json.status_code == 200 and "attachment" in as_json.headers["Content-Disposition"]
    assert as_json.json() == job["results"]
    as_csv = get(shared_stack, path, format="csv")
    assert as_csv.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [int(r["prediction"]) for r in rows] == [r["prediction"] for r in job["results"]]
    # Each digit's box: four numbers in the CSV, one array in the JSON.
    assert [[int(r[k]) for k in ("box_x", "box_y", "box_width", "box_height")] for r in rows] \
        == [r["box"] for r in job["results"]]
    assert all(min(x, y) >= 0 and 0 < x + w <= 28 and 0 < y + h <= 28
               for x, y, w, h in (r["box"] for r in job["results"]))
    assert get(shared_stack, path, format="xml").status_code == 400


def test_errors_are_json(shared_stack: Stack) -> None:
    for method, path, status in (("PUT", "/api/v1/jobs", 405), ("GET", "/nowhere", 404),
                                 ("PATCH", "/healthz", 405)):
        response = requests.request(method, shared_stack.url + path, timeout=10)
        assert response.status_code == status
        assert response.headers["Content-Type"].startswith("application/json")
        assert isinstance(response.json()["error"], str)


def test_health_ready_and_model(shared_stack: Stack, small_model_path: Path) -> None:
    assert get(shared_stack, "/healthz").json() == {"status": "ok"}
    ready = get(shared_stack, "/readyz")
    assert ready.status_code == 200 and ready.json()["workers"] >= 1
    model = get(shared_stack, "/api/v1/model")
    assert model.status_code == 200
    assert model.json()["artifact"] == small_model_path.name


def test_openapi_document_covers_every_route(shared_stack: Stack) -> None:
    spec = get(shared_stack, "/api/v1/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    app = create_app(shared_stack.settings)
    for rule in app.url_map.iter_rules():
        path = rule.rule.replace("<", "{").replace(">", "}")
        assert path in spec["paths"], path
        documented = {m.upper() for m in spec["paths"][path]}
        assert rule.methods - {"HEAD", "OPTIONS"} <= documented, path
