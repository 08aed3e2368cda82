"""`python -m bench [NAME ...] [--quick] [ARGS]`: run benchmarks, all of them by default.

Each benchmark is a module of this package with `main(argv) -> int` that prints a table and
writes `bench/results/<name>.json`. Options other than `--quick` go to the benchmark when
one is named (e.g. `python -m bench e2e --chunk-size 512`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Sequence

BENCHMARKS = {
    "model": "fast predictor vs SVC.predict, 1 thread each, identical labels",
    "features": "HOG features images/s per core, stage by stage (scale, deskew, HOG, sqrt, PCA)",
    "lowres": "accuracy and calibration on small, blurry, grey scans of MNIST test digits",
    "hands": "the same MNIST test digits read plainly and in another hand (eval.make's writer)",
    "preprocess": "decode + find the digit + normalise + deskew per core: PNG, 400x400 and "
                  "12-megapixel JPEGs",
    "captures": "photos, forms, pencil...: accuracy and boxes per kind (--set DIR [--make])",
    "numbers": "numbers of 3-7 digits: exact matches and CPU per image per kind (--set DIR "
               "[--make]); --job N: an N-number job through a 2-worker stack",
    "latency": "single-image job p50/p99 vs the baseline's single image",
    "e2e": "10,000 PNGs over HTTP: baseline, in-process, 1 and 2 workers; memory",
    "memory": "resident memory of a worker process with the model, and of the API",
    "scaling": "throughput against workers and chunk size; writes docs/throughput.png",
    "hotpaths": "multipart splitter, results splicing, Result.to_dict vs what they replaced",
    "metrics": "cost of a /metrics scrape at 1,000 jobs, and of metrics on the hot path",
    "after_load": "a 10,000-image job on a fresh stack and on one that has just served load",
    "load": "single images under big jobs (lanes, fairness, events), then a 1M-image soak",
    "peers": "BentoML 1.4 serving the same core and model beside mnistq up, 2 workers each: "
             "10,000 images, one image idle and under load, memory",
    "containers": "docker compose (2 workers) vs mnistq up --workers 2; image sizes",
    "switch": "model version activation and rollback under load: time, lost images, p99",
    "corrections": "review 300 misread captures of the weakest kind, retrain with --extra: "
                   "held-out kind and MNIST test, old vs new",
}


def build_parser() -> argparse.ArgumentParser:
    lines = "\n".join(f"  {name:<11}{what}" for name, what in BENCHMARKS.items())
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=f"Benchmarks of mnist-queue:\n{lines}",
        formatter_class=argparse.RawDescriptionHelpFormatter, add_help=False,
    )
    parser.add_argument("-h", "--help", action="store_true",
                        help="this help; after a NAME, that benchmark's options")
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run (all)")
    parser.add_argument("--quick", action="store_true", help="a small, fast run of each")
    return parser


def run(names: Sequence[str], quick: bool, extra: Sequence[str]) -> int:
    """Run each named benchmark in turn; the worst exit code."""
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from "
              f"{', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    selected = list(names) or list(BENCHMARKS)
    if extra and len(selected) > 1:
        print(f"options {' '.join(extra)} need exactly one benchmark name", file=sys.stderr)
        return 2
    worst = 0
    for name in selected:
        print(f"\n== {name}: {BENCHMARKS[name]}", flush=True)
        started = time.perf_counter()
        module = importlib.import_module(f"bench.{name}")
        code = module.main([*(["--quick"] if quick else []), *extra])
        print(f"== {name}: done in {time.perf_counter() - started:.0f} s", flush=True)
        worst = max(worst, int(code or 0))
    return worst


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.help and not args.names:
        parser.print_help()
        return 0
    return run(args.names, args.quick, [*(["--help"] if args.help else []), *extra])


if __name__ == "__main__":
    sys.exit(main())
