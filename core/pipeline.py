"""Bytes in, results out, for a batch: decode each file, find its digit, normalise and
predict them together."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.capture import Box, read_digit
from core.imaging import MNIST_SIDE, ImageError, ImageLimits, decode_page, mnist_form_many
from core.model import DigitModel
from core.results import Result


def read_pages(
    pages: Sequence[tuple[np.ndarray, float]],
) -> list[tuple[np.ndarray, Box] | ImageError]:
    """Each decoded page `(pixels, scale)` (see `decode_page`) to its digit in MNIST form
    and the digit's box, or the `ImageError` saying why not, in order.

    A batch service mostly receives images already in MNIST form (28x28, black border, a
    centred digit): those are recognised for the whole batch at once (exactly what
    `read_digit` would give), the others go through the capture front-end one by one.
    """
    out: list[tuple[np.ndarray, Box] | ImageError | None] = [None] * len(pages)
    small = [i for i, (pixels, _) in enumerate(pages)
             if pixels.shape == (MNIST_SIDE, MNIST_SIDE) and pixels.dtype == np.uint8]
    if small:
        digits, boxes = mnist_form_many(np.stack([pages[i][0] for i in small]))
        for i, digit, box in zip(small, digits, boxes, strict=True):
            if digit is not None:
                scale = pages[i][1]
                out[i] = digit, (int(box[0] * scale), int(box[1] * scale),
                                 max(1, round(box[2] * scale)), max(1, round(box[3] * scale)))
    for i, (pixels, scale) in enumerate(pages):
        if out[i] is None:
            try:
                out[i] = read_digit(pixels, scale)
            except ImageError as exc:
                out[i] = exc
    return out  # type: ignore[return-value]  # every position is filled above


def predict_files(
    model: DigitModel, items: Sequence[tuple[int, str, bytes]], limits: ImageLimits,
    read: str = "digit",
) -> list[Result]:
    """One `Result` per `(index, filename, data)` item, in order; a bad file costs only itself.
    `read="number"` reads a number on each image (`core.numbers`) instead of one digit."""
    if read == "number":
        from core.numbers import predict_number_files  # numbers build on this module

        return predict_number_files(model, items, limits)
    results: list[Result | None] = [None] * len(items)
    decoded: list[int] = []
    pages: list[tuple[np.ndarray, float]] = []
    for position, (index, filename, data) in enumerate(items):
        try:
            pages.append(decode_page(data, limits))
        except ImageError as exc:
            results[position] = Result.failure(index, filename, str(exc))
        else:
            decoded.append(position)
    good: list[int] = []
    digits: list[np.ndarray] = []
    boxes: list[Box] = []
    for position, read in zip(decoded, read_pages(pages), strict=True):
        if isinstance(read, ImageError):
            index, filename, _ = items[position]
            results[position] = Result.failure(index, filename, str(read))
        else:
            good.append(position)
            digits.append(read[0])
            boxes.append(read[1])
    if good:
        predictions = model.predict(np.stack(digits))
        for row, position in enumerate(good):
            index, filename, _ = items[position]
            results[position] = Result(
                index=index,
                filename=filename,
                prediction=int(predictions.labels[row]),
                confidence=round(float(predictions.confidence[row]), 4),
                runner_up=int(predictions.runner_up[row]),
                box=boxes[row],
                image=digits[row],  # kept for a person's correction (no copy)
            )
    return results  # type: ignore[return-value]  # every position is filled above
