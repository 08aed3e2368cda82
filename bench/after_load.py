"""After a busy spell: does a big job run as fast on a stack that has just served load?

Two `mnistq up --workers 2` side by side with the same model. One of them first serves the
load of `bench peers` (32 clients sending single images with `?wait` beside 2 clients
submitting 2,000-image jobs, 15 s); then each stack in turn reads a 10,000-image job, for
`--rounds` rounds. Chunks are cut by what an image costs the workers (common/queue.py), and
what the load leaves in that figure must not slow the jobs after it: the two columns should
agree within the machine's noise. Run: `python -m bench after_load [--quick]`.
"""

from __future__ import annotations

import contextlib
import statistics
import sys
from typing import Any

from bench import report
from bench.clients import run_job, run_single
from bench.e2e import ensure_model
from bench.images import multipart, png_files, test_set
from bench.peers import under_load
from bench.procs import mnistq_up
from common.settings import Settings

NAME = "after_load"


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = report.arguments(NAME, __doc__, "1,000-image jobs, 2 rounds, 3 s of load",
                              settings)
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 5)")
    parser.add_argument("--images", type=int, default=None, help="images a job (default 10,000)")
    parser.add_argument("--load-seconds", type=float, default=None, help="default 15")
    args = parser.parse_args(argv)
    n = args.images or (1_000 if args.quick else 10_000)
    rounds = args.rounds or (2 if args.quick else 5)
    load_s = args.load_seconds or (3.0 if args.quick else 15.0)
    model_path = ensure_model(args.model)
    files = png_files(test_set(args.data_dir, n)[0])
    job = multipart(files)
    singles = [multipart([f]) for f in files[:100]]
    big = multipart((files * (2_000 // n + 1))[:2_000])

    with contextlib.ExitStack() as stacks:
        fresh, loaded = (stacks.enter_context(mnistq_up(2, model_path)) for _ in range(2))
        for stack in (fresh, loaded):
            run_job(stack.url, *multipart(files[:1024]))  # every worker has run a chunk

        def big_job() -> int:
            run_job(loaded.url, *big)
            return 2_000

        load = under_load(lambda session, i: run_single(session, loaded.url, *singles[i % 100]),
                          big_job, load_s, 32, 2)
        rates: dict[str, list[float]] = {"fresh": [], "after_load": []}
        for number in range(1, rounds + 1):
            for key, stack in (("fresh", fresh), ("after_load", loaded)):
                seconds, done = run_job(stack.url, *job)
                if done["status"] != "succeeded":
                    raise RuntimeError(f"job {done['status']}")
                rates[key].append(report.rate(n, seconds))
            print(f"round {number}: fresh {rates['fresh'][-1]:,.0f}, after the load "
                  f"{rates['after_load'][-1]:,.0f} images/s", flush=True)

    medians = {key: statistics.median(values) for key, values in rates.items()}
    result: dict[str, Any] = {
        "quick": args.quick, "model": str(model_path), "n_images": n, "rounds": rounds,
        "load": {k: load[k] for k in ("seconds", "p50_ms", "singles_per_s", "big_images_per_s",
                                      "errors")},
        "images_per_s": rates, "median_images_per_s": medians,
        "after_load_vs_fresh": medians["after_load"] / medians["fresh"],
    }
    print(report.table((f"{n:,}-image job, images/s", "median", "rounds"), [
        (key.replace("_", " "), medians[key], " / ".join(f"{v:,.0f}" for v in values))
        for key, values in rates.items()]))
    print(f"after the load / fresh: {result['after_load_vs_fresh']:.2f} (medians)")
    report.write(NAME, result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
