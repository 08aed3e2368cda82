"""Where a single-image `?wait` request spends its time, step by step, from Redis's own clock.

Starts `mnistq up --workers N`, warms it up, then sends single-image jobs with `?wait` one
after another while Redis `MONITOR` timestamps (µs) every command of every process: the
API's job record and chunk store, Celery's publish, the worker main process taking the
message, the pool process beginning and recording the chunk, the API's read after its
long-poll wakes. The gaps between those commands, and the client's own clock at both ends,
split each request into steps; the median and p90 of each step are printed. Beside them,
`predict_files` on one image in this process (one BLAS thread, as a worker): in a hot loop,
and after `--gap` seconds of idleness, as a worker meets a single image. MONITOR costs
Redis some CPU, so the total runs a little above `bench latency`'s. Not one of the `python
-m bench` suite (a diagnosis, not a figure to track): `python -m bench.timeline
[--requests 300] [--workers 2]`.

The steps are those of a Celery batch task, so the stack runs with the workers' fast lane
off (`MNISTQ_FAST_LANE=0`; with it on, a single image takes none of Celery's steps:
docs/performance.md "The fast lane").
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
import requests

from bench import report
from bench.images import multipart, png_files, test_set
from bench.procs import mnistq_up
from common.localhost import wait_for
from common.settings import Settings

NAME = "timeline"
STEPS = (
    "client sends → API records the job (HTTP, Flask, multipart, limits)",
    "job recorded → chunk stored",
    "chunk stored → Celery message published",
    "published → worker main process has taken it",
    "taken → pool process begins the chunk (pipe to the pool, task set-up)",
    "begins → results recorded (fetch, decode, predict, record)",
    "recorded → API reads the job (long-poll wakes)",
    "API reads → client holds the answer (JSON, HTTP)",
)
ACK = "results recorded → Celery ack (off the request's path)"
ACK_WITHIN = 5.0
"""Seconds after the record in which the chunk's ack is looked for (a loaded machine acks
late; the next request's ack comes after its own record, well past this one's)."""
READY = "mnistq-timeline-monitor-attached"


@dataclass(frozen=True)
class Command:
    at: float
    """Redis's clock, seconds since the epoch."""
    text: str


def monitor(client: redis.Redis, into: list[Command], stop: threading.Event) -> None:
    """Append every command Redis runs to `into` until `stop` is set (and one more arrives)."""
    with client.monitor() as feed:
        for command in feed.listen():
            into.append(Command(command["time"], command["command"][:200]))
            if stop.is_set():
                return


def steps_of(job_id: str, sent: float, answered: float, commands: list[Command]
             ) -> list[float] | None:
    """The request's steps in ms (see STEPS, then ACK), or None when a command is missing."""
    job = f"mnistq:job:{job_id}"
    mine = [c for c in commands if sent <= c.at <= answered + 0.01]
    marks = (  # each step ends with the first command after the previous one that matches
        lambda t: t.startswith(f"HSET {job} status queued"),  # create_job
        lambda t: t.startswith(f"HSET {job}:images"),  # the first chunk stored
        lambda t: t.startswith("LPUSH mnistq"),  # Celery's publish
        lambda t: t.startswith("ZADD unacked_index"),  # the worker main process took it
        lambda t: t.startswith(f"HINCRBY {job} attempts:"),  # the chunk begun
        lambda t: t.startswith("EVALSHA") and job in t,  # record_results
        lambda t: t.startswith(f"HGETALL {job}"),  # the API's read after the wake-up
    )
    points, position = [sent], 0
    for matches in marks:
        position = next((i for i in range(position, len(mine)) if matches(mine[i].text)), -1)
        if position < 0:
            return None
        points.append(mine[position].at)
        position += 1
    points.append(answered)
    recorded = points[6]
    ack = next((c.at for c in commands if recorded < c.at < recorded + ACK_WITHIN
                and c.text.startswith("ZREM unacked_index")), None)  # may follow the answer
    if ack is None:
        return None
    return [*(1000 * (b - a) for a, b in itertools.pairwise(points)), 1000 * (ack - recorded)]


def predict_one(model_path: Path, files: list[tuple[str, bytes]], gap: float,
                settings: Settings, count: int = 200) -> dict[str, float]:
    """p50 ms of `predict_files` on one image: back to back, and after `gap` s of sleep."""
    from threadpoolctl import threadpool_limits

    from core.imaging import ImageLimits
    from core.model import DigitModel
    from core.pipeline import predict_files

    threadpool_limits(limits=settings.worker_threads)
    model = DigitModel.load(model_path)
    limits = ImageLimits(settings.max_image_bytes, settings.max_image_pixels)

    def once(i: int) -> float:
        started = time.perf_counter()
        predict_files(model, [(0, files[i % len(files)][0], files[i % len(files)][1])], limits)
        return 1000 * (time.perf_counter() - started)

    for i in range(50):
        once(i)
    hot = [once(i) for i in range(count)]
    cold = []
    for i in range(count):
        time.sleep(gap)
        cold.append(once(i))
    return {"hot_p50_ms": statistics.median(hot), "after_gap_p50_ms": statistics.median(cold)}


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(prog="python -m bench.timeline",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--gap", type=float, default=0.02,
                        help="seconds between two requests (default 0.02)")
    parser.add_argument("--model", type=Path, default=report.default_model(settings))
    parser.add_argument("--data-dir", type=Path, default=settings.data_dir)
    parser.add_argument("--out", type=Path, default=None, help="JSON report path")
    args = parser.parse_args(argv)
    images, _ = test_set(args.data_dir, 100)
    files = png_files(images)
    bodies = [multipart([f]) for f in files]
    sent: list[tuple[str, float, float]] = []
    commands: list[Command] = []
    with mnistq_up(args.workers, args.model, env={"MNISTQ_FAST_LANE": "0"}) as stack:
        session = requests.Session()

        def single(i: int) -> tuple[str, float, float]:
            body, content_type = bodies[i % len(bodies)]
            started = time.time()
            answer = session.post(f"{stack.url}/api/v1/jobs", params={"wait": 10}, data=body,
                                  headers={"Content-Type": content_type}, timeout=30)
            answer.raise_for_status()
            return answer.json()["id"], started, time.time()

        for i in range(30):
            single(i)
        client = redis.Redis.from_url(stack.redis_url)
        stop = threading.Event()
        watcher = threading.Thread(target=monitor, args=(client, commands, stop), daemon=True)
        watcher.start()
        # MONITOR attached: it has seen a command sent after it started
        wait_for(lambda: client.echo(READY) and any(READY in c.text for c in list(commands)),
                 timeout=30, interval=0.05, what="Redis MONITOR to attach")
        for i in range(args.requests):
            sent.append(single(i))
            time.sleep(args.gap)
        stop.set()
        client.ping()  # one more command, so the monitor thread sees `stop`
        watcher.join(10)
    rows = [s for s in (steps_of(job, a, b, commands) for job, a, b in sent) if s is not None]
    if not rows:
        print("no request could be followed through MONITOR", file=sys.stderr)
        return 1
    totals = [1000 * (b - a) for _, a, b in sent]
    in_process = predict_one(args.model, files, args.gap, settings)
    result: dict[str, Any] = {
        "workers": args.workers, "requests": len(sent), "followed": len(rows),
        "steps_ms": {name: {"p50": statistics.median(col), "p90": report.percentile(col, 90),
                            "mean": statistics.fmean(col)}
                     for name, col in zip((*STEPS, ACK), zip(*rows, strict=True), strict=True)},
        "total_ms": {"p50": statistics.median(totals), "p90": report.percentile(totals, 90)},
        "predict_files_one_image": in_process,
    }
    steps = [(name, v["p50"], v["p90"]) for name, v in result["steps_ms"].items()]
    print(report.table(("step of one single-image ?wait request", "p50 ms", "p90 ms"),
                       [*steps[:-1], ("total (client clock)", result["total_ms"]["p50"],
                                      result["total_ms"]["p90"]), steps[-1]]))
    print(f"{len(rows)} of {len(sent)} requests followed through MONITOR")
    print(f"predict_files, one image, in process: p50 {in_process['hot_p50_ms']:.2f} ms back to "
          f"back, {in_process['after_gap_p50_ms']:.2f} ms after {args.gap:g} s idle")
    report.write(NAME, result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
