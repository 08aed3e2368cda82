"""Users ask the real stack (Redis, a Celery worker, the API) to read numbers."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
import requests

from core.data import load_split
from tests.stack import Stack
from tests.support import encode
from tests.test_numbers import digits_of, write_row

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def numbers(data_dir) -> list[tuple[str, bytes, str]]:
    images, labels = load_split(data_dir, "test", limit=400)
    texts = ("02139", "4096", "731")
    return [(f"n{i}.png", encode(write_row(digits_of(images, labels, t))), t)
            for i, t in enumerate(texts)]


def post(stack: Stack, files, params=None, data=None):
    parts = [("files", (name, body, "application/octet-stream")) for name, body in files]
    return requests.post(f"{stack.url}/api/v1/jobs", files=parts, params=params or {},
                         data=data or {}, headers=stack.headers, timeout=60)


def test_a_number_job_reads_each_image_as_a_number(shared_stack: Stack, numbers) -> None:
    files = [(name, body) for name, body, _ in numbers]
    blank = ("blank.png", encode(np.full((120, 300), 250, np.uint8)))
    response = post(shared_stack, [*files, blank], params={"read": "number", "wait": 30})
    assert response.status_code == 200, response.text
    job = response.json()
    assert job["read"] == "number" and job["status"] == "succeeded"
    results = job["results"]
    assert [r["text"] for r in results[:3]] == [t for _, _, t in numbers]
    for result in results[:3]:
        assert result["prediction"] is None and result["runner_up"] is None
        assert len(result["digits"]) == len(result["text"])
        product = np.prod([d["confidence"] for d in result["digits"]])
        assert result["confidence"] == pytest.approx(product, abs=1e-3)
        xs = [d["box"][0] for d in result["digits"]]
        assert xs == sorted(xs)
    assert results[3]["error"] == "no digit found" and results[3]["text"] is None

    csv_text = requests.get(f"{shared_stack.url}/api/v1/jobs/{job['id']}/results",
                            params={"format": "csv"}, headers=shared_stack.headers,
                            timeout=30).text
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert list(rows[0]) == ["index", "filename", "text", "confidence", "digits", "error", "model",
                             "corrected"]
    assert rows[0]["text"] == "02139" and len(rows[0]["digits"].split()) == 5
    assert rows[3]["error"] == "no digit found"


def test_the_mode_can_come_as_a_form_field(shared_stack: Stack, numbers) -> None:
    name, body, text = numbers[1]
    response = post(shared_stack, [(name, body)], params={"wait": 30},
                    data={"read": "number"})
    job = response.json()
    assert job["read"] == "number" and job["results"][0]["text"] == text


def test_digit_mode_stays_the_default(shared_stack: Stack, numbers) -> None:
    response = post(shared_stack, [numbers[0][:2]], params={"wait": 30})
    job = response.json()
    assert job["read"] == "digit"
    assert "text" not in job["results"][0]


def test_an_unknown_mode_is_refused(shared_stack: Stack, numbers) -> None:
    response = post(shared_stack, [numbers[0][:2]], params={"read": "letters"})
    assert response.status_code == 400
    assert response.json() == {"error": "read must be 'digit' or 'number'"}


def test_a_bad_form_field_is_refused_even_with_a_good_query_which_wins(
    shared_stack: Stack, numbers
) -> None:
    response = post(shared_stack, [numbers[0][:2]], params={"read": "number"},
                    data={"read": "letters"})
    assert response.status_code == 400
    assert response.json() == {"error": "read must be 'digit' or 'number'"}
    response = post(shared_stack, [numbers[0][:2]], params={"read": "number"},
                    data={"read": "digit"})
    assert response.status_code == 202 and response.json()["read"] == "number"
