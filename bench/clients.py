"""HTTP clients of the benchmarks: a whole job on our stack, batches on the baseline.

Request bodies are built before the clock starts; the clock covers the upload, the
processing and fetching every result, as a user waiting for a job sees it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from bench.images import multipart

ENDED = ("succeeded", "cancelled", "failed")


def run_job(url: str, body: bytes, content_type: str, timeout: float = 600.0,
            read: str = "digit") -> tuple[float, dict[str, Any]]:
    """Upload one job (`read`: digits or numbers) and long-poll it until it ends;
    (seconds, the finished job).

    The job also carries `accepted_after_s`: when the API had stored and enqueued it.
    """
    session = requests.Session()
    headers = {"Content-Type": content_type}
    started = time.perf_counter()
    response = session.post(f"{url}/api/v1/jobs", data=body, headers=headers, timeout=timeout,
                            params={"read": read})
    response.raise_for_status()
    job = response.json()
    job["accepted_after_s"] = time.perf_counter() - started
    deadline = started + timeout
    while job.get("status") not in ENDED or job.get("results") is None:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"job {job.get('id')} did not end in {timeout} s")
        response = session.get(f"{url}/api/v1/jobs/{job['id']}", params={"wait": 30},
                               timeout=60)
        response.raise_for_status()
        job = {**response.json(), "accepted_after_s": job["accepted_after_s"]}
    return time.perf_counter() - started, job


def run_single(session: requests.Session, url: str, body: bytes, content_type: str) -> float:
    """One single-image job with `?wait`: the seconds until its result is back."""
    started = time.perf_counter()
    response = session.post(f"{url}/api/v1/jobs", params={"wait": 10}, data=body,
                            headers={"Content-Type": content_type}, timeout=30)
    elapsed = time.perf_counter() - started
    if response.status_code != 200 or response.json()["results"][0]["prediction"] is None:
        raise RuntimeError(f"single-image job did not finish: {response.status_code} "
                           f"{response.text[:200]}")
    return elapsed


def baseline_single(session: requests.Session, url: str, body: bytes, content_type: str
                    ) -> float:
    """One single-image request to the baseline: seconds until its prediction is back."""
    started = time.perf_counter()
    response = session.post(f"{url}/predict", data=body,
                            headers={"Content-Type": content_type}, timeout=30)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed


def baseline_batches(url: str, files: list[tuple[str, bytes]], batch: int, concurrency: int
                     ) -> tuple[float, list[int | None]]:
    """All `files` through the baseline, `batch` per request, `concurrency` requests at once.

    (seconds, predictions in order). Concurrency matches its gunicorn workers, so both
    cores work: the baseline's best case.
    """
    bodies = [multipart(files[s:s + batch]) for s in range(0, len(files), batch)]

    def post(item: tuple[bytes, str]) -> list[int | None]:
        body, content_type = item
        response = requests.post(f"{url}/predict", data=body,
                                 headers={"Content-Type": content_type}, timeout=600)
        response.raise_for_status()
        return [p["prediction"] for p in response.json()["predictions"]]

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        parts = list(pool.map(post, bodies))
    elapsed = time.perf_counter() - started
    return elapsed, [p for part in parts for p in part]


def loop(until: float, action: Callable[[], Any], results: list, errors: Counter) -> None:
    """A load client: call `action` until the monotonic clock reaches `until`, keeping what
    it returns in `results` and its failures, by kind, in `errors`."""
    while time.monotonic() < until:
        try:
            results.append(action())
        except requests.RequestException as exc:
            errors[type(exc).__name__] += 1
        except Exception as exc:
            errors[str(exc)[:80]] += 1
