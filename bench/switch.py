"""Switch: activating a model version, then rolling back, under continuous load.

Trains two versions on different slices of the training set (default recipe, `--train N`
images each) into a scratch model folder, starts `mnistq up --workers 2` on it and keeps two
loads running: single-image jobs with `?wait` one after another, and big jobs (10,000 PNGs,
2,000 with --quick) back to back. Then `PUT /api/v1/model` activates B and, once every worker
serves it and a few seconds passed, `mnistq models rollback` returns to A. Reported: the time
from each activation to every worker serving the new version (read from `GET
/api/v1/models`), the time one load of a version takes (`core.versions.load_version`, for
the "<= 10 s plus one load" target), images lost and jobs failed (target 0), and the p50/p99
of the single-image jobs before and during the switches (from the activation to 1 s after
every worker switched). Run: `python -m bench switch`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

from bench import report
from bench.clients import run_job
from bench.images import multipart, png_files, test_set
from bench.procs import BIN, mnistq_up
from common.settings import Settings
from core import versions

NAME = "switch"
TARGETS = {"lost_images": 0, "failed_jobs": 0, "switch_s_minus_one_load": 10.0}
SETTLE_S = 3.0
"""Seconds of load before an activation and after every worker switched."""
AFTER_S = 1.0
"""Seconds after every worker switched still counted as "during the switch" (latencies)."""


def train_versions(data_dir: Path, folder: Path, per_version: int) -> tuple[str, str, float]:
    """Versions A and B (training images [0, n) and [n, 2n)); (A, B, one load in seconds)."""
    from core.data import load_split
    from core.evaluate import evaluate
    from core.training import DEFAULT_RECIPE, train_model

    images, labels = load_split(data_dir, "train", limit=2 * per_version)
    test_images, test_labels = load_split(data_dir, "test")
    smoke = versions.smoke_digits(test_images, test_labels)
    names: list[str] = []
    for part in (slice(0, per_version), slice(per_version, 2 * per_version)):
        model = train_model(images[part], labels[part], DEFAULT_RECIPE)
        model.metadata["test_accuracy"] = evaluate(model, test_images, test_labels).accuracy
        names.append(versions.write_version(model, folder, names[-1] if names else None, smoke))
    versions.activate(folder, names[0])
    started = time.perf_counter()
    versions.load_version(folder, names[1])
    return names[0], names[1], time.perf_counter() - started


class Load:
    """The two client loads, recording what a user would see go wrong."""

    def __init__(self, url: str, single: list[tuple[bytes, str]], job: tuple[bytes, str]):
        self.url, self.single, self.job = url, single, job
        self.stop = threading.Event()
        self.latencies: list[tuple[float, float]] = []  # (sent at, seconds)
        self.problems: list[str] = []
        self.jobs: list[dict[str, Any]] = []
        self.images = 0

    def run_singles(self) -> None:
        session = requests.Session()
        i = 0
        while not self.stop.is_set():
            body, content_type = self.single[i % len(self.single)]
            i += 1
            sent = time.perf_counter()
            try:
                answer = session.post(f"{self.url}/api/v1/jobs", params={"wait": 30},
                                      data=body, headers={"Content-Type": content_type},
                                      timeout=60)
            except requests.RequestException as exc:
                self.problems.append(f"single-image job: {exc}")
                continue
            took = time.perf_counter() - sent
            job = answer.json() if answer.status_code == 200 else {}
            results = job.get("results") or []
            if answer.status_code != 200 or len(results) != 1 or results[0]["error"]:
                self.problems.append(f"single-image job: {answer.status_code} {answer.text[:200]}")
            else:
                self.latencies.append((sent, took))
                self.images += 1

    def run_jobs(self) -> None:
        while not self.stop.is_set():
            _, job = run_job(self.url, *self.job)
            self.jobs.append(job)
            bad = [r for r in job["results"] or [] if r["error"] or r["prediction"] is None]
            if job["status"] != "succeeded" or len(job["results"] or []) != job["total"] or bad:
                self.problems.append(f"job {job['id']}: {job['status']}, "
                                     f"{len(job['results'] or [])} of {job['total']} results, "
                                     f"{len(bad)} errors")
            else:
                self.images += job["total"]


def all_serve(url: str, version: str, workers: int) -> bool:
    shown = requests.get(f"{url}/api/v1/models", timeout=10).json()["workers"]
    return len(shown) == workers and all(w["version"] == version for w in shown)


def wait_all_serve(url: str, version: str, workers: int, timeout: float = 120.0) -> float:
    """Seconds until every worker serves `version` (polled every 20 ms)."""
    started = time.perf_counter()
    while not all_serve(url, version, workers):
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"workers not all on {version} after {timeout} s")
        time.sleep(0.02)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = report.arguments(NAME, __doc__, "3,000 images per version, 2,000-image jobs",
                              settings, model=False)
    parser.add_argument("--train", type=int, default=None, help="training images per version")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    per_version = args.train or (3000 if args.quick else 10_000)
    job_images = 2000 if args.quick else 10_000
    scratch = Path(tempfile.mkdtemp(prefix="mqswitch-"))
    try:
        folder = scratch / "models"
        a, b, load_s = train_versions(args.data_dir, folder, per_version)
        images, _ = test_set(args.data_dir, job_images)
        files = png_files(images)
        single = [multipart([f]) for f in files[:100]]
        env = {"MNISTQ_MODEL_PATH": "", "MNISTQ_MODEL_DIR": str(folder)}
        with mnistq_up(args.workers, Path(""), env=env) as stack:
            load = Load(stack.url, single, multipart(files))
            threads = [threading.Thread(target=load.run_singles, daemon=True),
                       threading.Thread(target=load.run_jobs, daemon=True)]
            for thread in threads:
                thread.start()
            time.sleep(SETTLE_S)  # steady load before the switch (a benchmark, not a test)
            switch_started = time.perf_counter()
            answer = requests.put(f"{stack.url}/api/v1/model",  # the switch, not the gate
                                  json={"version": b, "force": True}, timeout=30)
            answer.raise_for_status()
            wait_all_serve(stack.url, b, args.workers)
            activate_s = time.perf_counter() - switch_started
            time.sleep(SETTLE_S)
            rollback_started = time.perf_counter()
            subprocess.run([str(BIN / "mnistq"), "models", "rollback"], check=True,
                           env={**os.environ, **env, "MNISTQ_REDIS_URL": stack.redis_url},
                           capture_output=True)
            wait_all_serve(stack.url, a, args.workers)
            rollback_s = time.perf_counter() - rollback_started
            time.sleep(SETTLE_S)
            load.stop.set()
            for thread in threads:
                thread.join(timeout=600)
        before = [s for t, s in load.latencies if t < switch_started]
        during = [s for t, s in load.latencies
                  if switch_started <= t <= switch_started + activate_s + AFTER_S
                  or rollback_started <= t <= rollback_started + rollback_s + AFTER_S]
        used = sorted({m for job in load.jobs for m in job.get("models", [])})

        def ms(values: list[float], q: float) -> float | None:
            return 1000 * report.percentile(values, q) if values else None

        result = {
            "quick": args.quick, "workers": args.workers, "versions": [a, b],
            "training_images_per_version": per_version, "job_images": job_images,
            "one_load_s": load_s, "activate_to_all_workers_s": activate_s,
            "rollback_to_all_workers_s": rollback_s,
            "images_read": load.images, "jobs": len(load.jobs), "models_in_jobs": used,
            "single_image_requests": len(load.latencies),
            "lost_images_or_failed_jobs": len(load.problems), "problems": load.problems[:20],
            "p50_ms_before": ms(before, 50), "p99_ms_before": ms(before, 99),
            "p50_ms_during_switch": ms(during, 50), "p99_ms_during_switch": ms(during, 99),
            "requests_during_switch": len(during), "targets": TARGETS,
            "targets_met": {
                "lost_images_or_failed_jobs": not load.problems,
                "switch_s_minus_one_load": max(activate_s, rollback_s) - load_s
                <= TARGETS["switch_s_minus_one_load"]},
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(report.table(("switch under load", "value"), [
        ("one load of a version (s)", load_s),
        ("PUT /api/v1/model -> all workers on B (s)", activate_s),
        ("mnistq models rollback -> all workers on A (s)", rollback_s),
        ("images read / jobs", f"{load.images:,} / {len(load.jobs)}"),
        ("lost images or failed jobs", len(load.problems)),
        ("single image p50 / p99 before (ms)",
         f"{result['p50_ms_before'] or 0:.1f} / {result['p99_ms_before'] or 0:.1f}"),
        ("single image p50 / p99 during switches (ms)",
         f"{result['p50_ms_during_switch'] or 0:.1f} / {result['p99_ms_during_switch'] or 0:.1f}"),
    ]))
    report.write(NAME, result, args.out)
    return 0 if not load.problems else 1


if __name__ == "__main__":
    sys.exit(main())
