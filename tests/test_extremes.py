"""`core.extremes` computes ndimage's min and max filters, and `core.cuts.dilated` its binary
dilation, and its line openings and closings: the same pixels, every mode."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from core import extremes
from core.cuts import dilated

SHAPES = [(1,), (2,), (7,), (1, 5), (5, 1), (2, 3), (13, 40), (3, 8, 5)]
MODES = [("reflect", 0.0), ("nearest", 0.0), ("constant", 0.0), ("constant", 1.0)]


def _values(shape: tuple[int, ...], dtype: type, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype is bool:
        return rng.random(shape) > 0.6
    values = (rng.random(shape) * 255).astype(dtype)
    values[values < 60] = 0  # runs of equal values, as in ink
    return values


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, bool])
@pytest.mark.parametrize("shape", SHAPES)
def test_1d_filters_are_ndimage_s(shape: tuple[int, ...], dtype: type) -> None:
    values = _values(shape, dtype, len(shape))
    for axis in range(len(shape)):
        for size in (1, 2, 3, 4, 5, 8, 13, 23, 100):  # wider than the array too
            for mode, cval in MODES:
                for ours, theirs in ((extremes.maximum_filter1d, ndimage.maximum_filter1d),
                                     (extremes.minimum_filter1d, ndimage.minimum_filter1d)):
                    got = ours(values, size, axis, mode=mode, cval=cval)
                    want = theirs(values, size, axis, mode=mode, cval=cval)
                    assert got.dtype == want.dtype and np.array_equal(got, want), (
                        ours.__name__, axis, size, mode, cval)


@pytest.mark.parametrize("size", [1, 3, 6, (3, 9), (9, 3), (1, 5)])
@pytest.mark.parametrize("mode", ["reflect", "nearest", "constant"])
def test_2d_filters_are_ndimage_s(size: int | tuple[int, int], mode: str) -> None:
    values = _values((31, 17), np.uint8, 3)
    for ours, theirs in ((extremes.maximum_filter, ndimage.maximum_filter),
                         (extremes.minimum_filter, ndimage.minimum_filter)):
        got = ours(values, size, mode=mode)
        want = theirs(values, size=size, mode=mode)
        assert got.dtype == want.dtype and np.array_equal(got, want)
    assert extremes.maximum_filter(values, 1) is not values  # a copy, as ndimage's


@pytest.mark.parametrize("steps", [1, 2, 3, 5])
def test_dilated_is_ndimage_s_binary_dilation(steps: int) -> None:
    mask = _values((29, 41), bool, steps) & _values((29, 41), bool, steps + 10)
    got = dilated(mask, steps=steps)
    assert np.array_equal(got, ndimage.binary_dilation(mask, iterations=steps))
    assert got is not mask


@pytest.mark.parametrize("size", [1, 3, 5, 9, 41])
def test_line_opening_and_closing_are_ndimage_s(size: int) -> None:
    mask = _values((30, 50), bool, size)
    for axis in (0, 1):
        line = np.ones((size, 1) if axis == 0 else (1, size), dtype=bool)
        assert np.array_equal(extremes.opening1d(mask, size, axis),
                              ndimage.binary_opening(mask, line))
        # a closing that keeps a run reaching the edge (ink beyond it)
        closed = ndimage.binary_erosion(ndimage.binary_dilation(mask, line), line,
                                        border_value=1)
        assert np.array_equal(extremes.closing1d(mask, size, axis), closed)
