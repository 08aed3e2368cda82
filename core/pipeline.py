"""Bytes in, results out, for a batch: decode each file, normalise and predict them together."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.imaging import ImageError, ImageLimits, decode_image, normalise_many
from core.model import DigitModel
from core.results import Result


def predict_files(
    model: DigitModel, items: Sequence[tuple[int, str, bytes]], limits: ImageLimits
) -> list[Result]:
    """One `Result` per `(index, filename, data)` item, in order; a bad file costs only itself."""
    results: list[Result | None] = [None] * len(items)
    decoded: list[int] = []
    greys: list[np.ndarray] = []
    for position, (index, filename, data) in enumerate(items):
        try:
            greys.append(decode_image(data, limits))
        except ImageError as exc:
            results[position] = Result.failure(index, filename, str(exc))
        else:
            decoded.append(position)
    good: list[int] = []
    digits: list[np.ndarray] = []
    for position, digit in zip(decoded, normalise_many(greys), strict=True):
        if isinstance(digit, ImageError):
            index, filename, _ = items[position]
            results[position] = Result.failure(index, filename, str(digit))
        else:
            good.append(position)
            digits.append(digit)
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
            )
    return results  # type: ignore[return-value]  # every position is filled above
