"""The live API, fuzzed against its own OpenAPI document and pushed at its edges.

One stack (Redis, a worker, the API under gunicorn) with an API key, small limits and a job
lifetime of a few seconds: schemathesis sends it generated requests, valid and invalid, and
every answer must be a non-5xx that matches the document; oversized images, decompression
bombs, spreadsheet formulas in file names and expired jobs get the answers users are promised.
"""

from __future__ import annotations

import csv
import io
import struct
import zlib
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from PIL import Image
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig

from common.settings import Settings
from tests.reliability import digit_files, finished, submit
from tests.stack import Stack, running_stack
from tests.support import RedisServer, encode, wait_for

pytestmark = pytest.mark.slow

KEY = "reliability-key-5d1f0c"
TTL = 4  # seconds a job is kept
MAX_PIXELS = 200 * 200
EXAMPLES = 50  # per operation and generation mode (fewer when an operation has few inputs)
# Invalid input is rejected when it gets any 4xx (server errors are a failure of their own).
# schemathesis's default list leaves out 414, which gunicorn answers by itself, as every
# operation documents, to a generated request line over 4,094 bytes.
FUZZ_CONFIG = SchemathesisConfig.from_dict(
    {"checks": {"negative_data_rejection": {"expected-statuses": ["4xx", "5xx"]}}})


@pytest.fixture(scope="module")
def edge(
    data_dir: Path, small_model_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    base = tmp_path_factory.mktemp("edge")
    server = RedisServer(base / "redis").start()
    settings = Settings(
        data_dir=data_dir, model_path=small_model_path, redis_url=server.url, api_key=KEY,
        job_ttl=TTL, max_image_pixels=MAX_PIXELS, max_files=50, max_upload_bytes=1 << 20,
        max_wait=3.0, chunk_size=10, corrections_dir=base / "corrections",
    )
    try:
        with running_stack(settings, base / "logs") as stack:
            yield stack
    finally:
        server.stop()


def test_fuzzed_requests_get_no_5xx_and_answers_that_match_the_document(edge: Stack) -> None:
    schema = schemathesis.openapi.from_url(f"{edge.url}/api/v1/openapi.json",
                                           config=FUZZ_CONFIG, headers=dict(edge.headers),
                                           timeout=30)
    cases, failures = 0, []

    def fuzz(operation, mode: GenerationMode) -> None:
        """Up to EXAMPLES requests; an operation without inputs has no negative ones."""
        @hypothesis_settings(max_examples=EXAMPLES, deadline=None, database=None,
                             derandomize=True,  # the same requests on every run
                             phases=[Phase.explicit, Phase.generate],
                             suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def check(case) -> None:
            nonlocal cases
            cases += 1
            case.call_and_validate(base_url=edge.url, headers=dict(edge.headers), timeout=30)

        try:
            check()
        except Unsatisfiable:
            pass
        except Exception as exc:  # one operation's failure must not hide the others'
            failures.append(f"{operation.label} ({mode}): {exc}")

    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz(operation, mode)
    assert not failures, "\n\n".join(failures)
    document = requests.get(f"{edge.url}/api/v1/openapi.json", headers=edge.headers,
                            timeout=30).json()
    documented = {f"{method.upper()} {path}" for path, methods in document["paths"].items()
                  for method in methods}
    fuzzed = {operation.label for operation in operations}
    assert fuzzed <= documented
    assert documented - fuzzed <= {"GET /api/v1/openapi.json"}  # may skip its own source
    assert cases >= len(operations) * 2


def test_an_empty_wait_is_refused_as_the_document_says(edge: Stack) -> None:
    # found by the fuzzing above: `?wait=` used to be taken as 0, the document says a number
    for path in ("/api/v1/jobs/" + "0" * 32, "/api/v1/jobs"):
        method = "POST" if path.endswith("jobs") else "GET"
        answer = requests.request(method, f"{edge.url}{path}", params={"wait": ""},
                                  headers=edge.headers, timeout=10)
        assert answer.status_code == 400 and "wait" in answer.json()["error"]


def test_a_request_line_over_the_server_s_limit_gets_the_documented_414(edge: Stack) -> None:
    # found by the fuzzing above: many `wait` values made a query longer than gunicorn
    # reads; its answer, 414 with its own page, is in the document for every operation
    answer = requests.get(f"{edge.url}/api/v1/jobs/{'0' * 32}", params={"wait": "9" * 5000},
                          headers=edge.headers, timeout=10)
    assert answer.status_code == 414
    document = requests.get(f"{edge.url}/api/v1/openapi.json", headers=edge.headers,
                            timeout=10).json()
    operations = [o for methods in document["paths"].values() for o in methods.values()]
    assert all("text/html" in o["responses"]["414"]["content"] for o in operations)


def png(width: int, height: int) -> bytes:
    return encode(Image.new("L", (width, height), 255))


def png_declaring(width: int, height: int) -> bytes:
    """A few hundred bytes whose header promises a huge grey image (a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    rows = zlib.compress(b"\0" * (width + 1) * 8)  # the first rows; the rest never come
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height,
                                                              8, 0, 0, 0, 0))
            + chunk(b"IDAT", rows) + chunk(b"IEND", b""))


def test_too_many_pixels_and_bombs_are_per_file_errors(edge: Stack) -> None:
    good = digit_files(1)
    files = [*good, ("big.png", png(300, 300)), ("bomb.png", png_declaring(100_000, 100_000))]
    job = finished(edge.url, submit(edge.url, files, edge.headers), 30, edge.headers)
    assert job["status"] == "succeeded" and (job["processed"], job["failed"]) == (3, 2)
    digit, big, bomb = job["results"]
    assert digit["error"] is None and digit["prediction"] is not None
    for refused in (big, bomb):
        assert refused["prediction"] is None and "pixels" in refused["error"], refused
    # refused from the header: tests/test_imaging.py shows no pixel is decoded


def test_file_names_are_echoed_and_defused_in_csv(edge: Stack) -> None:
    names = ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2", "@SUM(A1)",
             "../../etc/passwd", "ok.png"]
    data = digit_files(1)[0][1]
    job = finished(edge.url, submit(edge.url, [(n, data) for n in names], edge.headers), 30,
                   edge.headers)
    assert [r["filename"] for r in job["results"]] == names  # JSON: exactly as uploaded
    download = requests.get(f"{edge.url}{job['url']}/results", params={"format": "csv"},
                            headers=edge.headers, timeout=30)
    cells = [row["filename"] for row in csv.DictReader(io.StringIO(download.text))]
    assert cells == ["'" + n for n in names[:4]] + names[4:]


def test_an_expired_job_answers_410_with_its_expiry_and_an_unknown_one_404(edge: Stack) -> None:
    job = finished(edge.url, submit(edge.url, digit_files(3), edge.headers), 30, edge.headers)
    assert job["status"] == "succeeded"
    url = f"{edge.url}{job['url']}"

    def gone() -> bool:
        return requests.get(url, headers=edge.headers, timeout=10).status_code != 200

    wait_for(gone, timeout=TTL + 10, interval=0.2, what="the job to expire")
    created = datetime.fromisoformat(job["created_at"].replace("Z", "+00:00"))
    for method, path in (("GET", ""), ("GET", "/results"), ("GET", "/results?format=csv"),
                         ("GET", "/events"), ("DELETE", "")):
        answer = requests.request(method, url + path, headers=edge.headers, timeout=10)
        assert answer.status_code == 410, (method, path, answer.text)
        message = answer.json()["error"]
        assert message.startswith("job expired at "), message
        expired = datetime.fromisoformat(message.removeprefix("job expired at ")
                                         .replace("Z", "+00:00"))
        # expires_at is created_at + MNISTQ_JOB_TTL, rounded down to the second
        assert created + timedelta(seconds=TTL - 1) < expired <= created + timedelta(seconds=TTL)
    unknown = f"{edge.url}/api/v1/jobs/{'0' * 32}"
    for method, path in (("GET", ""), ("GET", "/results"), ("GET", "/events"), ("DELETE", "")):
        answer = requests.request(method, unknown + path, headers=edge.headers, timeout=10)
        assert answer.status_code == 404 and "unknown" in answer.json()["error"]
