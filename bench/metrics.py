"""What metrics cost: one `/metrics` scrape at 1,000 jobs, and the hot path's share.

- scrape: 1,000 jobs in a private Redis (half unfinished, half ended, 20 chunk records
  each), two API processes' worth of multiprocess files; `GET /metrics` through the Flask
  app, wall and CPU time per scrape (target: <= 5 ms).
- hot path: the job store's record script with and without its metrics lines, on 512-image
  chunks (Redis's own per-call time from `INFO commandstats`), and one request histogram
  observation in multiprocess mode, as shares of a chunk's and a request's time.
Run: `python -m bench metrics [--quick]`. Figures on a shared machine: CPU times say more
than wall times.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from bench import report
from common.localhost import free_port, redis_server_argv, wait_for

NAME = "metrics"
JOBS = 1_000
CHUNK = 512
TARGET_SCRAPE_MS = 5.0


def _start_redis(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(redis_server_argv(port, folder, folder / "redis.log", False),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    wait_for(lambda: redis.Redis.from_url(url).ping(), timeout=20, what="redis-server")
    return proc, url


def _script_usec(client: redis.Redis) -> dict[str, float]:
    stats = client.info("commandstats")
    return {name: value["usec_per_call"] for name, value in stats.items()
            if name in ("cmdstat_evalsha", "cmdstat_eval")}


def main(argv: list[str] | None = None) -> int:
    from common.settings import Settings

    parser = report.arguments(NAME, __doc__, "50 scrapes, 100 script calls each",
                              Settings.from_env(), model=False)
    args = parser.parse_args(argv)
    scrapes = 50 if args.quick else 300
    folder = Path(tempfile.mkdtemp(prefix="mnistq-bench-metrics-"))
    (folder / "multiproc").mkdir()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder / "multiproc")
    proc, url = _start_redis(folder)
    try:
        return _run(url, scrapes, bool(args.quick), args.out)
    finally:
        proc.terminate()
        proc.wait()


def _run(url: str, scrapes: int, quick: bool, out: Path | None) -> int:
    from api import metrics
    from api.app import create_app
    from common.job_scripts import RECORD
    from common.jobs import Chunk
    from common.jobstore import JobStore
    from common.redis_keys import METRICS_KEY
    from common.settings import Settings
    from core.results import Result

    settings = Settings.from_env(redis_url=url, max_queued_jobs=10 * JOBS, log_level="WARNING")
    logging.getLogger("common.jobstore").setLevel(logging.WARNING)
    store = JobStore.from_settings(settings)
    rows = [Result(i, f"{i}.png", 7, 0.99, 1) for i in range(CHUNK)]
    for n in range(JOBS):
        job_id, _ = store.create_job([("x.png", b"")] * (CHUNK * 20), CHUNK)
        for c in range(20 if n % 2 else 2):
            store.record_results(job_id, Chunk(c * CHUNK, (c + 1) * CHUNK), rows, "w", 0.05)
    metrics.HTTP_REQUEST_SECONDS.labels("/api/v1/jobs", "POST", "200").observe(0.004)
    client = create_app(settings).test_client()
    client.get("/metrics")
    walls, cpus = [], []
    for _ in range(scrapes):
        wall, cpu = time.perf_counter(), time.process_time()
        body = client.get("/metrics").get_data()
        cpus.append(1000 * (time.process_time() - cpu))
        walls.append(1000 * (time.perf_counter() - wall))
    assert b"mnistq_jobs_unfinished 500.0" in body, body[:2000]

    # hot path 1: the record script with and without its metrics lines
    plain = "\n".join(line for line in RECORD.splitlines()
                      if "KEYS[6]" not in line or line.lstrip().startswith("local"))
    scripts = {"with metrics": store.redis.register_script(RECORD),
               "without metrics": store.redis.register_script(plain)}
    payload = json.dumps([r.to_dict() for r in rows], separators=(",", ":"))
    per_call = {}
    for label, script in scripts.items():
        store.redis.config_resetstat()
        for _ in range(100 if quick else 500):
            job_id, _ = store.create_job([("x.png", b"")] * CHUNK, CHUNK)
            base = f"mnistq:job:{job_id}"
            script(keys=[base, f"{base}:images", f"{base}:results", f"{base}:done",
                         "mnistq:jobs:unfinished", METRICS_KEY],
                   args=[f"{time.time():.3f}", job_id, 0, payload, CHUNK, 0, "w", "0.05"])
        per_call[label] = _script_usec(store.redis).get("cmdstat_evalsha", 0.0)

    # hot path 2: one request histogram observation (multiprocess mode: an mmap write)
    n = 20_000
    cpu = time.process_time()
    for _ in range(n):
        metrics.HTTP_REQUEST_SECONDS.labels("/api/v1/jobs", "POST", "200").observe(0.004)
    observe_us = 1e6 * (time.process_time() - cpu) / n

    scrape = {"p50_ms": report.percentile(walls, 50), "p99_ms": report.percentile(walls, 99),
              "cpu_p50_ms": report.percentile(cpus, 50), "cpu_p99_ms": report.percentile(cpus, 99)}
    extra_us = per_call["with metrics"] - per_call["without metrics"]
    print(report.table(["figure", "value"], [
        [f"scrape at {JOBS} jobs, wall p50 (ms)", scrape["p50_ms"]],
        ["scrape wall p99 (ms)", scrape["p99_ms"]],
        ["scrape CPU p50 (ms, this process)", scrape["cpu_p50_ms"]],
        ["scrape CPU p99 (ms)", scrape["cpu_p99_ms"]],
        [f"record script, {CHUNK}-image chunk, with metrics (us in Redis)",
         per_call["with metrics"]],
        ["record script without metrics (us in Redis)", per_call["without metrics"]],
        ["metrics' extra per chunk (us)", extra_us],
        ["request histogram observe, multiprocess (us CPU)", observe_us],
    ]))
    print(f"target: scrape <= {TARGET_SCRAPE_MS} ms; the per-chunk and per-request extras are "
          "to be read against a chunk (~50 ms for 512 images) and a request (~3.5 ms)")
    report.write(NAME, {
        "quick": quick, "jobs": JOBS, "scrapes": scrapes, "scrape": scrape,
        "record_script_usec": per_call, "metrics_extra_usec_per_chunk": extra_us,
        "observe_usec": observe_us,
        "meets_scrape_target": scrape["p50_ms"] <= TARGET_SCRAPE_MS,
    }, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
