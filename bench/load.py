"""Load: single images under big jobs, fairness between big jobs, then a soak.

On `mnistq up --workers 2` with its own Redis, all on 127.0.0.1:
1. idle: single-image jobs (`?wait`) one after another, and one big job alone: the idle
   latency and throughput the loaded figures are read against;
2. load (60 s): 32 clients send single images with `?wait` while 4 clients submit
   10,000-image jobs back to back, each followed through its event stream. Reported:
   single-image p50/p99/max, big-job throughput and durations, how long each big job waited
   for its first results (every one after the first few is submitted behind others), how long
   after a job's end its `end` event arrived, errors by kind, lost images;
3. soak: 1,000,000 images in jobs of mixed size (1 to 10,000 images) from 8 clients, bounded
   by --soak-timeout; throughput against the idle figure; resident memory of every process
   at the start and the end.
Run: `python -m bench load [--quick]` (--quick: 10 s, 8 + 2 clients, 2,000-image jobs and a
20,000-image soak). Figures on a shared machine are inflated: read the load average.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests
import sseclient

from bench import report
from bench.clients import loop, run_single
from bench.e2e import ensure_model
from bench.images import multipart, png_files, test_set
from bench.procs import Stack, cpu_seconds, memory_kib, mnistq_up
from common.settings import Settings

NAME = "load"
TARGETS = {"single_p50_ms": 20.0, "single_p99_ms": 100.0, "second_job_first_result_s": 2.0,
           "sse_end_after_ms": 50.0, "webhook_after_end_ms": 1000.0, "rss_growth_pct": 10.0}
SOAK_SIZES = (1, 1, 1, 10, 100, 1000, 10_000)
"""Job sizes the soak cycles through (single images most often, as people send them)."""


def ms(values: list[float]) -> dict[str, float]:
    if not values:
        return {"count": 0}
    return {"count": len(values), "p50_ms": report.percentile(values, 50),
            "p99_ms": report.percentile(values, 99), "max_ms": max(values),
            "mean_ms": statistics.fmean(values)}


def memory(stack: Stack) -> dict[str, dict[str, int]]:
    """RSS (KiB) of every process of the stack, by role and pid."""
    roles = {**stack.roles(), "up": [stack.popen.pid]}
    return {role: {str(pid): memory_kib(pid)["rss_kib"] for pid in pids}
            for role, pids in roles.items()}


def follow_big(url: str, body: bytes, content_type: str) -> dict[str, Any]:
    """Submit one big job and follow its event stream: when its first results arrived, when
    its `end` arrived (vs its recorded end), whether every image came back."""
    session = requests.Session()
    submitted = time.time()
    response = session.post(f"{url}/api/v1/jobs", data=body,
                            headers={"Content-Type": content_type}, timeout=300)
    response.raise_for_status()
    job = response.json()
    first_result = end_at = None
    with session.get(f"{url}/api/v1/jobs/{job['id']}/events", stream=True,
                     timeout=(10, 600)) as stream:
        stream.raise_for_status()
        for event in sseclient.SSEClient(stream.iter_content(chunk_size=None)).events():
            data = json.loads(event.data) if event.data else {}
            if first_result is None and data.get("processed", 0) > 0:
                first_result = time.time()
            if event.event == "end":
                end_at = time.time()
                break
    final = session.get(f"{url}/api/v1/jobs/{job['id']}", timeout=120).json()
    finished = _epoch(final["finished_at"])
    rows = final["results"] or []
    return {
        "images": final["total"], "status": final["status"],
        "lost": final["total"] - sum(1 for r in rows if r.get("prediction") is not None
                                     or r.get("error")),
        "seconds": finished - submitted,
        "first_result_s": (first_result or end_at or finished) - submitted,
        "end_event_after_ms": 1000 * ((end_at or finished) - finished),
        "submitted": submitted, "finished": finished,
    }


class Receiver:
    """A webhook receiver on 127.0.0.1: when each delivery arrived, by job id."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.arrived.setdefault(body["id"], time.time())
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def webhook_delays(url: str, bodies: list[tuple[bytes, str]], count: int = 20) -> list[float]:
    """Milliseconds from each job's recorded end to its webhook's arrival, `count` jobs."""
    receiver = Receiver()
    session = requests.Session()
    ended: dict[str, float] = {}
    try:
        for i in range(count):
            body, content_type = bodies[i % len(bodies)]
            job = session.post(f"{url}/api/v1/jobs", data=body, timeout=30,
                               params={"wait": 10, "callback_url": receiver.url},
                               headers={"Content-Type": content_type}).json()
            ended[job["id"]] = _epoch(job["finished_at"])
        deadline = time.monotonic() + 30
        while len(receiver.arrived) < count and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        receiver.server.shutdown()
    return [1000 * (receiver.arrived[j] - t) for j, t in ended.items() if j in receiver.arrived]


def _epoch(iso_text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso_text.replace("Z", "+00:00")).timestamp()


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = report.arguments(NAME, __doc__, "10 s, 8 + 2 clients, 2,000-image jobs", settings)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--duration", type=float, default=None, help="load phase seconds")
    parser.add_argument("--single-clients", type=int, default=None)
    parser.add_argument("--big-clients", type=int, default=None)
    parser.add_argument("--big-images", type=int, default=None)
    parser.add_argument("--soak-images", type=int, default=None, help="0: no soak")
    parser.add_argument("--soak-timeout", type=float, default=1800.0,
                        help="the soak stops after this many seconds whatever its count")
    args = parser.parse_args(argv)
    quick = args.quick
    duration = args.duration or (10.0 if quick else 60.0)
    singles = args.single_clients or (8 if quick else 32)
    bigs = args.big_clients or (2 if quick else 4)
    big_images = args.big_images or (2000 if quick else 10_000)
    soak_images = args.soak_images if args.soak_images is not None else (
        20_000 if quick else 1_000_000)
    model = ensure_model(args.model)
    images, _ = test_set(args.data_dir, 10_000)
    files = png_files(images)
    single_bodies = [multipart([f]) for f in files[:100]]
    big_body = multipart((files * (big_images // len(files) + 1))[:big_images])
    soak_bodies = {n: multipart((files * (n // len(files) + 1))[:n]) for n in set(SOAK_SIZES)}

    webhook_env = {"MNISTQ_WEBHOOK_HOSTS": "127.0.0.1",
                   "MNISTQ_WEBHOOK_SECRET": "bench-only-secret"}
    with mnistq_up(args.workers, model, env=webhook_env) as stack:
        url = stack.url
        rss_start = memory(stack)
        session = requests.Session()
        idle = [1000 * run_single(session, url, *single_bodies[i % 100]) for i in range(120)][20:]
        alone = follow_big(url, *big_body)
        hooks = webhook_delays(url, single_bodies)
        idle_rate = alone["images"] / alone["seconds"]
        print(f"idle: single p50 {report.percentile(idle, 50):.1f} ms; one {big_images}-image "
              f"job alone {idle_rate:,.0f} images/s", flush=True)

        single_ms: list[float] = []
        big_jobs: list[dict[str, Any]] = []
        errors: Counter = Counter()
        started = time.monotonic()
        until = started + duration
        cpu_before = cpu_by_role(stack)

        local = threading.local()

        def one_single() -> float:
            if not hasattr(local, "session"):
                local.session, local.count = requests.Session(), 0
            local.count += 1
            return 1000 * run_single(local.session, url, *single_bodies[local.count % 100])

        threads = [threading.Thread(target=loop, args=(until, one_single, single_ms, errors))
                   for _ in range(singles)]
        threads += [threading.Thread(target=loop, args=(
            until, lambda: follow_big(url, *big_body), big_jobs, errors)) for _ in range(bigs)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        load_seconds = time.monotonic() - started
        cpu_after = cpu_by_role(stack)
        busy = {role: (cpu_after[role] - cpu_before[role]) / load_seconds for role in cpu_after}
        done_images = sum(j["images"] for j in big_jobs)
        load = {
            "seconds": load_seconds, "single_clients": singles, "big_clients": bigs,
            "big_images": big_images, "single": ms(single_ms),
            "single_throughput_per_s": len(single_ms) / load_seconds,
            "big_jobs": len(big_jobs), "big_images_per_s": done_images / load_seconds,
            "big_job_seconds": ms([1000 * j["seconds"] for j in big_jobs]),
            "first_result_s": ms([1000 * j["first_result_s"] for j in big_jobs]),
            "sse_end_after": ms([j["end_event_after_ms"] for j in big_jobs]),
            "errors": dict(errors), "lost_images": sum(j["lost"] for j in big_jobs),
            "not_succeeded": sum(j["status"] != "succeeded" for j in big_jobs),
            "cores_busy": busy, "cores": os.cpu_count(),
        }

        soak: dict[str, Any] = {"images": 0}
        rss_soak_start = memory(stack)
        samples = [{"images": 0, "rss_kib": rss_soak_start}]
        if soak_images:
            soak = run_soak(url, soak_bodies, soak_images, args.soak_timeout,
                            sample=lambda done: samples.append(
                                {"images": done, "rss_kib": memory(stack)}))
            soak["vs_idle"] = soak["images_per_s"] / idle_rate
            samples.sort(key=lambda s: s["images"])  # taken by the clients, in any order
        rss_end = memory(stack)

    # over the soak: warm processes (the API's buffers have seen the biggest upload already).
    # Redis is apart: it keeps every job's results for MNISTQ_JOB_TTL, so it grows with the
    # images read by design (reported per image); a leak in the other processes shows as
    # growth that goes on in the soak's second half, not only at its start.
    growth = rss_growth(rss_soak_start, rss_end)
    middle = min(samples, key=lambda s: abs(s["images"] - soak.get("images", 0) / 2))
    second_half = rss_growth(middle["rss_kib"], rss_end)
    service = {k: v for k, v in growth.items() if not k.startswith("redis:")}
    redis_growth_kib = sum(rss_end["redis"].values()) - sum(rss_soak_start["redis"].values())
    result = {
        "quick": quick, "model": str(model), "workers": args.workers,
        "idle": {"single": ms(idle), "big_images_per_s": idle_rate, "big_job": alone,
                 "webhook_after_end": ms(hooks)},
        "load": load, "soak": soak, "rss_kib_start": rss_start,
        "rss_kib_soak_start": rss_soak_start, "rss_kib_end": rss_end,
        "rss_growth_over_soak_pct": growth, "rss_growth_second_half_pct": second_half,
        "rss_soak_samples": samples,
        "redis_kib_per_image_kept": redis_growth_kib / max(soak.get("images", 0), 1),
        "targets": TARGETS,
    }
    first = load["first_result_s"]
    print(report.table(["figure", "value"], [
        ["idle single image p50 (ms)", report.percentile(idle, 50)],
        ["idle big job (images/s)", idle_rate],
        ["idle: webhook after job end, p50 (ms)", ms(hooks).get("p50_ms", 0.0)],
        ["idle: webhook after job end, max (ms)", ms(hooks).get("max_ms", 0.0)],
        ["idle: webhooks received", f"{len(hooks)}/20"],
        [f"load: single p50 (ms), {singles} clients", load["single"].get("p50_ms", 0.0)],
        ["load: single p99 (ms)", load["single"].get("p99_ms", 0.0)],
        ["load: single max (ms)", load["single"].get("max_ms", 0.0)],
        ["load: single images/s", load["single_throughput_per_s"]],
        [f"load: big jobs done ({bigs} clients)", load["big_jobs"]],
        ["load: big-job images/s", load["big_images_per_s"]],
        ["load: big job p50 duration (s)", load["big_job_seconds"].get("p50_ms", 0) / 1000],
        ["load: big job first results, max (s)", first.get("max_ms", 0) / 1000],
        ["load: end event after job end, p50 (ms)", load["sse_end_after"].get("p50_ms", 0.0)],
        ["load: end event after job end, max (ms)", load["sse_end_after"].get("max_ms", 0.0)],
        ["load: cores busy, all processes", sum(load["cores_busy"].values())],
        *([f"... {role}", busy] for role, busy in load["cores_busy"].items()),
        ["load: errors", sum(errors.values())],
        ["load: lost images", load["lost_images"]],
        ["soak: images", soak.get("images", 0)],
        ["soak: images/s", soak.get("images_per_s", 0.0)],
        ["soak: vs idle big job", soak.get("vs_idle", 0.0)],
        ["soak: errors", sum(soak.get("errors", {}).values())],
        ["max RSS growth over the soak, API and workers (%)", max(service.values(), default=0.0)],
        ["... over its second half (%)", max((v for k, v in second_half.items()
                                              if not k.startswith("redis:")), default=0.0)],
        ["Redis growth per image kept (KiB)", result["redis_kib_per_image_kept"]],
    ]))
    if errors:
        print(f"errors by kind: {dict(errors)}")
    report.write(NAME, result, args.out)
    return 0


def cpu_by_role(stack: Stack) -> dict[str, float]:
    """CPU seconds used so far by each role's processes, and by this benchmark's own clients
    (this process): how busy the machine is, and with what, while latency is measured."""
    used = {role: sum(cpu_seconds(pid) for pid in pids) for role, pids in stack.roles().items()}
    return {**used, "clients": time.process_time()}


def rss_growth(before: dict[str, dict[str, int]], after: dict[str, dict[str, int]]
               ) -> dict[str, float]:
    """Percent growth of each process's RSS, by "role:pid"."""
    return {f"{role}:{pid}": 100 * (after[role].get(pid, 0) - kib) / kib
            for role, pids in before.items() for pid, kib in pids.items() if kib}


def run_soak(url: str, bodies: dict[int, tuple[bytes, str]], target: int, timeout: float,
             clients: int = 8, sample: Callable[[int], None] = lambda done: None
             ) -> dict[str, Any]:
    """`target` images in jobs of SOAK_SIZES from `clients` threads (each job long-polled
    to its end); stops at `timeout` seconds whatever the count. `sample(images done)` is
    called each time another tenth of the target is done (memory over the soak)."""
    lock = threading.Lock()
    state = {"images": 0, "jobs": 0, "lost": 0, "next": 0, "tenth": 0}
    errors: Counter = Counter()
    started = time.monotonic()
    deadline = started + timeout

    def client() -> None:
        session = requests.Session()
        while time.monotonic() < deadline:
            with lock:
                if state["images"] >= target:
                    return
                size = SOAK_SIZES[state["next"] % len(SOAK_SIZES)]
                state["next"] += 1
            body, content_type = bodies[size]
            try:
                job = session.post(f"{url}/api/v1/jobs", data=body, params={"wait": 60},
                                   headers={"Content-Type": content_type}, timeout=300).json()
                while job.get("results") is None:
                    job = session.get(f"{url}/api/v1/jobs/{job['id']}", params={"wait": 60},
                                      timeout=120).json()
                lost = job["total"] - len(job["results"])
            except requests.RequestException as exc:
                errors[type(exc).__name__] += 1
                continue
            except (KeyError, ValueError) as exc:
                errors[f"bad answer: {exc}"] += 1
                continue
            with lock:
                state["images"] += job["total"]
                state["jobs"] += 1
                state["lost"] += lost
                tenth = min(10, 10 * state["images"] // target)
                crossed, state["tenth"] = tenth > state["tenth"], max(tenth, state["tenth"])
                done = state["images"]
            if crossed:
                sample(done)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - started
    return {"target": target, "images": state["images"], "jobs": state["jobs"],
            "lost_images": state["lost"], "seconds": seconds,
            "images_per_s": state["images"] / seconds, "errors": dict(errors),
            "timed_out": state["images"] < target}


if __name__ == "__main__":
    sys.exit(main())
