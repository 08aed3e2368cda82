"""What the model sees: one float32 row per 28x28 image, as its recipe's `FeatureSpec` says.

Two kinds: `pixels` (the seed's: deskewed pixels in [0, 1], 784 per image) and `hog`
(gradient-orientation histograms of the deskewed image, core/hog.py, with an element-wise
square root: the Hellinger map, which makes the RBF kernel compare histograms better).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from core.deskew import deskew_batch
from core.hog import HogSpec, cell_sizes, hog_batch

KINDS = ("pixels", "hog")


@dataclass(frozen=True)
class FeatureSpec:
    """How images become feature rows; stored in the model's recipe."""

    kind: str = "hog"
    deskew: bool = True
    hog: HogSpec = field(default_factory=HogSpec)
    """Histogram layout (kind `hog` only)."""
    sqrt: bool = True
    """Element-wise square root of the histograms (kind `hog` only)."""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown feature kind {self.kind!r}; choose from {KINDS}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["hog"]["cells"] = list(self.hog.cells)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpec:
        hog = dict(data.get("hog") or {})
        if "cells" in hog:
            hog["cells"] = cell_sizes(hog["cells"])
        return cls(
            kind=data["kind"], deskew=bool(data.get("deskew", True)), hog=HogSpec(**hog),
            sqrt=bool(data.get("sqrt", True)),
        )


PIXELS = FeatureSpec(kind="pixels")
"""The seed's features: deskewed pixels."""
HOG = FeatureSpec(kind="hog")
"""Signed 18-bin histograms, 4- and 7-pixel cells, 2x2-cell L2-Hys blocks, square root."""


def scaled_images(images: np.ndarray, deskew: bool = True) -> np.ndarray:
    """uint8 (n, 28, 28) → float32 in [0, 1], deskewed unless told not to."""
    images = np.asarray(images)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"expected uint8 images (n, 28, 28), got shape {images.shape}")
    scaled = images.astype(np.float32) / np.float32(255.0)
    return deskew_batch(scaled) if deskew else scaled


def to_features(images: np.ndarray, spec: FeatureSpec = PIXELS) -> np.ndarray:
    """uint8 (n, 28, 28) → float32 (n, d) feature rows as `spec` says."""
    scaled = scaled_images(images, spec.deskew)
    if spec.kind == "pixels":
        return scaled.reshape(len(scaled), 28 * 28)
    rows = hog_batch(scaled, spec.hog)
    return np.sqrt(rows, out=rows) if spec.sqrt else rows
