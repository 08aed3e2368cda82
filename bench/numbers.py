"""Numbers read per kind: exact matches and CPU ms per image, end to end in one process.

Each image of a number set (`labels.csv`: `filename,text,kind`, from `eval.numbers`; `--make`
writes one first) goes through what a worker does in number mode
(`core.pipeline.predict_files(..., read="number")`: decode, capture front-end, cut search,
two batched predicts) in batches of 64 on one thread. "5 digits" is the CPU per image of the
5-digit numbers alone (issue 13's target: <= 5 ms per core). "mnist" is the share of the
numbers whose every digit the model reads right as the MNIST test digit itself (the set's
`mnist_indices`, from `eval.numbers`): what the page and the cutting cost is the difference.
"hand" is the share whose every digit it reads right as the number's writer drew it, alone
(`eval.numbers.written`; for a set made with `--seed`, blank otherwise): the kinds other
than clean are written in another hand, which the model misreads more often than MNIST's.

`--job N` also sends N of the set's images (the set repeated as needed) as one `read=number`
job through a real stack (`mnistq up --workers 2`, its own Redis, the upload limit raised to
fit), measured like the digit benchmark (`bench e2e`): seconds from the upload until every
result is fetched, images/s, the workers' CPU per image, and the job's exact matches.
Run: `python -m bench numbers --set DIR [--make] [--count N] [--seed S] [--quick] [--job N]`.
"""

from __future__ import annotations

import csv
import sys
import time
from collections import defaultdict
from pathlib import Path

from threadpoolctl import threadpool_limits

from bench import on_mnist, report
from bench.clients import run_job
from bench.images import multipart
from bench.procs import cpu_seconds, mnistq_up
from common.settings import Settings
from core.imaging import ImageLimits
from core.model import DigitModel
from core.pipeline import predict_files
from eval.numbers import KINDS, MORE_KINDS, make

NAME = "numbers"
BATCH = 64


def measure(folder: Path, model: DigitModel, limits: ImageLimits, data_dir: Path,
            seed: int | None = None) -> dict:
    """Per kind and overall: numbers, exact matches, CPU ms per image, exact matches of the
    model on the MNIST digits themselves (None without `mnist_indices`) and on the digits
    as written alone (None unless the set was made with `seed`); and for 5 digits."""
    with (folder / "labels.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    mnist_right = on_mnist.read_right(rows, "mnist_indices", model, data_dir)
    known = mnist_right is not None
    hand_right = None if seed is None else on_mnist.written_right(rows, seed, model, data_dir)
    hand = hand_right is not None
    tally: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for start in range(0, len(rows), BATCH):
        batch = rows[start:start + BATCH]
        items = [(start + i, r["filename"], (folder / r["filename"]).read_bytes())
                 for i, r in enumerate(batch)]
        for row, item in zip(batch, items, strict=True):
            began = time.process_time()
            (result,) = predict_files(model, [item], limits, read="number")
            seconds = time.process_time() - began
            keys = [row.get("kind") or "all", "overall"]
            if len(row["text"]) == 5:
                keys.append("5 digits")
            for key in keys:
                t = tally[key]
                t["numbers"] += 1
                t["exact"] += result.text == row["text"]
                t["seconds"] += seconds
                t["mnist_exact"] += bool(known and mnist_right[item[0]])
                t["hand_exact"] += bool(hand and hand_right[item[0]])
    return {key: {"numbers": int(t["numbers"]), "accuracy": t["exact"] / t["numbers"],
                  "mnist_accuracy": t["mnist_exact"] / t["numbers"] if known else None,
                  "hand_accuracy": t["hand_exact"] / t["numbers"] if hand else None,
                  "cpu_ms_per_image": 1e3 * t["seconds"] / t["numbers"]}
            for key, t in tally.items()}


def measure_job(folder: Path, model_path: Path, count: int, workers: int = 2) -> dict:
    """One job of `count` number images through `mnistq up --workers N`: its seconds, rate,
    the workers' CPU per image and its exact matches."""
    with (folder / "labels.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    picked = [rows[i % len(rows)] for i in range(count)]
    files = [(r["filename"], (folder / r["filename"]).read_bytes()) for r in picked]
    body, content_type = multipart(files)
    limit = {"MNISTQ_MAX_UPLOAD_BYTES": str(2 * len(body)),
             "MNISTQ_MAX_FILES": str(max(count, 10_000))}
    with mnistq_up(workers, model_path, env=limit) as stack:
        run_job(stack.url, *multipart(files[:64]), read="number")  # every worker warm
        before = sum(cpu_seconds(p) for p in stack.roles()["workers"])
        seconds, job = run_job(stack.url, body, content_type, read="number")
        used = sum(cpu_seconds(p) for p in stack.roles()["workers"]) - before
    exact = sum(r["text"] == row["text"] for r, row in zip(job["results"], picked, strict=True))
    return {"numbers": count, "workers": workers, "seconds": seconds,
            "images_per_s": report.rate(count, seconds), "status": job["status"],
            "failed": job["failed"], "accuracy": exact / count,
            "worker_cpu_ms_per_image": 1e3 * used / count, "upload_bytes": len(body)}


def render(by_kind: dict) -> str:
    order = [k for k in (*KINDS, *MORE_KINDS, "all", "5 digits") if k in by_kind] + ["overall"]
    rows = []
    for key in order:
        r = by_kind[key]
        rows.append((key, r["numbers"], f"{100 * r['accuracy']:.1f}%",
                     "" if r["mnist_accuracy"] is None else f"{100 * r['mnist_accuracy']:.1f}%",
                     "" if r["hand_accuracy"] is None else f"{100 * r['hand_accuracy']:.1f}%",
                     r["cpu_ms_per_image"]))
    return report.table(("kind", "numbers", "read exactly", "mnist", "hand", "CPU ms / image"),
                        rows)


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = report.arguments(NAME, __doc__, "--count 10 with --make", settings)
    parser.add_argument("--set", type=Path, required=True, help="folder with labels.csv")
    parser.add_argument("--make", action="store_true", help="generate the set first")
    parser.add_argument("--count", type=int, default=200, help="numbers per kind with --make")
    parser.add_argument("--seed", type=int, default=0,
                        help="the set's seed (with --make: the one it is made with), for the "
                             "hand column; blank when the set was made with another")
    parser.add_argument("--job", type=int, default=0, metavar="N",
                        help="also one job of N numbers through a real 2-worker stack")
    args = parser.parse_args(argv)
    if args.make:
        for kind in KINDS:
            make(args.set, kind, 10 if args.quick else args.count, args.seed, args.data_dir)
    model = DigitModel.load(args.model)
    limits = ImageLimits(settings.max_image_bytes, settings.max_image_pixels)
    with threadpool_limits(limits=1):
        by_kind = measure(args.set, model, limits, args.data_dir, args.seed)
    print(render(by_kind))
    job = measure_job(args.set, args.model, args.job) if args.job else None
    if job:
        print(f"job of {job['numbers']:,} numbers, {job['workers']} workers: "
              f"{job['seconds']:.1f} s, {job['images_per_s']:.1f} numbers/s, "
              f"{job['worker_cpu_ms_per_image']:.1f} worker CPU ms each, "
              f"{100 * job['accuracy']:.1f}% read exactly ({job['status']})")
    report.write(NAME, {"quick": args.quick, "set": str(args.set), "model": str(args.model),
                        "by_kind": by_kind, "job": job}, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
