"""Captures read per kind: accuracy, boxes found and CPU ms per image on an evaluation set.

The set is a folder with `labels.csv` (`filename,label,kind` and, from `eval.make`, the true
box); `--make` writes one first with `python -m eval.make` (every kind, `--count` each).
Each image goes through what the service does (`core.pipeline.predict_files`: decode,
capture front-end, normalise, model) in batches of 64 on one thread. "box >= 0.5" is the
share of images whose box overlaps the true box by an intersection over union of at least
0.5; "mnist" is the model's accuracy on the very MNIST test digits the captures were made
from, so the cost of the capture itself is the difference.
Run: `python -m bench captures --set DIR [--make] [--count N] [--seed S] [--quick]`.
"""

from __future__ import annotations

import csv
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from bench import on_mnist, report
from common.settings import Settings
from core.imaging import ImageLimits
from core.model import DigitModel
from core.pipeline import predict_files
from eval.make import KINDS, make

NAME = "captures"
BATCH = 64
BOX = ("box_x", "box_y", "box_width", "box_height")


def overlap(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """Intersection over union of two (x, y, width, height) boxes."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union else 0.0


def measure(folder: Path, model: DigitModel, limits: ImageLimits, data_dir: Path) -> dict:
    """Per kind and overall: images, accuracy, box hits, per-file errors, CPU ms per image."""
    with (folder / "labels.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    results, seconds = [], 0.0
    for start in range(0, len(rows), BATCH):
        batch = rows[start : start + BATCH]
        items = [(start + i, r["filename"], (folder / r["filename"]).read_bytes())
                 for i, r in enumerate(batch)]
        started = time.process_time()
        results += predict_files(model, items, limits)
        seconds += time.process_time() - started
    mnist_right = on_mnist.read_right(rows, "mnist_index", model, data_dir)
    known = mnist_right is not None
    tally: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for row, result, right_on_mnist in zip(
            rows, results, mnist_right if known else np.zeros(len(rows), dtype=bool),
            strict=True):
        for key in (row.get("kind") or "all", "overall"):
            t = tally[key]
            t["images"] += 1
            t["right"] += result.prediction == int(row["label"])
            t["errors"] += result.error is not None
            t["mnist_right"] += right_on_mnist
            if all(row.get(k) for k in BOX):
                truth = tuple(int(row[k]) for k in BOX)
                t["boxes"] += 1
                t["box_hits"] += result.box is not None and overlap(result.box, truth) >= 0.5
    by_kind = {}
    for key, t in tally.items():
        n = t["images"]
        by_kind[key] = {
            "images": int(n), "accuracy": t["right"] / n, "errors": int(t["errors"]),
            "box_iou_0.5": t["box_hits"] / t["boxes"] if t["boxes"] else None,
            "mnist_accuracy": t["mnist_right"] / n if known else None,
        }
    by_kind["overall"]["cpu_ms_per_image"] = 1e3 * seconds / max(len(rows), 1)
    return by_kind


def render(by_kind: dict) -> str:
    order = [k for k in (*KINDS, "all") if k in by_kind] + ["overall"]
    rows = []
    for key in order:
        r = by_kind[key]
        rows.append((key, r["images"], f"{100 * r['accuracy']:.1f}%",
                     "" if r["mnist_accuracy"] is None else f"{100 * r['mnist_accuracy']:.1f}%",
                     "" if r["box_iou_0.5"] is None else f"{100 * r['box_iou_0.5']:.1f}%",
                     r["errors"]))
    text = report.table(("kind", "images", "read right", "mnist", "box >= 0.5", "errors"), rows)
    return text + f"\nCPU per image (decode to prediction, 1 thread): " \
                  f"{by_kind['overall']['cpu_ms_per_image']:.1f} ms"


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = report.arguments(NAME, __doc__, "--count 20 with --make", settings)
    parser.add_argument("--set", type=Path, required=True, help="folder with labels.csv")
    parser.add_argument("--make", action="store_true", help="generate the set first")
    parser.add_argument("--count", type=int, default=300, help="images per kind with --make")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-width", type=int, default=4000)
    args = parser.parse_args(argv)
    if args.make:
        for kind in KINDS:
            make(args.set, kind, 20 if args.quick else args.count, args.seed, args.data_dir,
                 args.max_width)
    model = DigitModel.load(args.model)
    limits = ImageLimits(settings.max_image_bytes, settings.max_image_pixels)
    with threadpool_limits(limits=1):
        by_kind = measure(args.set, model, limits, args.data_dir)
    print(render(by_kind))
    report.write(NAME, {"quick": args.quick, "set": str(args.set), "model": str(args.model),
                        "by_kind": by_kind}, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
