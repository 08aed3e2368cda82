"""Features per core: each stage of the default recipe's features on the 10,000 test images.

One process, one BLAS thread, CPU time (best of a few runs). Stages: scale to [0, 1], deskew,
batched HOG (core/hog.py), square root, then the model's PCA projection as the predictor
does it (a float32 matmul). scikit-image's per-image `hog` (unsigned, one cell size: what
it offers) is timed on a few hundred digits for comparison when it is installed.
Run: `python -m bench features [--quick]`.
"""

from __future__ import annotations

import sys

import numpy as np
from threadpoolctl import threadpool_limits

from bench import report
from common.settings import Settings
from core.data import load_split
from core.deskew import deskew_batch
from core.hog import HogSpec, hog_batch
from core.training import DEFAULT_RECIPE, SOFT_BINS_RECIPE

NAME = "features"


def _skimage_rate(digits: np.ndarray) -> float | None:
    """Images per CPU second of scikit-image's per-image hog (9 bins, 4-px cells), or None."""
    try:
        from skimage.feature import hog
    except ImportError:
        return None
    seconds, _ = report.best_cpu(1, lambda: [hog(d, 9, (4, 4), (2, 2), "L2-Hys") for d in digits])
    return len(digits) / seconds


def bench(data_dir, repeats: int, limit: int | None) -> dict:
    images, _ = load_split(data_dir, "test", limit=limit)
    n = len(images)
    rng = np.random.default_rng(0)
    spec = DEFAULT_RECIPE.features.hog
    projection = rng.standard_normal((spec.n_features(), 100)).astype(np.float32)
    stages: dict[str, float] = {}
    with threadpool_limits(limits=1):
        stages["scale"], scaled = report.best_cpu(repeats, lambda: images.astype(np.float32) / 255)
        stages["deskew"], upright = report.best_cpu(repeats, lambda: deskew_batch(scaled))
        stages["hog"], rows = report.best_cpu(repeats, lambda: hog_batch(upright, spec))
        stages["sqrt"], rooted = report.best_cpu(repeats, lambda: np.sqrt(rows))
        stages["pca_matmul"], _ = report.best_cpu(repeats, lambda: rooted @ projection)
        skimage = _skimage_rate(upright[:300])
        own_cell = SOFT_BINS_RECIPE.features.hog
        stages["hog_own_cell"], _ = report.best_cpu(repeats, lambda: hog_batch(upright, own_cell))
        hard = HogSpec(orientations=spec.orientations, cells=spec.cells, signed=spec.signed)
        stages["hog_hard_bins"], _ = report.best_cpu(repeats, lambda: hog_batch(upright, hard))
        unsigned = HogSpec(orientations=9, cells=(4,), signed=False)
        stages["hog_9_bins_4px"], _ = report.best_cpu(repeats, lambda: hog_batch(upright, unsigned))
    result = {"n_images": n, "n_features": int(rows.shape[1]), "threads": 1}
    for name, seconds in stages.items():
        result[f"{name}_cpu_s"] = round(seconds, 4)
        result[f"{name}_images_per_cpu_s"] = round(n / seconds)
    total = sum(stages[s] for s in ("scale", "deskew", "hog", "sqrt", "pca_matmul"))
    result["features_total_images_per_cpu_s"] = round(n / total)
    result["skimage_hog_9_bins_4px_images_per_cpu_s"] = round(skimage) if skimage else None
    return result


def table(result: dict) -> str:
    lines = [f"1 thread, {result['n_images']:,} test images, CPU time",
             f"{'stage':<34}{'CPU s':>8}{'images/CPU s':>14}"]
    labels = {
        "scale": "scale to [0, 1]", "deskew": "deskew", "hog": "HOG (default: 18 soft, spatial)",
        "sqrt": "square root", "pca_matmul": "PCA projection to 100",
        "hog_own_cell": "HOG (18 soft bins, own cell)",
        "hog_hard_bins": "HOG (18 hard bins, 4+7 px)",
        "hog_9_bins_4px": "HOG (9 unsigned, 4 px)",
    }
    for key, label in labels.items():
        lines.append(f"{label:<34}{result[f'{key}_cpu_s']:>8.3f}"
                     f"{result[f'{key}_images_per_cpu_s']:>14,}")
    lines.append(f"{'features in all (5 first stages)':<34}{'':>8}"
                 f"{result['features_total_images_per_cpu_s']:>14,}")
    reference = result["skimage_hog_9_bins_4px_images_per_cpu_s"]
    if reference:
        lines.append(f"{'skimage hog per image (9, 4 px)':<34}{'':>8}{reference:>14,}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = report.arguments(NAME, __doc__, "1,000 images, one run", settings, model=False)
    args = parser.parse_args(argv)
    result = bench(args.data_dir, *((1, 1_000) if args.quick else (3, None)))
    result["quick"] = args.quick
    print(table(result))
    report.write(NAME, result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
