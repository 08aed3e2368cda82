"""Resident memory of the stack's processes: a worker with the model loaded, the API, Redis.

Starts `mnistq up --workers 1`, runs one job so every process has done real work, then
reads /proc: RSS, peak RSS and PSS (shared pages split among the processes that map them,
so a forked pool process is not charged for its parent's pages).
Run: `python -m bench memory [--quick]`.
"""

from __future__ import annotations

import sys

from bench import report
from bench.clients import run_job
from bench.e2e import ensure_model
from bench.images import multipart, png_files, test_set
from bench.procs import children, cmdline, memory_kib, mnistq_up
from common.settings import Settings

NAME = "memory"


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = report.arguments("memory", __doc__, "a 1,000-image job", settings)
    args = parser.parse_args(argv)
    model_path = ensure_model(args.model)
    images, _ = test_set(args.data_dir, 1_000 if args.quick else 10_000)
    body, content_type = multipart(png_files(images))
    with mnistq_up(1, model_path) as stack:
        run_job(stack.url, body, content_type)
        pool = set(stack.worker_pool_pids())
        api = set(stack.api_worker_pids())
        processes = []
        for pid in children(stack.popen.pid):
            line = cmdline(pid)
            role = ("worker pool process (model loaded)" if pid in pool
                    else "API gunicorn worker" if pid in api
                    else "Celery worker main process" if "celery" in line
                    else "API gunicorn arbiter" if "gunicorn" in line
                    else "redis-server" if "redis" in line else line[:40])
            processes.append({"pid": pid, "role": role, **memory_kib(pid)})
    processes.sort(key=lambda p: p["role"])
    print(report.table(
        ("process", "RSS MiB", "peak RSS MiB", "PSS MiB"),
        [(p["role"], p["rss_kib"] / 1024, p["peak_rss_kib"] / 1024, p["pss_kib"] / 1024)
         for p in processes],
    ))
    report.write(NAME, {"quick": args.quick, "model": str(model_path),
                        "job_images": len(images), "processes": processes}, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
