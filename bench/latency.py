"""Latency: single-image jobs with `?wait` on an idle stack, against the baseline's single image.

500 sequential requests each (one client, keep-alive), after a warm-up: p50 and p99 of the
time from sending the upload to holding the result. The baseline (the seed's Flask app)
answers one image in one synchronous request; our stack stores it, queues a chunk, a worker
predicts it and the API's long-poll wakes up. Run: `python -m bench latency [--quick]`.
"""

from __future__ import annotations

import statistics
import sys

import requests

from bench import report
from bench.baseline import seed
from bench.clients import baseline_single, run_single
from bench.e2e import ensure_model
from bench.images import multipart, png_files, test_set
from bench.procs import baseline_server, mnistq_up
from common.settings import Settings

NAME = "latency"
WARM_UP = 20
TARGETS = {"p50_vs_baseline_p50": 2.0, "p99_ms": 25.0}


def summary(seconds: list[float]) -> dict[str, float]:
    ms = [1000 * s for s in seconds]
    return {
        "requests": len(ms), "p50_ms": report.percentile(ms, 50),
        "p90_ms": report.percentile(ms, 90), "p99_ms": report.percentile(ms, 99),
        "max_ms": max(ms), "mean_ms": statistics.fmean(ms),
    }


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = report.arguments("latency", __doc__, "50 requests each", settings)
    parser.add_argument("--requests", type=int, default=None)
    parser.add_argument("--workers", type=int, default=2, help="stack workers (default 2)")
    args = parser.parse_args(argv)
    count = args.requests or (50 if args.quick else 500)
    model_path = ensure_model(args.model)
    seed_model = seed.ensure_model(args.data_dir, seed.QUICK_LIMIT if args.quick else None)
    images, _ = test_set(args.data_dir, 100)
    bodies = [multipart([f]) for f in png_files(images)]

    def series(call, url: str) -> list[float]:
        session = requests.Session()
        for i in range(WARM_UP):
            call(session, url, *bodies[i % len(bodies)])
        return [call(session, url, *bodies[i % len(bodies)]) for i in range(count)]

    with baseline_server(seed_model, workers=2) as baseline:
        base = summary(series(baseline_single, baseline.url))
    with mnistq_up(args.workers, model_path) as stack:
        ours = summary(series(run_single, stack.url))
    ratio = ours["p50_ms"] / base["p50_ms"]
    result = {
        "quick": args.quick, "model": str(model_path), "workers": args.workers,
        "baseline": base, "stack": ours, "p50_vs_baseline_p50": ratio, "targets": TARGETS,
        "targets_met": {"p50_vs_baseline_p50": ratio <= TARGETS["p50_vs_baseline_p50"],
                        "p99_ms": ours["p99_ms"] <= TARGETS["p99_ms"]},
    }
    header = (f"1 image, {count} requests", "p50 ms", "p90 ms", "p99 ms", "max ms")
    print(report.table(header, [
        ("baseline: seed Flask app (sync)", base["p50_ms"], base["p90_ms"], base["p99_ms"],
         base["max_ms"]),
        (f"mnistq up --workers {args.workers}, ?wait", ours["p50_ms"], ours["p90_ms"],
         ours["p99_ms"], ours["max_ms"]),
    ]))
    print(f"p50 ratio to baseline {ratio:.2f} (target <= {TARGETS['p50_vs_baseline_p50']}), "
          f"p99 {ours['p99_ms']:.1f} ms (target <= {TARGETS['p99_ms']})")
    report.write(NAME, result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
