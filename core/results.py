"""The one shape of a prediction result, shared by the CLI, the API and CSV downloads."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

FIELDS = ("index", "filename", "prediction", "confidence", "runner_up", "error", "box", "model")
"""The keys of a result's JSON object (a result a person reviewed also has `corrected`)."""
BOX_COLUMNS = ("box_x", "box_y", "box_width", "box_height")
CSV_FIELDS = (*FIELDS[:6], *BOX_COLUMNS, "model", "corrected")
"""The CSV columns: the box is spread over four numbers; `corrected` is empty unless a person
reviewed the result."""
NUMBER_CSV_FIELDS = ("index", "filename", "text", "confidence", "digits", "error", "model",
                     "corrected")
"""The CSV columns in number mode (`digits`: the per-digit confidences joined with spaces)."""
READ_MODES = ("digit", "number")
"""What a job reads on each image: one digit (the default) or a number."""
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def model_label(metadata: Mapping[str, Any]) -> str | None:
    """A model's name in results (`model`): its version, else (a single file) the start of
    its SHA-256, so that the service and `mnistq predict` name the same model alike."""
    return metadata.get("version") or (str(metadata.get("sha256") or "")[:12] or None)


@dataclass(frozen=True)
class DigitRead:
    """One digit of a number: what the classifier read, and its box in upload pixels."""

    prediction: int
    confidence: float
    runner_up: int
    box: tuple[int, int, int, int]
    image: Any = field(default=None, compare=False, repr=False)
    """The digit as the model saw it: uint8 (28, 28) in MNIST form, before deskew; kept so
    that a person's correction can go with it (never in the JSON)."""

    def to_dict(self) -> dict[str, Any]:
        return {"prediction": self.prediction, "confidence": self.confidence,
                "runner_up": self.runner_up, "box": list(self.box)}


@dataclass(frozen=True)
class Result:
    """What happened to one image: a digit with its confidence, or a per-file error."""

    index: int
    filename: str
    prediction: int | None = None
    confidence: float | None = None
    runner_up: int | None = None
    error: str | None = None
    box: tuple[int, int, int, int] | None = None
    """`(x, y, width, height)` of the digit read, in pixels of the upright uploaded image
    (after its EXIF orientation); None with an error."""
    model: str | None = None
    """The model version that read the image (None where no version is known)."""
    read: str = "digit"
    """`number`: `text` and `digits` say what was read, `prediction`, `runner_up` are None."""
    text: str | None = None
    digits: tuple[DigitRead, ...] | None = None
    image: Any = field(default=None, compare=False, repr=False)
    """Digit mode: the digit as the model saw it (uint8 (28, 28), MNIST form, before deskew),
    None with an error; never in the JSON (see `normalised`)."""

    @property
    def normalised(self) -> tuple[Any, ...]:
        """The normalised digits of this result, left to right: one in digit mode, one per
        digit of a number, none for an error (the images a correction is kept with)."""
        if self.read == "number":
            images = tuple(d.image for d in self.digits or ())
            return images if all(image is not None for image in images) else ()
        return () if self.image is None else (self.image,)

    @classmethod
    def failure(cls, index: int, filename: str, error: str, read: str = "digit") -> Result:
        return cls(index=index, filename=filename, error=error, read=read)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of the API (`dataclasses.asdict` deep-copies: 20x slower)."""
        if self.read == "number":
            return {"index": self.index, "filename": self.filename, "text": self.text,
                    "digits": None if self.digits is None else [d.to_dict() for d in self.digits],
                    "prediction": None, "confidence": self.confidence, "runner_up": None,
                    "error": self.error, "box": None if self.box is None else list(self.box),
                    "model": self.model}
        return {"index": self.index, "filename": self.filename, "prediction": self.prediction,
                "confidence": self.confidence, "runner_up": self.runner_up, "error": self.error,
                "box": None if self.box is None else list(self.box), "model": self.model}


def _csv_safe(value: Any) -> Any:
    """Neutralise spreadsheet formulas in user-supplied text (CSV injection)."""
    if isinstance(value, str) and value.startswith(_FORMULA_PREFIXES):
        return "'" + value
    return value


def to_csv(results: Iterable[Mapping[str, Any]], read: str = "digit") -> str:
    """Results as CSV text with a header row; file names are sanitised for spreadsheets."""
    if read == "number":
        return _number_csv(results)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    for row in results:
        cells = {name: _csv_safe(row.get(name)) for name in CSV_FIELDS if name not in BOX_COLUMNS}
        box = row.get("box") or (None,) * len(BOX_COLUMNS)
        cells.update(zip(BOX_COLUMNS, box, strict=True))
        writer.writerow(cells)
    return out.getvalue()


def _number_csv(results: Iterable[Mapping[str, Any]]) -> str:
    """Number-mode CSV: the text, its confidence and the per-digit confidences."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=NUMBER_CSV_FIELDS, extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    for row in results:
        cells = {name: _csv_safe(row.get(name)) for name in NUMBER_CSV_FIELDS}
        cells["digits"] = " ".join(str(d["confidence"]) for d in row.get("digits") or ())
        writer.writerow(cells)
    return out.getvalue()
