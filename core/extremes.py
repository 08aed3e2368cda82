"""Running maxima and minima over windows along an axis: `scipy.ndimage`'s min and max
filters (origin 0; modes "reflect", "nearest" and "constant"), the same numbers, computed
by doubling spans.

ndimage runs a 1-D min or max filter line by line through a buffer, ~10 ns a pixel, and
far more across the rows of a C-ordered page (a line finder's 5-px band down a 450x450
page: ~2 ms). Here the values are extended past their ends as the mode says, then the
extreme of spans 1, 2, 4, ... long is taken in turn over the whole array at once, and of
two overlapping spans for the rest: log2(size) vectorised `np.maximum` / `np.minimum`
calls, exact (a maximum or a minimum rounds nothing). A case these do not cover (a
reflection wider than the array) is left to ndimage.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage


def maximum_filter1d(values: np.ndarray, size: int, axis: int = -1, mode: str = "reflect",
                     cval: float = 0.0) -> np.ndarray:
    """`ndimage.maximum_filter1d(values, size, axis, mode=mode, cval=cval)`."""
    out = _extreme1d(values, size, axis, mode, cval, np.maximum)
    return (ndimage.maximum_filter1d(values, size, axis, mode=mode, cval=cval)
            if out is None else out)


def minimum_filter1d(values: np.ndarray, size: int, axis: int = -1, mode: str = "reflect",
                     cval: float = 0.0) -> np.ndarray:
    """`ndimage.minimum_filter1d(values, size, axis, mode=mode, cval=cval)`."""
    out = _extreme1d(values, size, axis, mode, cval, np.minimum)
    return (ndimage.minimum_filter1d(values, size, axis, mode=mode, cval=cval)
            if out is None else out)


def maximum_filter(values: np.ndarray, size: int | Sequence[int], mode: str = "reflect",
                   cval: float = 0.0) -> np.ndarray:
    """`ndimage.maximum_filter(values, size, mode=mode, cval=cval)` (a box: separable,
    one 1-D pass per axis, as ndimage makes it)."""
    return _separable(values, size, mode, cval, maximum_filter1d)


def minimum_filter(values: np.ndarray, size: int | Sequence[int], mode: str = "reflect",
                   cval: float = 0.0) -> np.ndarray:
    """`ndimage.minimum_filter(values, size, mode=mode, cval=cval)` (a box)."""
    return _separable(values, size, mode, cval, minimum_filter1d)


def opening1d(mask: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Binary opening of `mask` (bool, or 0/1 uint8) with a line `size` long along `axis`:
    the runs at least that long (paper beyond the edges)."""
    eroded = minimum_filter1d(mask.view(np.uint8), size, axis=axis, mode="constant", cval=0)
    return maximum_filter1d(eroded, size, axis=axis, mode="constant", cval=0).astype(bool)


def closing1d(mask: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Binary closing of `mask` (bool) with a line `size` long along `axis`: gaps shorter
    than that filled (ink beyond the edges, so that a run reaching one keeps its end)."""
    grown = maximum_filter1d(mask.view(np.uint8), size, axis=axis, mode="constant", cval=0)
    return minimum_filter1d(grown, size, axis=axis, mode="constant", cval=1).astype(bool)


def _separable(values: np.ndarray, size: int | Sequence[int], mode: str, cval: float,
               filter1d: object) -> np.ndarray:
    sizes = [size] * values.ndim if isinstance(size, int) else list(size)
    out = values
    for axis, length in enumerate(sizes):
        if length > 1:
            out = filter1d(out, length, axis, mode, cval)  # type: ignore[operator]
    return out.copy() if out is values else out


def _extreme1d(values: np.ndarray, size: int, axis: int, mode: str, cval: float,
               extreme: np.ufunc) -> np.ndarray | None:
    """The running `extreme` over windows `size` long along `axis` (window of element i:
    [i - size // 2, i - size // 2 + size), ndimage's for origin 0), or None for a case
    left to ndimage."""
    axis = axis % values.ndim
    n = values.shape[axis]
    if size < 1 or n == 0:
        return None
    if size == 1:
        return values.copy()
    before = size // 2
    after = size - 1 - before
    extended = _extended(values, axis, before, after, mode, cval)
    if extended is None:
        return None

    def along(start: int | None, stop: int | None) -> tuple[slice, ...]:
        return (slice(None),) * axis + (slice(start, stop),)

    out = extended
    span = 1  # out[i] along the axis: the extreme of the extended values [i, i + span)
    while 2 * span <= size:
        out = extreme(out[along(None, -span)], out[along(span, None)])
        span *= 2
    if span < size:
        out = extreme(out[along(None, span - size)], out[along(size - span, None)])
    return out


def _extended(values: np.ndarray, axis: int, before: int, after: int, mode: str,
              cval: float) -> np.ndarray | None:
    """`values` extended along `axis` by `before` and `after` elements as ndimage's `mode`
    extends them; None for a mode or a reflection these do not cover."""
    n = values.shape[axis]

    def part(start: int, stop: int) -> np.ndarray:
        return values[(slice(None),) * axis + (slice(start, stop),)]

    if mode == "constant":
        shape = list(values.shape)
        shape[axis] = before
        head = np.full(shape, cval, dtype=values.dtype)
        shape[axis] = after
        tail = np.full(shape, cval, dtype=values.dtype)
    elif mode == "nearest":
        head = np.repeat(part(0, 1), before, axis=axis)
        tail = np.repeat(part(n - 1, n), after, axis=axis)
    elif mode == "reflect" and before <= n and after <= n:  # (d c b a | a b c d | d c b a)
        head = np.flip(part(0, before), axis=axis)
        tail = np.flip(part(n - after, n), axis=axis)
    else:
        return None
    return np.concatenate((head, values, tail), axis=axis)
