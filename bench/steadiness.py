"""How steady is this machine? The same in-process work, timed over and over.

One process (1 BLAS thread) runs `predict_files` on the same 2,048 MNIST PNGs again and
again for `--seconds`, and reports the CPU time an image of each pass: on a quiet dedicated
machine the passes agree within a few percent; on a shared virtual machine they do not, and
every end-to-end ratio measured there inherits that spread. Not one of the `python -m bench`
suite (it measures the machine, not the service): run `python -m bench.steadiness`.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

from bench import report
from bench.images import png_files, test_set
from common.settings import Settings
from core.imaging import ImageLimits
from core.model import DigitModel
from core.pipeline import predict_files

NAME = "steadiness"
IMAGES, CHUNK = 2_048, 512


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = report.arguments(NAME, __doc__, "10 seconds instead of 60", settings)
    parser.add_argument("--seconds", type=float, default=None)
    args = parser.parse_args(argv)
    seconds = args.seconds or (10.0 if args.quick else 60.0)
    model = DigitModel.load(args.model)
    limits = ImageLimits(settings.max_image_bytes, settings.max_image_pixels)
    images, _ = test_set(args.data_dir, IMAGES)
    items = [(i, name, data) for i, (name, data) in enumerate(png_files(images))]
    threadpool_limits(limits=1)
    passes: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.thread_time()
        for start in range(0, len(items), CHUNK):
            predict_files(model, items[start:start + CHUNK], limits)
        passes.append(1e6 * (time.thread_time() - started) / len(items))
    low, median, high = np.percentile(passes, [0, 50, 100])
    print(report.table(("CPU µs an image, per pass", "min", "median", "max"),
                       [(f"{len(passes)} passes of {IMAGES:,} images", low, median, high)]))
    print(f"slowest pass / fastest: {high / low:.2f}")
    report.write(NAME, {"quick": args.quick, "images": IMAGES, "chunk": CHUNK, "seconds": seconds,
                        "us_per_image": [round(p, 1) for p in passes],
                        "min": low, "median": median, "max": high}, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
