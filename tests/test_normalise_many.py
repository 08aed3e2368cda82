"""`normalise_many`, the batch path of the workers, gives exactly what `normalise` gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.data import load_split
from core.imaging import ImageError, normalise, normalise_many


def _one_by_one(greys: list[np.ndarray]) -> list[np.ndarray | str]:
    out: list[np.ndarray | str] = []
    for grey in greys:
        try:
            out.append(normalise(grey))
        except ImageError as exc:
            out.append(str(exc))
    return out


def _variants(images: np.ndarray) -> list[np.ndarray]:
    """MNIST digits as they are and as users send them: faint, inverted, off-centre, on a grey
    background, too large for the box, blank, noisy, float, larger canvases."""
    rng = np.random.default_rng(0)
    greys: list[np.ndarray] = list(images)
    for image in images[:40]:
        greys.append((image * 0.5).astype(np.uint8))  # faint: stretched to 255
        greys.append(255 - image)  # dark ink on light paper
        greys.append(np.roll(image, (3, -4), axis=(0, 1)))  # off-centre
        greys.append(np.maximum(image, 40).astype(np.uint8))  # grey background
        greys.append(image.astype(np.float32))  # float: never the fast path
        greys.append(np.kron(image, np.ones((2, 2), dtype=np.uint8)))  # 56x56
    big = np.zeros((28, 28), np.uint8)
    big[2:26, 4:24] = 255
    greys += [big, np.zeros((28, 28), np.uint8), np.full((28, 28), 20, np.uint8),
              rng.integers(0, 256, (28, 28), dtype=np.uint8)]
    return greys


def test_normalise_many_equals_normalise(data_dir: Path) -> None:
    images, _ = load_split(data_dir, "test", limit=2000)
    greys = _variants(images)
    expected = _one_by_one(greys)
    got = normalise_many(greys)
    assert len(got) == len(expected)
    for i, (e, g) in enumerate(zip(expected, got, strict=True)):
        if isinstance(e, str):
            assert isinstance(g, ImageError) and str(g) == e, i
        else:
            assert isinstance(g, np.ndarray) and g.dtype == np.uint8, i
            assert np.array_equal(g, e), i


def test_normalise_many_keeps_the_round_trip_and_handles_nothing(data_dir: Path) -> None:
    images, _ = load_split(data_dir, "test", limit=500)
    got = normalise_many(list(images))
    assert all(np.array_equal(g, i) for g, i in zip(got, images, strict=True))
    assert normalise_many([]) == []
