"""The seed's model and image handling: per-image deskew, 784 pixels, SVC(poly-4).

Trained by the benchmark itself and cached under `models/` (git-ignored): the full 60,000
training images take 1-2 minutes on 2 cores, a `--quick` subset seconds.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import joblib
import numpy as np
from PIL import Image
from scipy import ndimage
from sklearn.svm import SVC

from common.settings import PROJECT_ROOT

MODELS_DIR = PROJECT_ROOT / "models"
QUICK_LIMIT = 5_000
"""Training images of the `--quick` baseline model."""


def model_path(limit: int | None) -> Path:
    suffix = "" if limit is None else f"-{limit}"
    return MODELS_DIR / f"baseline-seed-svc{suffix}.joblib"


def deskew(image: np.ndarray) -> np.ndarray:
    """One float image in [0, 1], sheared upright about its centre of mass (the seed's way)."""
    rows, cols = np.mgrid[: image.shape[0], : image.shape[1]]
    total = image.sum()
    if total <= 0:
        return image
    r0, c0 = (rows * image).sum() / total, (cols * image).sum() / total
    var_r = ((rows - r0) ** 2 * image).sum() / total
    cov = ((rows - r0) * (cols - c0) * image).sum() / total
    alpha = cov / var_r if var_r > 1e-9 else 0.0
    affine = np.array([[1.0, 0.0], [alpha, 1.0]])
    offset = np.array([r0, c0]) - affine @ (np.array(image.shape) / 2.0)
    return ndimage.affine_transform(image, affine, offset=offset, order=1, mode="grid-constant")


def decode(data: bytes) -> np.ndarray:
    """Bytes of an image file to a float (28, 28) in [0, 1]: grey, resized if it is not 28x28."""
    image = Image.open(io.BytesIO(data)).convert("L")
    if image.size != (28, 28):
        image = image.resize((28, 28))
    return np.asarray(image, dtype=np.float64) / 255.0


def features(images: np.ndarray) -> np.ndarray:
    """(n, 28, 28) floats in [0, 1] to (n, 784) deskewed rows, one image at a time."""
    return np.stack([deskew(image).ravel() for image in images]) if len(images) else np.empty(
        (0, 784)
    )


def train(data_dir: Path, limit: int | None, out: Path) -> Path:
    """Fit the seed's SVC on the first `limit` training images (all when None) and save it."""
    from core.data import load_split  # reading MNIST is not part of the seed's serving path

    images, labels = load_split(data_dir, "train", limit=limit)
    started = time.perf_counter()
    x = features(images.astype(np.float64) / 255.0)
    svc = SVC(kernel="poly", degree=4, C=1.0, coef0=1.0, gamma="scale")
    svc.fit(x, labels.astype(np.int64))
    print(f"baseline: trained the seed's SVC on {len(x):,} images in "
          f"{time.perf_counter() - started:.0f} s, {int(svc.n_support_.sum()):,} support vectors",
          flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    joblib.dump(svc, tmp)
    tmp.replace(out)
    return out


def ensure_model(data_dir: Path, limit: int | None) -> Path:
    """The cached seed model for `limit` training images, trained first when missing."""
    path = model_path(limit)
    if not path.exists():
        print(f"baseline: no cached seed model at {path}; training it", flush=True)
        train(data_dir, limit, path)
    return path
