"""Low-resolution handwriting from other writers: accuracy, calibration, and the images/s.

Made from MNIST *test* digits, seeded: each digit is shrunk to 8-12 px (area average), blurred
a little, turned into grey ink on grey paper with low contrast and noise, enlarged back 3-4x
(bicubic), stored as 8-bit grey and read through the service's normalisation
(`core.imaging.normalise_many`) and the model. The issue asks for >= 93% on such a set.
`--write DIR` also writes the images and a labels.csv there, for `mnistq evaluate --set DIR`.
Run: `python -m bench lowres [--quick] [--write DIR]`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from bench import report
from common.settings import Settings
from core.calibration import expected_calibration_error, review_catch
from core.data import load_split
from core.imaging import ImageError, normalise_many
from core.model import DigitModel

NAME = "lowres"
SEED = 12


def low_resolution(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One uint8 MNIST digit (light on black) as a small, blurry, grey scan (dark on light)."""
    side = int(rng.integers(8, 13))
    small = Image.fromarray(digit).resize((side, side), Image.Resampling.BOX)
    small = small.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 0.8))))
    ink = np.asarray(small, dtype=np.float32) / 255
    paper = rng.uniform(150, 235)
    contrast = rng.uniform(0.35, 0.8) * paper
    grey = paper - contrast * ink + rng.normal(0, rng.uniform(1, 6), ink.shape)
    big = Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8))
    scale = int(rng.integers(3, 5))
    return np.asarray(big.resize((side * scale, side * scale), Image.Resampling.BICUBIC))


def make_set(data_dir: Path, limit: int | None) -> tuple[list[np.ndarray], np.ndarray]:
    images, labels = load_split(data_dir, "test", limit=limit)
    rng = np.random.default_rng(SEED)
    return [low_resolution(d, rng) for d in images], labels.astype(np.int64)


def write_set(folder: Path, scans: list[np.ndarray], labels: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["filename,label,kind"]
    for i, (scan, label) in enumerate(zip(scans, labels, strict=True)):
        Image.fromarray(scan).save(folder / f"lowres_{i:05d}.png")
        rows.append(f"lowres_{i:05d}.png,{label},lowres")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")


def bench(model_path: Path, data_dir: Path, limit: int | None, write: Path | None) -> dict:
    model = DigitModel.load(model_path)
    scans, labels = make_set(data_dir, limit)
    if write:
        write_set(write, scans, labels)
    digits = normalise_many(scans)
    ok = np.array([not isinstance(d, ImageError) for d in digits])
    predicted = np.full(len(labels), -1)
    confidence = np.zeros(len(labels))
    if ok.any():
        got = model.predict(np.stack([d for d in digits if not isinstance(d, ImageError)]))
        predicted[ok], confidence[ok] = got.labels, got.confidence
    correct = predicted == labels
    return {
        "model": str(model_path),
        "recipe": model.metadata.get("recipe"),
        "n_images": len(labels),
        "failed": int((~ok).sum()),
        "accuracy": float(correct.mean()),
        "ece": expected_calibration_error(confidence, correct),
        "review_2pct_catch": review_catch(confidence, correct),
        "below_0_9": float((confidence < 0.9).mean()),
    }


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = report.arguments(NAME, __doc__, "1,000 digits", settings)
    parser.add_argument("--write", type=Path, help="also write the images and labels.csv here")
    args = parser.parse_args(argv)
    result = bench(args.model, args.data_dir, 1_000 if args.quick else None, args.write)
    result["quick"] = args.quick
    print(f"{result['n_images']:,} low-resolution scans: accuracy {result['accuracy']:.2%} "
          f"({result['failed']} per-file errors), ECE {result['ece']:.2%}, "
          f"2% review catches {result['review_2pct_catch']:.0%}, "
          f"{result['below_0_9']:.1%} below confidence 0.9")
    report.write(NAME, result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
