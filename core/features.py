"""What the model sees: deskewed pixels in [0, 1], one row of 784 per image."""

from __future__ import annotations

import numpy as np

from core.deskew import deskew_batch


def to_features(images: np.ndarray) -> np.ndarray:
    """uint8 (n, 28, 28) → float32 (n, 784): scaled to [0, 1], deskewed, flattened."""
    images = np.asarray(images)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"expected uint8 images (n, 28, 28), got shape {images.shape}")
    scaled = images.astype(np.float32) / np.float32(255.0)
    return deskew_batch(scaled).reshape(len(images), 28 * 28)
