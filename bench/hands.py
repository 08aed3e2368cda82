"""Other hands: the same MNIST test digits read plainly and as another writer drew them.

A seeded random 2,000 of the test digits (500 with --quick), each once as it is and once
through `eval.make._writer` (elastic distortion, a pen from fine to marker: the hand the
capture sets write with), each through the service's normalisation
(`core.imaging.normalise_many`) and the model. The gap between the two accuracies is what
other hands cost the model itself, with no paper, light or camera in the way.
Run: `python -m bench hands [--quick] [--model MODEL]`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from bench import report
from common.settings import Settings
from core.data import load_split
from core.imaging import ImageError, normalise_many
from core.model import DigitModel
from eval.make import _writer

NAME = "hands"
PICK_SEED = 2000
WRITER_SEED = 7


def _read(model: DigitModel, greys: list[np.ndarray], labels: np.ndarray) -> dict:
    digits = normalise_many(greys)
    ok = np.array([not isinstance(d, ImageError) for d in digits])
    predicted = np.full(len(labels), -1)
    if ok.any():
        predicted[ok] = model.predict(
            np.stack([d for d in digits if not isinstance(d, ImageError)])).labels
    wrong = predicted != labels
    return {"accuracy": float(1 - wrong.mean()), "errors": int(wrong.sum()),
            "failed": int((~ok).sum())}


def bench(model_path: Path, data_dir: Path, count: int) -> dict:
    model = DigitModel.load(model_path)
    images, labels = load_split(data_dir, "test")
    pick = np.random.default_rng(PICK_SEED).choice(len(images), count, replace=False)
    rng = np.random.default_rng(WRITER_SEED)
    written = [np.clip(_writer(images[i], rng) * 255 + 0.5, 0, 255).astype(np.uint8)
               for i in pick]
    truth = labels[pick].astype(np.int64)
    return {"model": str(model_path), "recipe": model.metadata.get("recipe"),
            "n_images": count, "plain": _read(model, [images[i] for i in pick], truth),
            "other_hand": _read(model, written, truth)}


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = report.arguments(NAME, __doc__, "500 digits", settings)
    args = parser.parse_args(argv)
    result = bench(args.model, args.data_dir, 500 if args.quick else 2_000)
    result["quick"] = args.quick
    plain, other = result["plain"], result["other_hand"]
    print(f"{result['n_images']:,} test digits: plain {plain['accuracy']:.2%} "
          f"({plain['errors']} errors), other hands {other['accuracy']:.2%} "
          f"({other['errors']} errors, {other['failed']} per-file errors)")
    report.write(NAME, result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
