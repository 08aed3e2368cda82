"""A person corrects doubtful readings through the real stack (Redis, a Celery worker, the
API under gunicorn): `PUT /api/v1/jobs/<id>/results/<index>`, then every GET, the CSV and the
corrections store on disk show it."""

from __future__ import annotations

import csv
import errno
import io
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import redis
import requests

from common.corrections import CorrectionStore
from common.jobstore import JobStore
from common.redis_keys import job_key
from core.data import load_split
from tests.stack import Stack, own_stack, start_api
from tests.support import encode, wait_for
from tests.test_numbers import digits_of, write_row

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def review_stack(data_dir: Path, small_model_path: Path,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Its own Redis, one worker, the API, and a corrections store in a temporary folder."""
    with own_stack(tmp_path_factory.mktemp("review"), data_dir, small_model_path) as running:
        yield running


@pytest.fixture(scope="module")
def mnist(data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    return load_split(data_dir, "test", limit=400)


def submit(stack: Stack, files: list[tuple[str, bytes]], read: str = "digit") -> dict:
    parts = [("files", (name, body, "image/png")) for name, body in files]
    response = requests.post(f"{stack.url}/api/v1/jobs", files=parts,
                             params={"wait": 30, "read": read}, headers=stack.headers,
                             timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def correct(stack: Stack, job_id: str, index: object, body: object,
            headers: dict[str, str] | None = None) -> requests.Response:
    return requests.put(f"{stack.url}/api/v1/jobs/{job_id}/results/{index}", json=body,
                        headers=stack.headers if headers is None else headers, timeout=30)


def get_job(stack: Stack, job_id: str) -> dict:
    return requests.get(f"{stack.url}/api/v1/jobs/{job_id}", headers=stack.headers,
                        timeout=30).json()


def csv_rows(stack: Stack, job_id: str) -> list[dict[str, str]]:
    text = requests.get(f"{stack.url}/api/v1/jobs/{job_id}/results", params={"format": "csv"},
                        headers=stack.headers, timeout=30).text
    return list(csv.DictReader(io.StringIO(text)))


def store_of(stack: Stack) -> CorrectionStore:
    """A new store on the service's folder, as a retraining process would open it."""
    return CorrectionStore(stack.settings.corrections_dir)


@pytest.fixture()
def digit_job(review_stack: Stack, mnist) -> dict:
    """Three MNIST test digits as PNG (their normalised form is the image itself) and a blank."""
    images, _ = mnist
    files = [(f"d{i}.png", encode(images[i])) for i in range(3)]
    files.append(("blank.png", encode(np.full((40, 40), 250, np.uint8))))
    return submit(review_stack, files)


def test_a_correction_shows_in_the_job_the_csv_and_the_store(review_stack: Stack, mnist,
                                                             digit_job: dict) -> None:
    images, _ = mnist
    job_id, first = digit_job["id"], digit_job["results"][0]
    wrong = (first["prediction"] + 1) % 10
    response = correct(review_stack, job_id, 0, {"label": wrong})
    assert response.status_code == 200, response.text
    assert response.json() == {**first, "corrected": wrong}

    job = get_job(review_stack, job_id)
    assert job["results"][0]["corrected"] == wrong
    assert job["results"][0]["prediction"] == first["prediction"]  # the machine's stays
    assert "corrected" not in job["results"][1]
    rows = csv_rows(review_stack, job_id)
    assert list(rows[0])[-1] == "corrected"
    assert [row["corrected"] for row in rows] == [str(wrong), "", "", ""]

    [kept] = [c for c in store_of(review_stack).read() if c.job == job_id]
    assert (kept.index, kept.filename, kept.label, kept.kind) == (0, "d0.png", wrong, "correct")
    assert (kept.prediction, kept.confidence) == (first["prediction"], first["confidence"])
    assert kept.model == first["model"] and kept.digit is None
    assert np.array_equal(kept.image, images[0])  # the normalised digit, not the upload


def test_confirming_a_reading_counts_and_the_latest_word_wins(review_stack: Stack,
                                                              digit_job: dict) -> None:
    job_id, second = digit_job["id"], digit_job["results"][1]
    assert correct(review_stack, job_id, 1, {"label": (second["prediction"] + 3) % 10}
                   ).status_code == 200
    response = correct(review_stack, job_id, 1, {"label": second["prediction"]})
    assert response.status_code == 200 and response.json()["corrected"] == second["prediction"]
    assert get_job(review_stack, job_id)["results"][1]["corrected"] == second["prediction"]
    [kept] = [c for c in store_of(review_stack).read() if c.job == job_id]
    assert (kept.label, kept.kind) == (second["prediction"], "confirm")


@pytest.mark.parametrize("body", [
    {"label": 10}, {"label": -1}, {"label": "7"}, {"label": 7.0}, {"label": True},
    {"label": None}, {}, [7], "7", {"text": "7"},
])
def test_a_bad_label_is_refused_with_the_reason(review_stack: Stack, digit_job: dict,
                                                body: object) -> None:
    response = correct(review_stack, digit_job["id"], 0, body)
    assert response.status_code == 400
    assert "label" in response.json()["error"]
    assert "corrected" not in get_job(review_stack, digit_job["id"])["results"][0]


def test_a_body_that_is_not_json_is_refused(review_stack: Stack, digit_job: dict) -> None:
    response = requests.put(f"{review_stack.url}/api/v1/jobs/{digit_job['id']}/results/0",
                            data=b"seven", headers=review_stack.headers, timeout=30)
    assert response.status_code == 400 and "label" in response.json()["error"]


@pytest.mark.parametrize("index", [4, 99, -1, "x", "1.0"])
def test_an_index_outside_the_job_is_not_found(review_stack: Stack, digit_job: dict,
                                               index: object) -> None:
    response = correct(review_stack, digit_job["id"], index, {"label": 1})
    assert response.status_code == 404
    assert "0 to 3" in response.json()["error"]


def test_unknown_and_expired_jobs(review_stack: Stack) -> None:
    unknown = correct(review_stack, "0" * 32, 0, {"label": 1})
    assert unknown.status_code == 404 and "unknown id" in unknown.json()["error"]
    assert correct(review_stack, "not-a-job", 0, {"label": 1}).status_code == 404

    client = redis.Redis.from_url(review_stack.settings.broker_url)
    job_id, _ = JobStore(client, ttl=1).create_job([("a.png", b"x")], 64)
    wait_for(lambda: not client.exists(job_key(job_id)), timeout=10, what="the job to expire")
    expired = correct(review_stack, job_id, 0, {"label": 1})
    assert expired.status_code == 410 and "expired at" in expired.json()["error"]


def test_a_job_still_running_cannot_be_corrected_yet(review_stack: Stack) -> None:
    client = redis.Redis.from_url(review_stack.settings.broker_url)
    job_id, _ = JobStore(client, ttl=600).create_job([("a.png", b"x")], 64)  # never enqueued
    response = correct(review_stack, job_id, 0, {"label": 1})
    assert response.status_code == 409 and "queued" in response.json()["error"]


def test_an_error_without_a_digit_image_cannot_be_labelled(review_stack: Stack,
                                                           digit_job: dict) -> None:
    assert digit_job["results"][3]["error"] == "no digit found"
    response = correct(review_stack, digit_job["id"], 3, {"label": 1})
    assert response.status_code == 409
    assert "no digit image" in response.json()["error"]
    assert "no digit found" in response.json()["error"]
    assert not [c for c in store_of(review_stack).read() if c.job == digit_job["id"]]


def test_a_full_disk_answers_507_and_records_nothing(review_stack: Stack, digit_job: dict,
                                                     monkeypatch) -> None:
    """The API in this process (the disk is what fails, so `os.write` is made to fail),
    on the stack's Redis and corrections folder."""
    from api.app import create_app

    client = create_app(review_stack.settings).test_client()
    before = sorted(review_stack.settings.corrections_dir.glob("*"))

    def no_space(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", no_space)
    response = client.put(f"/api/v1/jobs/{digit_job['id']}/results/2", json={"label": 5})
    monkeypatch.undo()
    assert response.status_code == 507
    assert "full" in response.get_json()["error"]
    assert sorted(review_stack.settings.corrections_dir.glob("*")) == before
    assert "corrected" not in get_job(review_stack, digit_job["id"])["results"][2]


def test_corrections_need_the_api_key_when_one_is_set(review_stack: Stack,
                                                      digit_job: dict, tmp_path: Path) -> None:
    keyed = replace(review_stack.settings, api_key="review-key-7d1e")
    api = start_api(keyed, log_dir=tmp_path)
    try:
        keyed_stack = replace(review_stack, url=api.url)
        refused = correct(keyed_stack, digit_job["id"], 2, {"label": 4}, headers={})
        assert refused.status_code == 401
        accepted = correct(keyed_stack, digit_job["id"], 2, {"label": 4},
                           headers={"Authorization": "Bearer review-key-7d1e"})
        assert accepted.status_code == 200 and accepted.json()["corrected"] == 4
    finally:
        api.stop()


# --- number mode ----------------------------------------------------------------------------


@pytest.fixture()
def number_job(review_stack: Stack, mnist) -> dict:
    images, labels = mnist
    row = write_row(digits_of(images, labels, "02139"))
    job = submit(review_stack, [("zip.png", encode(row)),
                                ("blank.png", encode(np.full((60, 200), 250, np.uint8)))],
                 read="number")
    assert job["results"][0]["text"] == "02139"
    return job


def test_a_number_is_corrected_as_text_and_kept_digit_by_digit(review_stack: Stack,
                                                               number_job: dict) -> None:
    job_id, read = number_job["id"], number_job["results"][0]
    response = correct(review_stack, job_id, 0, {"text": "02189"})
    assert response.status_code == 200, response.text
    assert response.json() == {**read, "corrected": "02189"}
    assert get_job(review_stack, job_id)["results"][0]["corrected"] == "02189"
    rows = csv_rows(review_stack, job_id)
    assert list(rows[0])[-1] == "corrected" and rows[0]["corrected"] == "02189"
    assert rows[1]["corrected"] == ""

    kept = sorted((c for c in store_of(review_stack).read() if c.job == job_id),
                  key=lambda c: c.digit)
    assert [(c.digit, c.label, c.prediction, c.kind) for c in kept] == [
        (0, 0, 0, "confirm"), (1, 2, 2, "confirm"), (2, 1, 1, "confirm"),
        (3, 8, 3, "correct"), (4, 9, 9, "confirm")]
    assert [c.confidence for c in kept] == [d["confidence"] for d in read["digits"]]
    assert all(c.image.shape == (28, 28) and c.image.max() > 0 for c in kept)


@pytest.mark.parametrize("body", [{"label": 2}, {"text": "12a4"}, {"text": ""}, {"text": 2139},
                                  {"text": "٣"}, {"text": "12\n"}, {"text": "1" * 65}])
def test_a_bad_number_correction_is_refused(review_stack: Stack, number_job: dict,
                                            body: object) -> None:
    response = correct(review_stack, number_job["id"], 0, body)
    assert response.status_code == 400
    assert "text" in response.json()["error"]


def test_a_number_that_could_not_be_read_cannot_be_labelled(review_stack: Stack,
                                                            number_job: dict) -> None:
    response = correct(review_stack, number_job["id"], 1, {"text": "12"})
    assert response.status_code == 409 and "no digit image" in response.json()["error"]
