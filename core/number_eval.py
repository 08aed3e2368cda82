"""How well numbers are read on a labelled folder: `labels.csv` (`filename,text[,kind]`) and
the images beside it, read through the whole number pipeline (decode, find, split, read).

Exact match of the whole string overall and by kind, per-digit accuracy (over the numbers
whose digit count is right), and where the errors come from: segmentation (a wrong number of
digits) or reading (the right count, a digit misread); the numbers' calibration and which
of them a review would flag (ranked by their least confident digit, as the page flags them).
For a set made from MNIST test digits
(`eval.numbers`: its `mnist_indices` column), each misread digit is also read as MNIST
wrote it: what the model misreads there too is the model's; the rest was lost on the way
(the capture, the front-end, the cut). And each wrong number's page is cut again to ask
whether its right reading was among the candidate pieces: a miss of the cut search (another
reading scored more), not of the candidates (no piece, or no path of pieces, holds it).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.calibration import (
    expected_calibration_error,
    review_catch,
    review_lines,
    review_to_catch,
)
from core.imaging import ImageError, ImageLimits, decode_page
from core.labelled_set import LabelsError, labels_rows, read_labels
from core.model import DigitModel
from core.numbers import candidates, spells
from core.pipeline import predict_files
from core.results import Result

BATCH = 256


class NumberLabelsError(LabelsError):
    """A labels.csv that cannot be used: missing, malformed, or naming a missing image."""


@dataclass(frozen=True)
class LabelledNumber:
    filename: str
    path: Path
    text: str
    kind: str


def _number_text(raw: str) -> str:
    if not raw.isdigit() or not raw.isascii():
        raise ValueError(f"text {raw!r} is not digits 0-9")
    return raw


def read_number_set(folder: Path) -> list[LabelledNumber]:
    """The numbers listed in `folder/labels.csv` (`filename,text[,kind]`), in order;
    `NumberLabelsError` says what is wrong (the same reader as digit sets)."""
    return [LabelledNumber(*row)
            for row in read_labels(folder, "text", _number_text, NumberLabelsError)]


def read_sources(folder: Path) -> dict[str, list[int]] | None:
    """Per file of a set made from MNIST test digits, the indices of its digits left to
    right (`labels.csv`'s `mnist_indices` column, as `eval.numbers` writes it); None for a
    set without that column, or whose column does not give one index per digit."""
    reader = labels_rows(folder, NumberLabelsError)
    if "mnist_indices" not in (reader.fieldnames or []):
        return None
    sources = {}
    for row in reader:
        raw = (row.get("mnist_indices") or "").split()
        if len(raw) != len((row.get("text") or "").strip()) or not all(i.isdigit() for i in raw):
            return None
        sources[row["filename"].strip()] = [int(i) for i in raw]
    return sources


@dataclass
class _Tally:
    numbers: int = 0
    exact: int = 0
    segmentation_errors: int = 0
    reading_errors: int = 0
    digits: int = 0
    digits_right: int = 0
    misread_alone: int | None = None
    """of the misread digits (`digits` - `digits_right`), those the model misreads on the
    MNIST image they were written from too (None: the set does not say which)"""
    among_candidates: int = 0
    """of the wrong numbers, those whose right reading some path of the page's candidate
    pieces spells (`core.numbers.spells`): the cut search chose another"""

    def add(self, truth: str, read: str | None) -> None:
        self.numbers += 1
        if read == truth:
            self.exact += 1
        elif read is None or len(read) != len(truth):
            self.segmentation_errors += 1
        else:
            self.reading_errors += 1
        if read is not None and len(read) == len(truth):
            self.digits += len(truth)
            self.digits_right += sum(a == b for a, b in zip(truth, read, strict=True))

    def to_dict(self) -> dict[str, Any]:
        errors = self.numbers - self.exact
        return {
            "numbers": self.numbers,
            "accuracy": self.exact / max(self.numbers, 1),
            "digit_accuracy": self.digits_right / max(self.digits, 1),
            "errors": errors,
            "segmentation_errors": self.segmentation_errors,
            "reading_errors": self.reading_errors,
            "segmentation_share": self.segmentation_errors / errors if errors else 0.0,
            "misread_digits": self.digits - self.digits_right,
            "misread_by_model_alone": self.misread_alone,
            "errors_among_candidates": self.among_candidates,
        }


@dataclass
class NumberReport:
    """Exact-match and per-digit accuracy of numbers, overall and by kind."""

    overall: _Tally = field(default_factory=_Tally)
    by_kind: dict[str, _Tally] = field(default_factory=lambda: defaultdict(_Tally))
    mistakes: list[tuple[str, str, str, str | None]] = field(default_factory=list)
    """(filename, kind, true text, text read or None)"""
    among: set[str] = field(default_factory=set)
    """the wrong numbers whose right reading was among their page's candidate pieces"""
    confidence: list[float] = field(default_factory=list)
    """per number: its confidence (0 for a per-file error: the user sees it flagged)"""
    least: list[float] = field(default_factory=list)
    """per number: its least confident digit's confidence, by which the page flags it"""
    correct: list[bool] = field(default_factory=list)

    def add(self, kind: str, filename: str, truth: str, result: Result) -> None:
        """Score one number read."""
        read = None if result.error else result.text
        self.overall.add(truth, read)
        self.by_kind[kind].add(truth, read)
        if read != truth:
            self.mistakes.append((filename, kind, truth, read))
        self.confidence.append(result.confidence or 0.0)
        self.least.append(min((d.confidence for d in result.digits or ()), default=0.0))
        self.correct.append(read == truth)

    def review(self) -> dict[str, float]:
        """The numbers' calibration (their confidence against exact match), and what a
        review of those whose least confident digit is lowest catches of the wrong ones
        (`MNISTQ_REVIEW_BELOW` flags a number on the page by that digit)."""
        share, below = review_to_catch(self.least, self.correct)
        return {"ece": expected_calibration_error(self.confidence, self.correct),
                "review_2pct_catch": review_catch(self.least, self.correct),
                "review_75pct_share": share, "review_75pct_below": below}

    def to_dict(self) -> dict[str, Any]:
        return {**self.overall.to_dict(), **self.review(),
                "by_kind": {k: t.to_dict() for k, t in sorted(self.by_kind.items())},
                "mistakes": [{"filename": name, "kind": kind, "text": truth, "read": read,
                              "among_candidates": name in self.among}
                             for name, kind, truth, read in self.mistakes]}

    def to_text(self) -> str:
        o, review = self.overall.to_dict(), self.review()
        lines = [
            f"numbers read exactly: {o['accuracy']:.2%} ({o['errors']} errors in "
            f"{o['numbers']:,} numbers)",
            f"per-digit accuracy (numbers with the right digit count): {o['digit_accuracy']:.2%}",
            f"errors from segmentation (wrong digit count): {o['segmentation_errors']}, from "
            f"reading: {o['reading_errors']} ({o['segmentation_share']:.0%} segmentation)",
            *review_lines(review["ece"], review["review_2pct_catch"],
                          review["review_75pct_share"], review["review_75pct_below"],
                          o["errors"], answers="numbers (by their least confident digit, as "
                          "the page flags them)", like="numbers"),
        ]
        if o["misread_by_model_alone"] is not None:
            lines.append(f"misread digits: {o['misread_digits']}, of which the model misreads "
                         f"{o['misread_by_model_alone']} on their MNIST images too (`alone`; "
                         "the rest were lost in the capture and the front-end)")
        lines += [
            f"errors whose right reading was among the candidate pieces: "
            f"{o['errors_among_candidates']} (`cand.`: the cut search chose another; for the "
            "rest no candidate piece, or no path of them, holds it)",
            "",
            f"{'kind':<12} {'numbers':>7} {'exact':>8} {'per digit':>9} {'segm.':>6} {'read':>5}"
            f" {'misread':>7} {'alone':>5} {'cand.':>5}",
        ]
        for kind, tally in sorted(self.by_kind.items()):
            t = tally.to_dict()
            alone = "-" if t["misread_by_model_alone"] is None else t["misread_by_model_alone"]
            lines.append(f"{kind:<12} {t['numbers']:>7} {t['accuracy']:>8.2%} "
                         f"{t['digit_accuracy']:>9.2%} {t['segmentation_errors']:>6} "
                         f"{t['reading_errors']:>5} {t['misread_digits']:>7} {alone:>5} "
                         f"{t['errors_among_candidates']:>5}")
        return "\n".join(lines)


def evaluate_numbers(model: DigitModel, numbers: list[LabelledNumber], limits: ImageLimits,
                     progress: Callable[[int], None] | None = None,
                     sources: tuple[dict[str, list[int]], np.ndarray] | None = None
                     ) -> NumberReport:
    """Read every number through the service's pipeline and score it; with `sources` (each
    file's MNIST test indices, `read_sources`, and the MNIST test images), say which misread
    digits the model misreads on their MNIST images too."""
    report = NumberReport()
    for start in range(0, len(numbers), BATCH):
        batch = numbers[start:start + BATCH]
        items = [(i, n.filename, n.path.read_bytes()) for i, n in enumerate(batch)]
        for labelled, result in zip(batch, predict_files(model, items, limits, read="number"),
                                    strict=True):
            report.add(labelled.kind, labelled.filename, labelled.text, result)
        if progress:
            progress(start + len(batch))
    _count_among_candidates(model, report, numbers, limits)
    if sources is not None:
        _count_misread_alone(model, report, *sources)
    return report


def _count_among_candidates(model: DigitModel, report: NumberReport,
                            numbers: list[LabelledNumber], limits: ImageLimits) -> None:
    """Cut every wrong number's page again as the reader cuts it and count, overall and by
    kind, those whose right reading was among its candidate pieces."""
    wrong = {name for name, _, _, _ in report.mistakes}
    missed = [n for n in numbers if n.filename in wrong]
    for start in range(0, len(missed), BATCH):
        batch = missed[start:start + BATCH]
        pages, kept = [], []
        for labelled in batch:
            try:
                pages.append(decode_page(labelled.path.read_bytes(), limits))
            except ImageError:
                continue
            kept.append(labelled)
        for labelled, found in zip(kept, candidates(model, pages), strict=True):
            if not isinstance(found, ImageError) and spells(found[0], found[1].labels,
                                                            labelled.text):
                report.overall.among_candidates += 1
                report.by_kind[labelled.kind].among_candidates += 1
                report.among.add(labelled.filename)


def _count_misread_alone(model: DigitModel, report: NumberReport,
                         indices: dict[str, list[int]], images: np.ndarray) -> None:
    """Read the MNIST image of every misread digit (the right digit count, a digit wrong)
    in one predict call and count, overall and by kind, those the model misreads there too."""
    misread = [(kind, int(truth[i]), indices[name][i])
               for name, kind, truth, read in report.mistakes
               if read is not None and len(read) == len(truth)
               for i in range(len(truth)) if read[i] != truth[i]]
    labels = (model.predict(images[[index for _, _, index in misread]]).labels if misread
              else np.zeros(0, np.int64))
    wrong = Counter(kind for (kind, truth, _), label in zip(misread, labels, strict=True)
                    if int(label) != truth)
    report.overall.misread_alone = sum(wrong.values())
    for kind, tally in report.by_kind.items():
        tally.misread_alone = wrong[kind]
