"""Side by side with BentoML: the same model and `core` pipeline, served by each, 2 workers each.

A BentoML 1.4 service is written into a temporary folder: it imports our `core` (the checkout's,
not a copy) and calls `core.pipeline.predict_files`, the function our worker's task calls, on
the model our stack serves. `bentoml serve` runs it with 2 workers beside `mnistq up --workers
2`; then, in alternating rounds (ours, then BentoML's, measurement by measurement):
1. 10,000 MNIST test PNGs through each system's best path: ours one job (as `bench e2e`);
   BentoML multipart batches of 256 files (`/predict_batch`: more than 1,000 files in one
   request is an error) and base64 strings in JSON batches of 1,000 (`/predict_base64`),
   `--clients` requests at once;
2. one image at a time on an idle server, 500 sequential requests (ours: `?wait`, as `bench
   latency`; BentoML: `/predict`);
3. singles under load: 32 threads sending single images while 2 clients send 2,000-image
   jobs (ours) or base64 batches (BentoML's best path), for 15 s: p50, p99, errors;
then the PSS of every process of each system. Every round's figures are reported, the ratios
of issue 19 round by round and over the best of each system.
Run: `python -m bench peers [--quick]` (--quick: 1,000 images, one round, 50 singles, 4 s of
8 + 1 clients with 500-image batches).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import string
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from bench import report
from bench.clients import loop, run_job, run_single
from bench.e2e import accuracy, ensure_model
from bench.images import multipart, png_files, test_set
from bench.latency import summary
from bench.procs import BIN, children, cmdline, memory_kib, mnistq_up, stop
from common.localhost import free_port, wait_for
from common.settings import PROJECT_ROOT, Settings

NAME = "peers"
MULTIPART_BATCH, BASE64_BATCH = 256, 1_000
"""BentoML's request sizes: Starlette refuses more than 1,000 files in one form."""
WARM_UP = 20
TARGETS = {"throughput_vs_best_bentoml": 1.2, "single_p50_vs_bentoml": 1.0,
           "single_p99_vs_bentoml": 1.5, "load_p50_vs_bentoml": 1.0,
           "load_p99_vs_bentoml": 1.0}
"""Issue 19: ours/BentoML's best throughput >= 1.2; idle single p50 <= 1x and p99 <= 1.5x
BentoML's; under load p50 and p99 below BentoML's (< 1)."""

SERVICE = string.Template('''\
"""BentoML service written by `python -m bench peers`: mnist-queue's own core pipeline."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import bentoml
from threadpoolctl import threadpool_limits

from core.imaging import ImageLimits
from core.model import DigitModel
from core.pipeline import predict_files

MODEL_PATH = Path($model)
LIMITS = ImageLimits(max_bytes=$max_bytes, max_pixels=$max_pixels)


@bentoml.service(workers=$workers, traffic={"timeout": 600})
class Digits:
    def __init__(self) -> None:
        threadpool_limits(limits=$threads)  # as our worker processes: processes x threads
        self.model = DigitModel.load(MODEL_PATH)

    def _read(self, items: list[tuple[int, str, bytes]]) -> list[dict[str, Any]]:
        return [r.to_dict() for r in predict_files(self.model, items, LIMITS)]

    @bentoml.api
    def predict(self, image: Path) -> dict[str, Any]:
        return self._read([(0, image.name, image.read_bytes())])[0]

    @bentoml.api
    def predict_batch(self, images: list[Path]) -> list[dict[str, Any]]:
        return self._read([(i, p.name, p.read_bytes()) for i, p in enumerate(images)])

    @bentoml.api
    def predict_base64(self, images: list[str]) -> list[dict[str, Any]]:
        return self._read([(i, str(i), base64.b64decode(d)) for i, d in enumerate(images)])
''')


def service_source(model_path: Path, settings: Settings, workers: int) -> str:
    """The BentoML service file's text for this model, our image limits and BLAS threads."""
    return SERVICE.substitute(
        model=repr(str(model_path.resolve())), max_bytes=settings.max_image_bytes,
        max_pixels=settings.max_image_pixels, workers=workers, threads=settings.worker_threads,
    )


@dataclass
class Bento:
    """A running `bentoml serve`: its URL and its process (the others are its descendants)."""

    url: str
    popen: subprocess.Popen
    output: Path


@contextlib.contextmanager
def bentoml_serve(model_path: Path, settings: Settings, workers: int = 2,
                  timeout: float = 180.0) -> Iterator[Bento]:
    """`bentoml serve` of the service above, on a free port, in a scratch folder."""
    with tempfile.TemporaryDirectory(prefix="mqpeers-") as scratch:
        folder = Path(scratch)
        (folder / "service.py").write_text(service_source(model_path, settings, workers))
        port = free_port()
        path = os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH")) if p)
        env = {**os.environ, "PYTHONPATH": path, "BENTOML_HOME": str(folder / "home"),
               "BENTOML_DO_NOT_TRACK": "True", "PYTHONUNBUFFERED": "1"}
        log = folder / "bentoml.log"
        with log.open("w") as out:
            popen = subprocess.Popen(
                [str(BIN / "bentoml"), "serve", "service:Digits", "--host", "127.0.0.1",
                 "--port", str(port), "--working-dir", str(folder)],
                cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for(lambda: requests.get(url + "/readyz", timeout=2).ok, timeout, 0.1,
                     "bentoml serve", lambda: popen.poll() is None)
            yield Bento(url, popen, log)
        except Exception:
            print(log.read_text()[-4000:], file=sys.stderr)
            raise
        finally:
            stop(popen)


def system_pss(root: int) -> list[dict[str, Any]]:
    """PSS (KiB, shared pages split) of `root` and every descendant, with their commands."""
    return [{"pid": pid, "command": command[:120], "pss_kib": memory_kib(pid)["pss_kib"]}
            for pid in [root, *children(root)] if (command := cmdline(pid))]  # gone: skipped


# --- clients -------------------------------------------------------------------------------

def post_batches(url: str, bodies: list[tuple[bytes, str]], clients: int
                 ) -> tuple[float, list[int | None]]:
    """Every body to `url` (BentoML), `clients` at once: (seconds, predictions in order)."""
    local = threading.local()

    def post(item: tuple[bytes, str]) -> list[int | None]:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        body, content_type = item
        response = local.session.post(url, data=body, headers={"Content-Type": content_type},
                                      timeout=600)
        response.raise_for_status()
        return [r["prediction"] for r in response.json()]

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        parts = list(pool.map(post, bodies))
    return time.perf_counter() - started, [p for part in parts for p in part]


def bento_single(session: requests.Session, url: str, body: bytes, content_type: str) -> float:
    """One image to BentoML's `/predict`: seconds until its prediction is back."""
    started = time.perf_counter()
    response = session.post(f"{url}/predict", data=body, headers={"Content-Type": content_type},
                            timeout=30)
    elapsed = time.perf_counter() - started
    if response.status_code != 200 or response.json().get("prediction") is None:
        raise RuntimeError(f"HTTP {response.status_code}: {response.text[:80]}")
    return elapsed


def base64_bodies(files: list[tuple[str, bytes]], batch: int) -> list[tuple[bytes, str]]:
    """`/predict_base64` bodies: `{"images": [base64, ...]}`, `batch` images each."""
    return [(json.dumps({"images": [base64.b64encode(d).decode() for _, d in
                                    files[s:s + batch]]}).encode(), "application/json")
            for s in range(0, len(files), batch)]


def sequential(call: Callable[[requests.Session, str, bytes, str], float], url: str,
               bodies: list[tuple[bytes, str]], count: int) -> dict[str, float]:
    """`count` single-image requests one after another (after a warm-up): latency summary."""
    session = requests.Session()
    for i in range(WARM_UP):
        call(session, url, *bodies[i % len(bodies)])
    return summary([call(session, url, *bodies[i % len(bodies)]) for i in range(count)])


def under_load(single: Callable[[requests.Session, int], float], big: Callable[[], int],
               seconds: float, threads: int, big_clients: int) -> dict[str, Any]:
    """`threads` clients send single images while `big_clients` send big batches, `seconds`:
    the singles' latency (ms), the big batches' images/s, errors by kind."""
    latencies: list[float] = []
    images: list[int] = []
    errors: Counter = Counter()
    until = time.monotonic() + seconds

    def singles() -> None:
        session, count = requests.Session(), iter(range(10**9))
        loop(until, lambda: 1000 * single(session, next(count)), latencies, errors)

    workers = [threading.Thread(target=singles) for _ in range(threads)]
    workers += [threading.Thread(target=loop, args=(until, big, images, errors))
                for _ in range(big_clients)]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.monotonic() - started
    return {
        "seconds": elapsed, "threads": threads, "big_clients": big_clients,
        "requests": len(latencies),
        "p50_ms": report.percentile(latencies, 50) if latencies else None,
        "p99_ms": report.percentile(latencies, 99) if latencies else None,
        "max_ms": max(latencies, default=None), "singles_per_s": len(latencies) / elapsed,
        "big_images_per_s": sum(images) / elapsed, "errors": dict(errors),
        "error_count": sum(errors.values()),
    }


# --- the rounds ----------------------------------------------------------------------------

def ratios(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, float | None]:
    """Issue 19's ratios of one round (or of the best figures): ours over BentoML's."""
    def over(a: float | None, b: float | None) -> float | None:
        return None if a is None or not b else a / b

    best = max(theirs["multipart_images_per_s"], theirs["base64_images_per_s"])
    return {
        "throughput_vs_best_bentoml": over(ours["images_per_s"], best),
        "single_p50_vs_bentoml": over(ours["single"]["p50_ms"], theirs["single"]["p50_ms"]),
        "single_p99_vs_bentoml": over(ours["single"]["p99_ms"], theirs["single"]["p99_ms"]),
        "load_p50_vs_bentoml": over(ours["load"]["p50_ms"], theirs["load"]["p50_ms"]),
        "load_p99_vs_bentoml": over(ours["load"]["p99_ms"], theirs["load"]["p99_ms"]),
    }


def met(values: dict[str, float | None]) -> dict[str, bool | None]:
    """Each ratio against its target: >= for throughput, <= idle, < under load."""
    out: dict[str, bool | None] = {}
    for key, target in TARGETS.items():
        value = values.get(key)
        out[key] = (None if value is None else value >= target if key.startswith("throughput")
                    else value < target if key.startswith("load") else value <= target)
    return out


def best_of(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure at its best over the rounds (throughput highest, latencies lowest)."""
    def low(part: str, key: str) -> float | None:
        values = [r[part][key] for r in rounds if r[part][key] is not None]
        return min(values, default=None)

    best: dict[str, Any] = {"single": {}, "load": {}}
    for key in rounds[0]:
        if key.endswith("images_per_s"):
            best[key] = max(r[key] for r in rounds)
    for part in ("single", "load"):
        for key in ("p50_ms", "p99_ms"):
            best[part][key] = low(part, key)
    return best


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = report.arguments(NAME, __doc__, "1,000 images, 1 round, 50 singles, 4 s of load "
                              "(8 + 1 clients, 500-image batches)", settings)
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 3)")
    parser.add_argument("--images", type=int, default=None, help="images (default 10,000)")
    parser.add_argument("--requests", type=int, default=None,
                        help="idle single-image requests per system and round (default 500)")
    parser.add_argument("--clients", type=int, default=4,
                        help="BentoML batch requests at once (default 4: 2 per worker)")
    parser.add_argument("--load-seconds", type=float, default=None, help="default 15")
    parser.add_argument("--load-threads", type=int, default=None, help="default 32")
    parser.add_argument("--big-clients", type=int, default=None, help="default 2")
    parser.add_argument("--big-images", type=int, default=None, help="default 2,000")
    parser.add_argument("--workers", type=int, default=2, help="workers of each (default 2)")
    args = parser.parse_args(argv)
    quick = args.quick
    n = args.images or (1_000 if quick else 10_000)
    rounds = args.rounds or (1 if quick else 3)
    count = args.requests or (50 if quick else 500)
    load_s = args.load_seconds or (4.0 if quick else 15.0)
    load_threads = args.load_threads or (8 if quick else 32)
    big_clients = args.big_clients or (1 if quick else 2)
    big_images = args.big_images or (500 if quick else 2_000)
    model_path = ensure_model(args.model)

    images, labels = test_set(args.data_dir, n)
    files = png_files(images)
    job = multipart(files)
    part_bodies = [multipart(files[s:s + MULTIPART_BATCH], field="images")
                   for s in range(0, n, MULTIPART_BATCH)]
    b64_bodies = base64_bodies(files, BASE64_BATCH)
    singles_ours = [multipart([f]) for f in files[:100]]
    singles_bento = [multipart([f], field="image") for f in files[:100]]
    big_files = (files * (big_images // n + 1))[:big_images]
    big_job = multipart(big_files)
    [big_b64] = base64_bodies(big_files, big_images)

    runs: list[dict[str, Any]] = []
    with mnistq_up(args.workers, model_path) as stack, \
            bentoml_serve(model_path, settings, args.workers) as bento:
        print(f"peers: mnistq up at {stack.url}, bentoml serve at {bento.url}", flush=True)
        run_job(stack.url, *multipart(files[:1024]))  # every worker has run a chunk
        post_batches(f"{bento.url}/predict_batch", part_bodies[:2 * args.clients], args.clients)

        def ours_big() -> int:
            _, done = run_job(stack.url, *big_job)
            if done["status"] != "succeeded":
                raise RuntimeError(f"big job {done['status']}")
            return big_images

        def bento_big() -> int:
            _, predictions = post_batches(f"{bento.url}/predict_base64", [big_b64], 1)
            return len(predictions)

        for number in range(1, rounds + 1):
            ours: dict[str, Any] = {}
            theirs: dict[str, Any] = {}
            seconds, done = run_job(stack.url, *job)
            ours["images_per_s"] = report.rate(n, seconds)
            ours["accuracy"] = accuracy([r["prediction"] for r in done["results"]], labels)
            seconds, predicted = post_batches(f"{bento.url}/predict_batch", part_bodies,
                                              args.clients)
            theirs["multipart_images_per_s"] = report.rate(n, seconds)
            theirs["multipart_accuracy"] = accuracy(predicted, labels)
            seconds, predicted = post_batches(f"{bento.url}/predict_base64", b64_bodies,
                                              args.clients)
            theirs["base64_images_per_s"] = report.rate(n, seconds)
            theirs["base64_accuracy"] = accuracy(predicted, labels)

            ours["single"] = sequential(run_single, stack.url, singles_ours, count)
            theirs["single"] = sequential(bento_single, bento.url, singles_bento, count)

            ours["load"] = under_load(
                lambda s, i: run_single(s, stack.url, *singles_ours[i % 100]), ours_big,
                load_s, load_threads, big_clients)
            theirs["load"] = under_load(
                lambda s, i: bento_single(s, bento.url, *singles_bento[i % 100]), bento_big,
                load_s, load_threads, big_clients)
            paired = ratios(ours, theirs)
            runs.append({"round": number, "ours": ours, "bentoml": theirs, "ratios": paired,
                         "load_average": [round(x, 2) for x in os.getloadavg()]})
            print(f"round {number}: " + ", ".join(
                f"{k} {v:.2f}" for k, v in paired.items() if v is not None), flush=True)
        memory = {"ours": system_pss(stack.popen.pid), "bentoml": system_pss(bento.popen.pid)}

    best = {"ours": best_of([r["ours"] for r in runs]),
            "bentoml": best_of([r["bentoml"] for r in runs])}
    best_ratios = ratios(best["ours"], best["bentoml"])
    pss_mib = {k: sum(p["pss_kib"] for p in v) / 1024 for k, v in memory.items()}
    result = {
        "quick": quick, "model": str(model_path), "n_images": n, "workers": args.workers,
        "rounds": runs, "best": best, "memory": memory, "pss_mib": pss_mib,
        "setup": {"bentoml_multipart_batch": MULTIPART_BATCH, "bentoml_base64_batch":
                  BASE64_BATCH, "bentoml_clients": args.clients, "single_requests": count,
                  "load_seconds": load_s, "load_threads": load_threads,
                  "big_clients": big_clients, "big_images": big_images,
                  "bentoml_version": _bentoml_version()},
        "ratios_best": best_ratios, "targets": TARGETS, "targets_met_best": met(best_ratios),
        "targets_met_by_round": [met(r["ratios"]) for r in runs],
    }
    print(report.table(_header(n), _rows(runs, pss_mib)))
    for key, target in TARGETS.items():
        by_round = [r["ratios"][key] for r in runs]
        shown = ", ".join("-" if v is None else f"{v:.2f}" for v in by_round)
        value = best_ratios[key]
        print(f"{key}: best {'-' if value is None else f'{value:.2f}'} (target "
              f"{'>=' if key.startswith('throughput') else '<' if key.startswith('load') else '<='}"
              f" {target}); round by round {shown}")
    report.write(NAME, result, args.out)
    return 0


def _bentoml_version() -> str:
    from importlib.metadata import version

    return version("bentoml")


def _header(n: int) -> tuple[str, ...]:
    return (f"round, system ({n:,} images)", "multipart img/s", "base64 img/s", "idle p50 ms",
            "idle p99 ms", "load p50 ms", "load p99 ms", "load errors",
            "load singles/s", "load batches img/s", "PSS MiB")


def _rows(runs: list[dict[str, Any]], pss_mib: dict[str, float]) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    last = len(runs)
    for run in runs:
        ours, theirs, number = run["ours"], run["bentoml"], run["round"]
        rows.append((f"{number} mnist-queue (one job)", round(ours["images_per_s"]), "-",
                     *_latencies(ours), round(pss_mib["ours"]) if number == last else ""))
        rows.append((f"{number} BentoML", round(theirs["multipart_images_per_s"]),
                     round(theirs["base64_images_per_s"]), *_latencies(theirs),
                     round(pss_mib["bentoml"]) if number == last else ""))
    return rows


def _latencies(side: dict[str, Any]) -> tuple[Any, ...]:
    def ms(value: float | None) -> Any:
        return "-" if value is None else round(value, 1)

    return (ms(side["single"]["p50_ms"]), ms(side["single"]["p99_ms"]),
            ms(side["load"]["p50_ms"]), ms(side["load"]["p99_ms"]),
            side["load"]["error_count"], round(side["load"]["singles_per_s"]),
            round(side["load"]["big_images_per_s"]))


if __name__ == "__main__":
    sys.exit(main())
