"""Corrections: the loop from reviewed readings to a better model, measured end to end.

1. The current model (the active version of MNISTQ_MODEL_DIR, copied into a scratch folder;
   one trained on `--train` images when there is none, and always with `--quick`) reads a
   probe set of every capture kind (`python -m eval.make`, seed 3; with `--read number`,
   every kind of number, `python -m eval.numbers`); the kind it reads worst is chosen
   (`--kind` chooses it instead). Files in which no digit is found count as wrong (as a
   user sees them), and are also counted apart: no retraining fixes them.
2. A job set of that kind (seed 1) goes through a real stack (`mnistq up --workers 2`) in
   jobs of at most JOB_FILES images. Up to `--corrections` (300) of its results are reviewed
   through `PUT /api/v1/jobs/<id>/results/<index>` with their true labels (`{"label"}`; a
   number's `{"text"}`): the misread ones first, then the doubtful right ones (confidence
   under MNISTQ_REVIEW_BELOW), confirmed. A number is kept digit by digit when as many digits
   were read as it has (api/review.py).
3. `mnistq corrections export`, then `mnistq train --extra` on the same training images as
   the current model, and the gate: `PUT /api/v1/model` with the new version.
4. Both versions read a held-out set of that kind (seed 2) and the MNIST test set, each
   without the MNIST digits trained on: digits, without those the job set was made from;
   numbers, without those holding a digit of a reviewed number (a number is made of five
   test digits or so: without every digit of the job set, hardly any would be left). MNIST
   test is also scored without the reviewed digits.
Targets: held-out kind >= 3 points better, MNIST test within 0.1 point.
5. With `--variants W:K,...`, the same extra digits are also trained on in process with each
   SVC weight W and K jittered copies (no confidence calibration, so a variant costs one
   fit), and each variant is scored on the same two sets: how the weighting was chosen
   (digit mode).
Run: `python -m bench corrections [--quick] [--read number] [--kind KIND] [--work DIR]`.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import requests

from bench import report
from bench.clients import run_job
from bench.images import multipart
from bench.procs import BIN, mnistq_up
from common.settings import Settings
from core import versions
from core.data import load_split
from core.imaging import ImageError, ImageLimits, decode_page
from core.model import DigitModel
from core.pipeline import predict_files, read_pages
from eval import make as capture_sets
from eval import numbers as number_sets

NAME = "corrections"
TARGETS = {"held_out_kind_gain_points": 3.0, "mnist_test_change_points": -0.1}
JOB_FILES = 500
"""Images per uploaded job (the capture sets' JPEGs stay under MNISTQ_MAX_UPLOAD_BYTES)."""
MAX_WIDTH = 800
"""Width cap of the generated captures (px): generation and upload stay within minutes."""
PROBE_SEED, JOB_SEED, HELD_OUT_SEED = 3, 1, 2
READ_BATCH = 64
Reads = tuple[np.ndarray, np.ndarray]
"""Per file of a set: read right, and a digit found (bool (n,) each)."""


@dataclass(frozen=True)
class Mode:
    """What the loop does differently for digits and for numbers: the sets it makes, the
    truth of a set's row, what a result says, and the correction's field."""

    read: str
    kinds: tuple[str, ...]
    field: str
    """the correction's JSON field: `label` (an int) or `text` (a string of digits)"""
    sizes: tuple[int, int, int]
    """images of each kind in the probe, images in the job set and in the held-out set"""
    quick_sizes: tuple[int, int, int]
    """the same with `--quick`"""

    def make(self, folder: Path, kind: str, count: int, seed: int, data_dir: Path) -> None:
        if self.read == "digit":
            capture_sets.make(folder, kind, count, seed, data_dir, MAX_WIDTH)
        else:
            number_sets.make(folder, kind, count, seed, data_dir)

    def truth(self, row: dict[str, str]) -> int | str:
        return int(row["label"]) if self.read == "digit" else row["text"]

    def said(self, result: dict[str, Any]) -> int | str | None:
        return result["prediction"] if self.read == "digit" else result["text"]

    def mnist_digits(self, row: dict[str, str]) -> list[int]:
        """The MNIST test digits a row's image was made from."""
        if self.read == "digit":
            return [int(row["mnist_index"])]
        return [int(i) for i in row["mnist_indices"].split()]


DIGITS = Mode("digit", capture_sets.KINDS, "label", (100, 3000, 1500), (60, 1000, 600))
NUMBERS = Mode("number", (*number_sets.KINDS, *number_sets.MORE_KINDS), "text",
               (400, 1000, 1000), (30, 300, 300))
"""A job of 1,000 numbers of the weakest kind holds some 300 misread or doubtful ones. The
probe reads 400 of each kind: the weakest kinds of number are read at 70-80%, where 100 of
each give a kind's score to within about 9 points (95%), too little to rank them; 400, to
within about 4.5."""
MODES = {mode.read: mode for mode in (DIGITS, NUMBERS)}


@dataclass(frozen=True)
class ReadSet:
    """A generated set read as the service reads it: each file's digit in MNIST form."""

    filenames: list[str]
    labels: np.ndarray
    kinds: list[str]
    mnist_index: np.ndarray
    digits: np.ndarray
    """uint8 (n, 28, 28); zeros where no digit was found."""
    found: np.ndarray
    """bool (n,): a digit was found (else the service answers with a per-file error)."""

    def subset(self, keep: np.ndarray) -> ReadSet:
        return ReadSet([f for f, k in zip(self.filenames, keep, strict=True) if k],
                       self.labels[keep], [x for x, k in zip(self.kinds, keep, strict=True)
                                           if k],
                       self.mnist_index[keep], self.digits[keep], self.found[keep])

    def without(self, digits: set[int]) -> ReadSet:
        """The images made from none of these MNIST test digits."""
        return self.subset(np.array([i not in digits for i in self.mnist_index]))


@dataclass(frozen=True)
class NumberSet:
    """A generated set of numbers (`eval.numbers`). Unlike a digit, a number is read anew
    by each model: its cuts are chosen by what the model reads (core/numbers.py)."""

    folder: Path
    rows: list[dict[str, str]]

    @property
    def kinds(self) -> list[str]:
        return [row["kind"] for row in self.rows]

    def subset(self, keep: np.ndarray) -> NumberSet:
        return NumberSet(self.folder, [r for r, k in zip(self.rows, keep, strict=True) if k])

    def without(self, digits: set[int]) -> NumberSet:
        """The numbers holding none of these MNIST test digits."""
        return self.subset(np.array([digits.isdisjoint(NUMBERS.mnist_digits(r))
                                     for r in self.rows]))


def rows_of(folder: Path) -> list[dict[str, str]]:
    with (folder / "labels.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def generated(work: Path, name: str, mode: Mode, kinds: tuple[str, ...], count: int,
              seed: int, data_dir: Path) -> Path:
    """`count` images of each kind in a folder of `work` (kept from an earlier run with the
    same arguments: eval.make and eval.numbers are deterministic)."""
    prefix = name if mode is DIGITS else f"{name}-numbers"
    folder = work / f"{prefix}-{'-'.join(kinds) if len(kinds) == 1 else 'all'}-{count}-s{seed}"
    stamp = folder / "made.json"
    wanted = {"read": mode.read, "kinds": list(kinds), "count": count, "seed": seed,
              "max_width": MAX_WIDTH}
    if stamp.exists() and json.loads(stamp.read_text()) == wanted:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    for kind in kinds:
        print(f"making {count} {kind} {mode.read} images (seed {seed}) in {folder}", flush=True)
        mode.make(folder, kind, count, seed, data_dir)
    stamp.write_text(json.dumps(wanted))
    return folder


def read_set(folder: Path, limits: ImageLimits) -> ReadSet:
    """Decode and find the digit of every file, as the worker does before predicting."""
    rows = rows_of(folder)
    digits = np.zeros((len(rows), 28, 28), np.uint8)
    found = np.zeros(len(rows), bool)
    for start in range(0, len(rows), READ_BATCH):
        pages, where = [], []
        for i, row in enumerate(rows[start:start + READ_BATCH], start):
            try:
                pages.append(decode_page((folder / row["filename"]).read_bytes(), limits))
                where.append(i)
            except ImageError:
                pass
        for i, read in zip(where, read_pages(pages), strict=True):
            if not isinstance(read, ImageError):
                digits[i], found[i] = read[0], True
    return ReadSet([r["filename"] for r in rows], np.array([int(r["label"]) for r in rows]),
                   [r["kind"] for r in rows], np.array([int(r["mnist_index"]) for r in rows]),
                   digits, found)


def digit_reads(model: DigitModel, digits: ReadSet) -> Reads:
    """Per file, whether the model reads its digit right (a file with no digit found is
    wrong), and whether a digit was found."""
    predicted = np.full(len(digits.labels), -1)
    if digits.found.any():
        predicted[digits.found] = model.predict(digits.digits[digits.found]).labels
    return predicted == digits.labels, digits.found


def number_reads(model: DigitModel, numbers: NumberSet, limits: ImageLimits) -> Reads:
    """`digit_reads` of numbers: a number is right when every digit is, in order, and no
    more."""
    right, found = [], []
    for start in range(0, len(numbers.rows), READ_BATCH):
        rows = numbers.rows[start:start + READ_BATCH]
        items = [(i, r["filename"], (numbers.folder / r["filename"]).read_bytes())
                 for i, r in enumerate(rows)]
        for row, result in zip(rows, predict_files(model, items, limits, read="number"),
                               strict=True):
            right.append(result.text == row["text"])
            found.append(result.error is None)
    return np.array(right, bool), np.array(found, bool)


def scores(reads: Reads) -> dict[str, Any]:
    """Accuracy over every file and over those in which a digit was found."""
    right, found = reads
    return {"images": len(right), "accuracy": float(right.mean()) if len(right) else None,
            "no_digit_found": int((~found).sum()),
            "accuracy_of_found": float(right[found].mean()) if found.any() else None}


def flips(was: np.ndarray, now: np.ndarray) -> dict[str, int]:
    """How many files the new model reads right (`now`) and the old one wrong (`was`), and
    the other way round: a gain of a few points is more than chance when it is made of many
    more of the first than of the second."""
    return {"fixed": int((~was & now).sum()), "broken": int((was & ~now).sum())}


Reader = Callable[[DigitModel, Any], Reads]


def weakest_kind(model: DigitModel, probe: ReadSet | NumberSet, read: Reader
                 ) -> tuple[str, dict[str, Any]]:
    """The kind the model reads worst, every file counted (as a user sees it)."""
    kinds = np.array(probe.kinds)
    by_kind = {k: scores(read(model, probe.subset(kinds == k)))
               for k in dict.fromkeys(probe.kinds)}
    return min(by_kind, key=lambda k: by_kind[k]["accuracy"]), by_kind


def mnist_scores(model: DigitModel, data_dir: Path, without: set[int]) -> dict[str, float]:
    images, labels = load_split(data_dir, "test")
    right = model.predict(images).labels == labels
    keep = np.ones(len(labels), bool)
    keep[list(without)] = False
    return {"accuracy": float(right.mean()),
            "accuracy_without_corrected": float(right[keep].mean()), "without": len(without)}


def base_version(folder: Path, args: Any, settings: Settings) -> str:
    """The current model as the only (active) version of the scratch `folder`."""
    if not args.quick and args.train is None:
        try:
            active = versions.active_version(settings.model_dir)
        except versions.VersionError:
            active = None
        if active:
            shutil.copytree(settings.model_dir / active, folder / active)
            versions.activate(folder, active)
            return active
    print(f"training the current model on {train_images(args):,} images", flush=True)
    name = mnistq(["train", "--limit", str(train_images(args))], folder, args).stdout.strip()
    return name


def train_images(args: Any) -> int:
    return args.train or (10_000 if args.quick else 60_000)


def mnistq(argv: list[str], folder: Path, args: Any, **env: str) -> subprocess.CompletedProcess:
    """One `mnistq` command on the scratch model folder; its stderr goes to ours."""
    child = {**{k: v for k, v in os.environ.items() if not k.startswith("MNISTQ_")},
             "MNISTQ_MODEL_DIR": str(folder), "MNISTQ_DATA_DIR": str(args.data_dir),
             "MNISTQ_REDIS_URL": env.pop("redis_url", "redis://127.0.0.1:1/0"), **env}
    done = subprocess.run([str(BIN / "mnistq"), *argv], env=child, stdout=subprocess.PIPE,
                          text=True)
    if done.returncode:
        raise RuntimeError(f"mnistq {' '.join(argv)} exited {done.returncode}")
    return done


@dataclass(frozen=True)
class Reading:
    """One result of the job set, beside the truth of the image it read."""

    job: str
    result: dict[str, Any]
    truth: int | str
    mnist_digits: list[int]


def to_review(readings: list[Reading], mode: Mode, count: int, review_below: float
              ) -> tuple[list[Reading], list[Reading], list[Reading]]:
    """(the `count` readings to review, the misread ones, the doubtful right ones): the
    misread first, then the right ones under `review_below`, least confident first. A file
    with no digit found (an error result) has nothing to correct."""
    readable = [x for x in readings if x.result["error"] is None]
    misread = [x for x in readable if mode.said(x.result) != x.truth]
    doubtful = sorted((x for x in readable if mode.said(x.result) == x.truth
                       and x.result["confidence"] < review_below),
                      key=lambda x: x.result["confidence"])
    return (misread + doubtful)[:count], misread, doubtful


def review(url: str, folder: Path, mode: Mode, count: int, review_below: float
           ) -> dict[str, Any]:
    """Upload the job set, then correct (or confirm) `count` results through the API."""
    rows = rows_of(folder)
    readings: list[Reading] = []
    started = time.perf_counter()
    for start in range(0, len(rows), JOB_FILES):
        batch = rows[start:start + JOB_FILES]
        files = [(r["filename"], (folder / r["filename"]).read_bytes()) for r in batch]
        _, job = run_job(url, *multipart(files), read=mode.read)
        if job["status"] != "succeeded":
            raise RuntimeError(f"job {job['id']} {job['status']}")
        readings += [Reading(job["id"], r, mode.truth(row), mode.mnist_digits(row))
                     for r, row in zip(job["results"], batch, strict=True)]
    read_s = time.perf_counter() - started
    chosen, misread, doubtful = to_review(readings, mode, count, review_below)
    session = requests.Session()
    for x in chosen:
        answer = session.put(f"{url}/api/v1/jobs/{x.job}/results/{x.result['index']}",
                             json={mode.field: x.truth}, timeout=30)
        if answer.status_code != 200:
            raise RuntimeError(f"PUT result {x.result['index']} of job {x.job}: "
                               f"{answer.status_code} {answer.text[:200]}")
    corrected = [x for x in chosen if mode.said(x.result) != x.truth]
    return {
        "job_images": len(readings), "read_s": read_s,
        "no_digit_found": sum(x.result["error"] is not None for x in readings),
        "misread": len(misread), "doubtful_right": len(doubtful),
        "corrected": len(corrected), "confirmed": len(chosen) - len(corrected),
        # a number kept digit by digit: as many digits read as written (api/review.py)
        "kept_per_digit": sum(mode is DIGITS or len(x.result["digits"]) == len(str(x.truth))
                              for x in chosen),
        "corrected_mnist_index": sorted({i for x in chosen for i in x.mnist_digits}),
    }


def compare_variants(
    variants: list[tuple[float, int]], export: Path, held: ReadSet | NumberSet, read: Reader,
    data_dir: Path, n_train: int, without: set[int],
) -> list[dict[str, Any]]:
    """Each (weight, copies) trained on the same MNIST images and trained-on extra digits."""
    from dataclasses import replace

    from cli.model_cmds import HOLDOUT_SEED
    from core.extra_set import HOLDOUT_SHARE, read_extra_set
    from core.training import DEFAULT_RECIPE, train_model

    images, labels = load_split(data_dir, "train", limit=n_train)
    extra, _ = read_extra_set(export).split(HOLDOUT_SHARE, HOLDOUT_SEED)
    out = []
    for weight, copies in variants:
        recipe = replace(DEFAULT_RECIPE, extra_weight=weight, extra_copies=copies,
                         calibration_holdout=0)
        started = time.process_time()
        model = train_model(images, labels, recipe, extra=(extra.images, extra.labels))
        out.append({"weight": weight, "copies": copies,
                    "cpu_s": time.process_time() - started,
                    "held_out": scores(read(model, held)),
                    "mnist": mnist_scores(model, data_dir, without)})
        print(f"variant weight {weight:g}, copies {copies}: held-out "
              f"{out[-1]['held_out']['accuracy']:.2%}, MNIST {out[-1]['mnist']['accuracy']:.2%}",
              flush=True)
    return out


def parse_variants(text: str | None) -> list[tuple[float, int]]:
    """`10:0,30:4` -> [(10.0, 0), (30.0, 4)]."""
    if not text:
        return []
    return [(float(w), int(k)) for w, k in (item.split(":") for item in text.split(","))]


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = report.arguments(NAME, __doc__, "10,000 training images, smaller sets", settings,
                              model=False)
    parser.add_argument("--read", choices=tuple(MODES), default="digit",
                        help="review digits (capture kinds) or numbers (number kinds)")
    parser.add_argument("--kind", choices=sorted({*DIGITS.kinds, *NUMBERS.kinds}),
                        help="kind of the --read mode's sets (default: the weakest)")
    parser.add_argument("--corrections", type=int, default=300)
    parser.add_argument("--train", type=int, help="training images of both models "
                        "(default: 60,000; --quick 10,000); the current model is trained too")
    parser.add_argument("--extra-weight", type=float, help="passed to mnistq train")
    parser.add_argument("--extra-copies", type=int, help="passed to mnistq train")
    parser.add_argument("--work", type=Path, help="keep the generated sets here (reused)")
    parser.add_argument("--job-images", type=int, help="images of the reviewed job set "
                        "(default: digits 3,000, numbers 1,000; --quick 1,000 and 300)")
    parser.add_argument("--held-out-images", type=int, help="images of the held-out set "
                        "(default: digits 1,500, numbers 1,000; --quick 600 and 300)")
    parser.add_argument("--variants", metavar="W:K,...",
                        help="also train with SVC weight W and K jittered copies, each "
                             "(digits only: such a model has no whole-digit verifier)")
    args = parser.parse_args(argv)
    mode = MODES[args.read]
    if args.kind and args.kind not in mode.kinds:
        parser.error(f"--kind {args.kind} is no kind of --read {mode.read}")
    if args.variants and mode is NUMBERS:
        parser.error("--variants reads digits only")
    probe_n, job_n, held_n = mode.quick_sizes if args.quick else mode.sizes
    limits = ImageLimits(settings.max_image_bytes, settings.max_image_pixels)
    read_folder: Callable[[Path], ReadSet | NumberSet] = (
        partial(read_set, limits=limits) if mode is DIGITS
        else lambda folder: NumberSet(folder, rows_of(folder)))
    read: Reader = digit_reads if mode is DIGITS else partial(number_reads, limits=limits)
    work = args.work or Path(tempfile.mkdtemp(prefix="mqcorr-sets-"))
    scratch = Path(tempfile.mkdtemp(prefix="mqcorr-"))
    models = scratch / "models"
    try:
        base = base_version(models, args, settings)
        old = versions.load_version(models, base)
        if args.kind:
            kind, probe = args.kind, None
        else:
            folder = generated(work, "probe", mode, mode.kinds, probe_n, PROBE_SEED,
                               args.data_dir)
            kind, probe = weakest_kind(old, read_folder(folder), read)
        print(f"kind: {kind}", flush=True)
        job_set = generated(work, "job", mode, (kind,), args.job_images or job_n, JOB_SEED,
                            args.data_dir)
        held_dir = generated(work, "held-out", mode, (kind,), args.held_out_images or held_n,
                             HELD_OUT_SEED, args.data_dir)
        env = {"MNISTQ_MODEL_PATH": "", "MNISTQ_MODEL_DIR": str(models),
               "MNISTQ_CORRECTIONS_DIR": str(scratch / "corrections")}
        with mnistq_up(2, Path(""), env=env) as stack:
            reviewed = review(stack.url, job_set, mode, args.corrections, settings.review_below)
            export = scratch / "export"
            mnistq(["corrections", "export", "--out", str(export)], models, args,
                   MNISTQ_CORRECTIONS_DIR=str(scratch / "corrections"))
            train_argv = ["train", "--limit", str(train_images(args)), "--extra", str(export)]
            for option, value in (("--extra-weight", args.extra_weight),
                                  ("--extra-copies", args.extra_copies)):
                if value is not None:
                    train_argv += [option, str(value)]
            started = time.perf_counter()
            new = mnistq(train_argv, models, args, redis_url=stack.redis_url).stdout.strip()
            train_s = time.perf_counter() - started
            gate = requests.put(f"{stack.url}/api/v1/model", json={"version": new}, timeout=30)
        new_model = versions.load_version(models, new)
        corrected = set(reviewed.pop("corrected_mnist_index"))
        # digits: none the job set was made from; numbers: none of a reviewed one (step 4)
        left_out = ({d for r in rows_of(job_set) for d in mode.mnist_digits(r)}
                    if mode is DIGITS else corrected)
        held = read_folder(held_dir).without(left_out)
        was, now = read(old, held), read(new_model, held)
        figures = {
            "old": {"version": base, "held_out": scores(was),
                    "mnist": mnist_scores(old, args.data_dir, corrected)},
            "new": {"version": new, "held_out": scores(now),
                    "mnist": mnist_scores(new_model, args.data_dir, corrected)},
            "held_out_flips": flips(was[0], now[0]),
        }
        meta = new_model.metadata
        variants = compare_variants(parse_variants(args.variants), export, held, read,
                                    args.data_dir, train_images(args), corrected)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    gain = 100 * (figures["new"]["held_out"]["accuracy"] - figures["old"]["held_out"]["accuracy"])
    change = 100 * (figures["new"]["mnist"]["accuracy"] - figures["old"]["mnist"]["accuracy"])
    result = {
        "quick": args.quick, "read": mode.read, "kind": kind, "probe": probe,
        "training_images": train_images(args),
        "recipe_extra": {"weight": meta["recipe"].get("extra_weight"),
                         "copies": meta["recipe"].get("extra_copies")},
        "review": reviewed, "retrain_s": train_s, "extra": meta.get("extra"),
        "gate": {"status": gate.status_code, "body": gate.json()}, **figures,
        "variants": variants,
        "held_out_kind_gain_points": gain, "mnist_test_change_points": change,
        "targets": TARGETS,
        "targets_met": {"held_out_kind_gain_points": gain >= TARGETS["held_out_kind_gain_points"],
                        "mnist_test_change_points": change >= TARGETS["mnist_test_change_points"]},
    }
    print(render(result))
    report.write(NAME, result, args.out)
    return 0
def render(result: dict[str, Any]) -> str:
    def pct(value: float | None) -> str:
        return "-" if value is None else f"{100 * value:.2f}%"

    old, new = result["old"], result["new"]
    r = result["review"]
    unit = "numbers" if result.get("read") == "number" else "images"
    rows = [
        (f"held-out {result['kind']} ({old['held_out']['images']:,} {unit})",
         pct(old["held_out"]["accuracy"]), pct(new["held_out"]["accuracy"])),
        ("... of those with a digit found", pct(old["held_out"]["accuracy_of_found"]),
         pct(new["held_out"]["accuracy_of_found"])),
        ("MNIST test (10,000)", pct(old["mnist"]["accuracy"]), pct(new["mnist"]["accuracy"])),
        (f"... without the {old['mnist']['without']} corrected digits",
         pct(old["mnist"]["accuracy_without_corrected"]),
         pct(new["mnist"]["accuracy_without_corrected"])),
    ]
    text = report.table(("accuracy", old["version"], new["version"]), rows)
    if result["variants"]:
        text += "\n" + report.table(("weight, copies (no calibration)", "held-out", "MNIST"), [
            (f"{v['weight']:g}, {v['copies']}", pct(v["held_out"]["accuracy"]),
             pct(v["mnist"]["accuracy"])) for v in result["variants"]])
    flipped = result["held_out_flips"]
    kept = (f" ({r['kept_per_digit']} kept digit by digit)"
            if result.get("read") == "number" else "")
    return (f"{text}\njob: {r['job_images']:,} {result['kind']} {unit}, "
            f"{r['no_digit_found']} no digit, "
            f"{r['misread']} misread, {r['doubtful_right']} doubtful right; reviewed "
            f"{r['corrected']} corrected + {r['confirmed']} confirmed{kept}; retrain "
            f"{result['retrain_s']:.0f} s; gate: {result['gate']['status']}\n"
            f"held-out {result['kind']}: {result['held_out_kind_gain_points']:+.2f} points "
            f"({flipped['fixed']} now right, {flipped['broken']} now wrong; target >= +3); "
            f"MNIST test: {result['mnist_test_change_points']:+.2f} points (target >= -0.1)")


if __name__ == "__main__":
    sys.exit(main())
