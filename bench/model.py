"""Fast predictor vs scikit-learn on the same model and the 10,000 test images, one core each.

Both get the same features (the model's recipe: HOG or deskewed pixels); both run with one
BLAS/OpenMP thread (threadpoolctl), so the figures are per core, as CPU time and wall
clock. The labels must be identical (exit 1 if not). Run: `python -m bench.model [--model PATH]`.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from bench.report import arguments, write
from common.settings import Settings
from core.data import load_split
from core.model import DigitModel


def _best_of(repeats: int, run) -> tuple[float, float, object]:
    """Fastest wall-clock and CPU time of a few runs, and the result.

    On a shared machine the wall clock counts other processes' time slices; the CPU time of
    this one-thread process does not, so it is the fairer per-core figure.
    """
    wall, cpu, value = float("inf"), float("inf"), None
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        value = run()
        wall = min(wall, time.perf_counter() - started)
        cpu = min(cpu, time.process_time() - started_cpu)
    return wall, cpu, value


def bench(model_path: Path, data_dir: Path, repeats: int = 3, limit: int | None = None) -> dict:
    model = DigitModel.load(model_path)
    images, labels = load_split(data_dir, "test", limit=limit)
    n = len(images)
    timings = {}
    with threadpool_limits(limits=1):
        timings["features"] = _best_of(repeats, lambda: model.features(images))
        features = timings["features"][2]
        timings["fast"] = _best_of(repeats, lambda: model.predictor.predict(features))
        timings["model"] = _best_of(repeats, lambda: model.predict(images))
        timings["sklearn"] = _best_of(1, lambda: model.estimator.predict(features))
    fast, reference = timings["fast"][2], timings["sklearn"][2]
    report = {
        "model": str(model_path),
        "n_images": n,
        "n_support": model.predictor.n_support,
        "recipe": model.metadata.get("recipe"),
        "kernel": model.predictor.kernel,
        "threads": 1,
        "machine": platform.machine(),
        "load_average": os.getloadavg()[0],
    }
    for name, (wall, cpu, _) in timings.items():
        report[f"{name}_wall_s"] = round(wall, 3)
        report[f"{name}_cpu_s"] = round(cpu, 3)
        report[f"{name}_images_per_cpu_s"] = round(n / cpu)
        report[f"{name}_images_per_wall_s"] = round(n / wall)
    report["speedup_cpu"] = round(timings["sklearn"][1] / timings["fast"][1], 1)
    report["speedup_wall"] = round(timings["sklearn"][0] / timings["fast"][0], 1)
    report["identical_labels"] = bool(np.array_equal(fast.labels, reference))
    report["accuracy"] = float(np.mean(fast.labels == labels))
    report["sklearn_accuracy"] = float(np.mean(reference == labels))
    return report


def table(report: dict) -> str:
    rows = [
        ("SVC pipeline .predict (features)", "sklearn"),
        ("FastPredictor.predict (features)", "fast"),
        ("features (deskew + model's features)", "features"),
        ("DigitModel.predict (uint8 → labels)", "model"),
    ]
    lines = [
        f"1 thread, {report['n_images']:,} test images, load average {report['load_average']:.1f}",
        f"{'':<38}{'CPU s':>8}{'images/CPU s':>14}{'wall s':>8}{'images/s':>10}",
    ]
    lines += [
        f"{label:<38}{report[f'{key}_cpu_s']:>8.3f}{report[f'{key}_images_per_cpu_s']:>14,}"
        f"{report[f'{key}_wall_s']:>8.3f}{report[f'{key}_images_per_wall_s']:>10,}"
        for label, key in rows
    ]
    lines.append(
        f"speed-up {report['speedup_cpu']}x (CPU), {report['speedup_wall']}x (wall); "
        f"identical labels: {report['identical_labels']}; accuracy {report['accuracy']:.2%}; "
        f"{report['n_support']:,} support vectors"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = arguments("model", __doc__, "1,000 images, one run each", settings)
    args = parser.parse_args(argv)
    result = bench(args.model, args.data_dir, *((1, 1_000) if args.quick else (3, None)))
    result["quick"] = args.quick
    print(table(result))
    write("model", result, args.out)
    return 0 if result["identical_labels"] else 1


if __name__ == "__main__":
    sys.exit(main())
