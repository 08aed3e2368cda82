"""Preprocessing per core: decode, find and normalise the digit, and deskew, for MNIST PNGs,
400x400 JPEG photos and 12-megapixel phone JPEGs of ruled paper.

One process, one BLAS thread, CPU time, so the figures are per core. Stages are timed apart
(decode each file, find and normalise the digits of the decoded pages, deskew the whole
stack at once) and together (what a worker does before predicting). Normalising is timed
both ways: the batch path (`core.pipeline.read_pages`, which recognises MNIST-form images
for the whole batch at once) and one `read_digit` call per image (capture front-end then
normalisation), in parentheses. The seed's per-image scipy deskew is timed on the same
digits for comparison.
Run: `python -m bench preprocess [--quick]`.
"""

from __future__ import annotations

import sys

import numpy as np
from threadpoolctl import threadpool_limits

from bench import report
from bench.baseline import seed
from bench.images import phone_files, photo_files, png_files, test_set
from common.settings import Settings
from core.capture import read_digit
from core.features import to_features
from core.imaging import ImageError, ImageLimits, decode_page, to_mnist
from core.pipeline import read_pages

NAME = "preprocess"


def _good(read: list) -> list[np.ndarray]:
    return [r[0] for r in read if not isinstance(r, ImageError)]


def measure(files: list[tuple[str, bytes]], limits: ImageLimits, repeats: int) -> dict:
    """Seconds per stage for `files`, and images/s of the whole preprocessing."""
    datas = [data for _, data in files]
    n = len(datas)
    t_decode, decoded = report.best_cpu(repeats, lambda: [decode_page(d, limits) for d in datas])
    t_norm_one, read = report.best_cpu(repeats, lambda: [read_digit(*page) for page in decoded])
    digits = [digit for digit, _ in read]
    t_norm, _ = report.best_cpu(repeats, lambda: _good(read_pages(decoded)))
    stack = np.stack(digits)
    t_deskew, _ = report.best_cpu(repeats, lambda: to_features(stack))
    t_single, _ = report.best_cpu(repeats, lambda: to_features(np.stack([to_mnist(d, limits)
                                                                 for d in datas])))
    t_total, _ = report.best_cpu(repeats, lambda: to_features(np.stack(_good(read_pages(
        [decode_page(d, limits) for d in datas])))))
    floats = stack.astype(np.float64) / 255.0
    t_seed, _ = report.best_cpu(1, lambda: seed.features(floats))
    return {
        "n_images": n,
        "mean_bytes": round(sum(map(len, datas)) / n),
        "decode_s": t_decode, "normalise_s": t_norm, "normalise_one_by_one_s": t_norm_one,
        "deskew_batch_s": t_deskew, "total_s": t_total, "total_one_by_one_s": t_single,
        "seed_deskew_per_image_s": t_seed, "cpu_time": True,
        "images_per_s_per_core": report.rate(n, t_total),
        "us_per_image": {
            "decode": 1e6 * t_decode / n, "normalise": 1e6 * t_norm / n,
            "normalise_one_by_one": 1e6 * t_norm_one / n,
            "total_one_by_one": 1e6 * t_single / n,
            "deskew_batch": 1e6 * t_deskew / n, "total": 1e6 * t_total / n,
            "seed_deskew_per_image": 1e6 * t_seed / n,
        },
    }


def render(results: dict[str, dict]) -> str:
    rows = []
    for kind, r in results.items():
        us = r["us_per_image"]
        rows.append((kind, r["n_images"], r["mean_bytes"], us["decode"],
                     f"{us['normalise']:.1f} ({us['normalise_one_by_one']:.1f})",
                     us["deskew_batch"], f"{us['total']:.1f} ({us['total_one_by_one']:.1f})",
                     round(r["images_per_s_per_core"]), us["seed_deskew_per_image"]))
    header = ("1 core, CPU time", "images", "bytes", "decode µs", "normalise µs (1 by 1)",
              "deskew µs", "total µs (1 by 1)", "images/s", "seed deskew µs")
    return report.table(header, rows)


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = report.arguments(
        "preprocess", __doc__, "fewer images, one repeat", settings, model=False
    )
    args = parser.parse_args(argv)
    n_png, n_jpeg, n_phone, repeats = (1_000, 30, 2, 1) if args.quick else (10_000, 1_000, 20, 3)
    images, _ = test_set(args.data_dir)
    limits = ImageLimits(settings.max_image_bytes, settings.max_image_pixels)
    with threadpool_limits(limits=1):
        results = {
            "MNIST PNG 28x28": measure(png_files(images[:n_png]), limits, repeats),
            "JPEG photo 400x400": measure(photo_files(images[:n_jpeg]), limits, repeats),
            "phone JPEG 4000x3000": measure(phone_files(images[:n_phone]), limits, repeats),
        }
    print(render(results))
    report.write(NAME, {"quick": args.quick, "threads": 1, "results": results}, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
