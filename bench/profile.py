"""Where the stack spends its time during a 10,000-image job: py-spy on every process.

Starts `mnistq up --workers N`, runs a warm-up job, then samples the Celery pool processes,
the API's gunicorn workers and the client's job with `py-spy record` while the same job
runs again, and prints each role's hottest functions (own time, and time under them).
`--singles N` samples N single-image `?wait` requests instead (the latency path), and the
Celery main processes too (they deliver each task to their pool process).
Not one of the `python -m bench` suite (it needs py-spy, from the `bench` extra):
run `python -m bench.profile [--workers 2] [--images 10000]`.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from bench import report
from bench.clients import run_job, run_single
from bench.images import multipart, png_files, test_set
from bench.procs import mnistq_up
from common.settings import Settings

NAME = "profile"


def summarise(folded: Path, top: int) -> dict[str, object]:
    """Own-time and inclusive-time shares of the hottest frames in a py-spy raw profile."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in folded.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = [f.split(" (")[0] + " " + f.split("/")[-1].rstrip(")")
                  for f in stack.split(";")]
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n

    def share(counts: collections.Counter[str]) -> list[tuple[str, float]]:
        return [(f, round(100 * k / max(total, 1), 1)) for f, k in counts.most_common()
                if k < 0.9 * total][:top]  # frames under everything (start-up) say nothing

    return {"samples": total, "own": share(own), "inclusive": share(inclusive)}


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(prog="python -m bench.profile",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--chunk-size", type=int, default=None)
    parser.add_argument("--jobs", type=int, default=3, help="jobs run while sampling")
    parser.add_argument("--singles", type=int, default=0,
                        help="sample this many single-image ?wait requests instead of jobs")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--model", type=Path, default=report.default_model(settings))
    parser.add_argument("--out", type=Path, default=None, help="JSON report path")
    args = parser.parse_args(argv)
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    images, _ = test_set(settings.data_dir, args.images)
    files = png_files(images)
    body, content_type = multipart(files)
    scratch = Path(tempfile.mkdtemp(prefix="mqprofile-"))
    with mnistq_up(args.workers, args.model, chunk_size=args.chunk_size) as stack:
        run_job(stack.url, body, content_type)
        roles = {f"worker-{i}": pid for i, pid in enumerate(stack.worker_pool_pids())}
        roles.update({f"api-{i}": pid for i, pid in enumerate(stack.api_worker_pids())})
        if args.singles:
            roles.update({f"worker-main-{i}": pid
                          for i, pid in enumerate(stack.roles()["worker_main"])})
        spies = {
            role: subprocess.Popen([spy, "record", "--pid", str(pid), "--rate", "500",
                                    "--format", "raw", "--output", str(scratch / role),
                                    "--nonblocking"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for role, pid in roles.items()
        }
        time.sleep(1.0)  # py-spy attached
        if args.singles:
            session, singles = requests.Session(), [multipart([f]) for f in files[:100]]
            seconds = [run_single(session, stack.url, *singles[i % len(singles)])
                       for i in range(args.singles)]
        else:
            seconds = [run_job(stack.url, body, content_type)[0] for _ in range(args.jobs)]
        for proc in spies.values():
            proc.send_signal(2)  # SIGINT: py-spy writes its profile and exits
        for proc in spies.values():
            proc.wait(30)
    result = {"workers": args.workers, "images": args.images, "singles": args.singles,
              "job_seconds": seconds,
              "roles": {role: summarise(scratch / role, args.top) for role in roles
                        if (scratch / role).exists()}}
    for role, summary in result["roles"].items():
        print(f"\n{role}: {summary['samples']} samples; own time %, then inclusive %")
        print(report.table(("own", "%"), summary["own"][:12]))
        print(report.table(("inclusive", "%"), summary["inclusive"][:args.top]))
    if args.singles:
        print(f"\n{args.singles} singles: p50 {1000 * report.percentile(seconds, 50):.1f} ms; "
              f"raw profiles in {scratch}")
    else:
        print(f"\njobs: {', '.join(f'{s:.2f} s' for s in seconds)}; raw profiles in {scratch}")
    report.write(f"{NAME}-singles" if args.singles else NAME, result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
