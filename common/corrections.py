"""The corrections store: what people said the right digit was, kept beyond the job's TTL.

A correction is written when someone reviews a result (`PUT /api/v1/jobs/<id>/results/<i>`):
the person's digit, what the model read, the version that read it and the normalised 28x28
digit, the only image that training needs. The store is append-only, one JSON file per
correction (`<created_at ns>-<job>-<index>[-<digit>].json`), each written to a temporary file
in the same folder, flushed to disk and renamed into place: a reader never sees half a record,
and a full disk leaves nothing behind (`StoreFull`, which the API answers with 507).

Correcting the same result twice keeps both files; `read()` returns the latest per
(job, index, digit), so a person's last word wins and the history stays on disk.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import json
import logging
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

SIDE = 28
IMAGE_BYTES = SIDE * SIDE
KINDS = ("confirm", "correct")
_FILE = re.compile(r"^\d+-[0-9a-zA-Z]+-\d+(-\d+)?\.json$")


class StoreFull(OSError):
    """The disk under the corrections store is full: nothing was written."""


def kind_of(label: int, prediction: int | None) -> str:
    """'confirm' when the person agrees with the model's reading, else 'correct'."""
    return "confirm" if prediction is not None and label == prediction else "correct"


@dataclass(frozen=True)
class Correction:
    """One person's reading of one digit, with what the model read and the digit's image.

    Fields holding a numpy array make `==` ambiguous: compare fields, not corrections."""

    job: str
    index: int
    filename: str
    label: int
    """The person's digit (number mode: one record per digit)."""
    prediction: int | None
    """What the model read (None for a result that was an error)."""
    confidence: float | None
    model: str | None
    """The model version that read it."""
    kind: str
    """"confirm" (label == prediction) or "correct"."""
    created_at: float
    """Epoch seconds."""
    image: np.ndarray
    """28x28 uint8, the normalised digit in MNIST form (white ink on black, before deskew)."""
    digit: int | None = None
    """Number mode: the position of the digit in the text; digit mode: None."""

    def __post_init__(self) -> None:
        image = np.asarray(self.image)
        if image.shape != (SIDE, SIDE) or image.dtype != np.uint8:
            raise ValueError(f"a correction's image must be {SIDE}x{SIDE} uint8, "
                             f"not {image.shape} {image.dtype}")
        if not 0 <= self.label <= 9:
            raise ValueError(f"a correction's label must be a digit 0-9, not {self.label}")
        if self.kind not in KINDS:
            raise ValueError(f"a correction's kind must be one of {KINDS}, not {self.kind!r}")
        object.__setattr__(self, "image", np.ascontiguousarray(image))

    @property
    def key(self) -> tuple[str, int, int | None]:
        """What a later correction of the same digit replaces: (job, index, digit)."""
        return self.job, self.index, self.digit

    def file_name(self) -> str:
        """`<created_at ns>-<job>-<index>[-<digit>].json`; the ns sort by time as text too."""
        ns = f"{round(self.created_at * 1e9):020d}"
        digit = "" if self.digit is None else f"-{self.digit}"
        return f"{ns}-{self.job}-{self.index}{digit}.json"

    def to_json(self) -> dict[str, Any]:
        """The record as stored: every field, the image as base64 of its 784 bytes."""
        return {
            "job": self.job, "index": self.index, "digit": self.digit,
            "filename": self.filename, "label": self.label, "prediction": self.prediction,
            "confidence": self.confidence, "model": self.model, "kind": self.kind,
            "created_at": self.created_at,
            "image": base64.b64encode(self.image.tobytes()).decode("ascii"),
        }

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> Correction:
        raw = base64.b64decode(record["image"], validate=True)
        if len(raw) != IMAGE_BYTES:
            raise ValueError(f"image has {len(raw)} bytes, not {IMAGE_BYTES}")
        image = np.frombuffer(raw, dtype=np.uint8).reshape(SIDE, SIDE).copy()
        return cls(
            job=str(record["job"]), index=int(record["index"]),
            filename=str(record["filename"]), label=int(record["label"]),
            prediction=None if record["prediction"] is None else int(record["prediction"]),
            confidence=None if record["confidence"] is None else float(record["confidence"]),
            model=record["model"], kind=str(record["kind"]),
            created_at=float(record["created_at"]), image=image,
            digit=None if record.get("digit") is None else int(record["digit"]),
        )


class CorrectionStore:
    """An append-only folder of corrections, one atomic JSON file each."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def add(self, correction: Correction) -> Path:
        """Write one correction durably and atomically; its path.

        Raises `StoreFull` (nothing left behind) when the disk is full."""
        self.folder.mkdir(parents=True, exist_ok=True)
        data = (json.dumps(correction.to_json(), separators=(",", ":")) + "\n").encode()
        path = self.folder / correction.file_name()
        tmp = self.folder / f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            _write_synced(tmp, data)
            os.replace(tmp, path)
            _sync_folder(self.folder)
        except OSError as exc:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StoreFull(exc.errno, f"no space left for corrections in {self.folder}"
                                ) from exc
            raise
        log.info("job %s: correction of result %d%s recorded (%s)", correction.job,
                 correction.index, "" if correction.digit is None else f" digit {correction.digit}",
                 correction.kind, extra={"job": correction.job})
        return path

    def add_all(self, corrections: Sequence[Correction]) -> list[Path]:
        """Write several corrections (the digits of one number) all or none: on a full disk
        the ones already written are removed again before `StoreFull` is raised."""
        written: list[Path] = []
        try:
            for correction in corrections:
                written.append(self.add(correction))
        except OSError:
            for path in written:
                path.unlink(missing_ok=True)
            raise
        return written

    def read(self) -> list[Correction]:
        """Every correction, oldest first; for the same (job, index, digit) only the latest.

        A record that cannot be read is a damaged store, not a user's mistake: it raises
        `ValueError` naming the file."""
        if not self.folder.is_dir():
            return []
        latest: dict[tuple[str, int, int | None], Correction] = {}
        for path in sorted(self.folder.iterdir()):
            if not _FILE.match(path.name):
                continue  # temporary files being written, anything else a person put there
            try:
                correction = Correction.from_json(json.loads(path.read_bytes()))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}: not a correction record ({exc})") from None
            seen = latest.get(correction.key)
            if seen is None or correction.created_at >= seen.created_at:
                latest[correction.key] = correction
        return sorted(latest.values(), key=lambda c: c.created_at)


def _write_synced(path: Path, data: bytes) -> None:
    """Write `data` to a new file and flush it to the disk."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_folder(folder: Path) -> None:
    """Flush the folder's entry of the renamed file, so the record survives a power cut."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
