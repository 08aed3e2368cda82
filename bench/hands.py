"""Other hands: the same MNIST test digits read plainly and as another writer drew them.

A seeded random 2,000 of the test digits (500 with --quick), each once as it is and once
through `eval.make.written` (elastic distortion, a pen from fine to marker: the hand the
capture sets write with), each through the service's normalisation
(`core.imaging.normalise_many`) and the model. The gap between the two accuracies is what
other hands cost the model itself, with no paper, light or camera in the way; the other
hands' accuracy is also given by pen (`by_pen`), where the cost is far from even. The
other hands are also read as a user's upload of them would be (`on_page`): each on a clean
page (`eval.make.on_clean_page`) through the service's whole pipeline, capture front-end
included (`core.pipeline.predict_files`), so what finding the digit costs shows beside
them.
Run: `python -m bench hands [--quick] [--model MODEL]`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from bench import report
from common.settings import Settings
from core.data import load_split
from core.imaging import ImageError, ImageLimits, normalise_many
from core.model import DigitModel
from core.pipeline import predict_files
from eval.make import PENS, Capture, on_clean_page, written

NAME = "hands"
PICK_SEED = 2000
WRITER_SEED = 7


def _read(model: DigitModel, greys: list[np.ndarray], labels: np.ndarray) -> np.ndarray:
    """Per image, whether the model read it right (a per-file error is wrong)."""
    digits = normalise_many(greys)
    ok = np.array([not isinstance(d, ImageError) for d in digits])
    predicted = np.full(len(labels), -1)
    if ok.any():
        predicted[ok] = model.predict(
            np.stack([d for d in digits if not isinstance(d, ImageError)])).labels
    return predicted == labels


def _score(right: np.ndarray) -> dict:
    return {"n": int(right.size), "accuracy": float(right.mean()),
            "errors": int((~right).sum())}


def _read_pages(model: DigitModel, hands: list[np.ndarray], labels: np.ndarray,
                limits: ImageLimits) -> np.ndarray:
    """Per hand, whether the whole pipeline read it right on a clean page."""
    pages = [(i, f"{i}.png", on_clean_page(Capture(b"", "png", (0, 0, 1, 1), ink)).data)
             for i, ink in enumerate(hands)]
    results = predict_files(model, pages, limits)
    return np.array([r.prediction is not None and r.prediction == label  # None: no digit
                     for r, label in zip(results, labels, strict=True)])


def _by_pen(right: np.ndarray, pens: np.ndarray) -> dict:
    return {str(pen): _score(right[pens == pen]) for pen in PENS if (pens == pen).any()}


def bench(model_path: Path, data_dir: Path, count: int, limits: ImageLimits) -> dict:
    model = DigitModel.load(model_path)
    images, labels = load_split(data_dir, "test")
    pick = np.random.default_rng(PICK_SEED).choice(len(images), count, replace=False)
    rng = np.random.default_rng(WRITER_SEED)
    hands = [written(images[i], rng) for i in pick]
    greys = [np.clip(ink * 255 + 0.5, 0, 255).astype(np.uint8) for ink, _ in hands]
    pens = np.array([pen for _, pen in hands])
    truth = labels[pick].astype(np.int64)
    other = _read(model, greys, truth)
    on_page = _read_pages(model, [ink for ink, _ in hands], truth, limits)
    return {"model": str(model_path), "recipe": model.metadata.get("recipe"),
            "n_images": count, "plain": _score(_read(model, [images[i] for i in pick], truth)),
            "other_hand": _score(other), "by_pen": _by_pen(other, pens),
            "on_page": _score(on_page), "on_page_by_pen": _by_pen(on_page, pens)}


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = report.arguments(NAME, __doc__, "500 digits", settings)
    args = parser.parse_args(argv)
    limits = ImageLimits(settings.max_image_bytes, settings.max_image_pixels)
    result = bench(args.model, args.data_dir, 500 if args.quick else 2_000, limits)
    result["quick"] = args.quick
    plain, other = result["plain"], result["other_hand"]
    print(f"{result['n_images']:,} test digits: plain {plain['accuracy']:.2%} "
          f"({plain['errors']} errors), other hands {other['accuracy']:.2%} "
          f"({other['errors']} errors)")
    for key, what in (("by_pen", "other hands"), ("on_page_by_pen", "on a clean page")):
        print(f"{what} by pen (quarter pixels, fine to bold): " + ", ".join(
            f"{pen} {score['accuracy']:.1%}" for pen, score in result[key].items()))
    print(f"other hands on a clean page, whole pipeline: {result['on_page']['accuracy']:.2%} "
          f"({result['on_page']['errors']} errors)")
    report.write(NAME, result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
