"""`mnistq train`, `mnistq evaluate` and `mnistq predict`: the model's life cycle, locally."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from cli.files import Collected, collect_images
from cli.preflight import data_dir_problem, model_folder_problem
from cli.versions_cmds import save_as_version, served_model_path
from common.settings import Settings
from core.data import DataError, load_split
from core.evaluate import evaluate, evaluate_files
from core.extra_set import HOLDOUT_SHARE, ExtraSet, read_extra_sets
from core.imaging import ImageLimits
from core.labelled_set import LabelsError, read_labelled_set
from core.model import DigitModel, ModelError
from core.number_eval import (
    NumberLabelsError,
    evaluate_numbers,
    read_number_set,
    read_sources,
)
from core.pipeline import predict_files
from core.results import READ_MODES, Result, model_label
from core.training import (
    DEFAULT_RECIPE,
    HANDS_RECIPE,
    NARROW_RECIPE,
    SEED_RECIPE,
    SMALL_RECIPE,
    SOFT_BINS_RECIPE,
    SPATIAL_RECIPE,
    VIRTUAL_SV_RECIPE,
    Recipe,
    train_model,
)
from core.versions import VersionError

RECIPES = {
    "default": DEFAULT_RECIPE, "seed": SEED_RECIPE, "virtual-svs": VIRTUAL_SV_RECIPE,
    "gamma-1.5": NARROW_RECIPE, "hands": HANDS_RECIPE, "small": SMALL_RECIPE,
    "soft-bins": SOFT_BINS_RECIPE, "spatial": SPATIAL_RECIPE,
}
HOLDOUT_SEED = 0
"""Seed of the draw that holds out a share of the extra digits (the same digits each run)."""
PREDICT_BATCH = 1024
"""Files decoded and predicted together by `mnistq predict`."""


def register(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser("train", help="train the SVM on MNIST and save it")
    train.add_argument("--out", type=Path, help="write one model file there (default: "
                       "MNISTQ_MODEL_PATH if set, else a new version in MNISTQ_MODEL_DIR)")
    train.add_argument("--limit", type=int, help="train on the first N training images only")
    train.add_argument("--data-dir", type=Path, help="MNIST folder (default: MNISTQ_DATA_DIR)")
    train.add_argument(
        "--recipe", choices=sorted(RECIPES), default="default",
        help="hyper-parameters (docs/model.md): 'default' HOG (votes shared between cells) "
        "+ RBF; 'soft-bins' the previous default; 'seed' the original app's pixels + poly-4; "
        "'virtual-svs' the default before; 'gamma-1.5', 'hands' and 'spatial' trials (a "
        "narrower kernel; other-hand copies; the default's 'scale' gamma); 'small' the tests' "
        "one",
    )
    train.add_argument(
        "--extra", type=Path, action="append", default=[], metavar="DIR",
        help="also train on the digits of DIR (what `mnistq corrections export --out DIR` "
        "writes), weighted; a seeded 20%% of them is held out to evaluate on; repeatable")
    train.add_argument("--extra-weight", type=float, metavar="W",
                       help="SVC weight of each extra digit (default: the recipe's, 10)")
    train.add_argument("--extra-copies", type=int, metavar="K",
                       help="jittered copies of each extra digit (default: the recipe's, 0)")
    train.set_defaults(func=cmd_train)

    ev = subparsers.add_parser(
        "evaluate", help="score the model on the 10,000 test images or a labelled folder"
    )
    ev.add_argument("--model", type=Path, help="model path (default: the served model)")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.add_argument(
        "--set", type=Path, metavar="DIR", dest="labelled_set",
        help="a folder with labels.csv (filename,label[,kind]; with --read number: "
        "filename,text[,kind]) and the images beside it, read through the service's whole "
        "pipeline (default: the MNIST test set)",
    )
    ev.add_argument("--data-dir", type=Path, help="MNIST folder (default: MNISTQ_DATA_DIR)")
    ev.add_argument("--read", choices=READ_MODES, default="digit",
                    help="score digits (default) or whole numbers (needs --set)")
    ev.set_defaults(func=cmd_evaluate)

    pr = subparsers.add_parser("predict", help="read digits from image files, no service needed")
    pr.add_argument("paths", nargs="+", type=Path, metavar="FILE_OR_DIR")
    pr.add_argument("--model", type=Path, help="model path (default: the served model)")
    pr.add_argument("--json", action="store_true", help="print a JSON list of results")
    pr.add_argument("--read", choices=READ_MODES, default="digit",
                    help="what each image holds: one digit (default) or a number")
    pr.set_defaults(func=cmd_predict)


def _fail(message: str) -> int:
    print(f"mnistq: {message}", file=sys.stderr)
    return 1


def _progress() -> Callable[[str], None]:
    started = time.perf_counter()

    def report(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {message}", file=sys.stderr, flush=True)

    return report


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    data_dir = args.data_dir or settings.data_dir
    out = args.out or settings.model_path  # None: a new version in settings.model_dir
    problem = data_dir_problem(data_dir) or model_folder_problem(
        out or settings.model_dir / "version")
    if problem:  # before minutes of training, not after
        print(f"mnistq train: {problem}", file=sys.stderr)
        return 2
    progress = _progress()
    try:
        extra, held_out = read_extra_sets(args.extra).split(HOLDOUT_SHARE, HOLDOUT_SEED)
        images, labels = load_split(data_dir, "train", limit=args.limit)
        test_images, test_labels = load_split(data_dir, "test")
    except DataError as exc:
        print(f"mnistq train: {exc}", file=sys.stderr)
        return 2
    recipe = _with_extra_options(RECIPES[args.recipe], args)
    model = train_model(images, labels, recipe, progress=progress,
                        extra=(extra.images, extra.labels) if args.extra else None)
    progress(f"evaluating on {len(test_images):,} test images")
    report = evaluate(model, test_images, test_labels)
    model.metadata.update(
        test_accuracy=report.accuracy, test_errors=report.errors, test_ece=report.ece,
        test_review_2pct_catch=report.review_2pct_catch,
    )
    model.metadata.setdefault("test_size", len(test_images))
    if args.extra:
        model.metadata.update(_extra_figures(model, extra, held_out, settings,
                                             (test_images, test_labels), progress))
    if out is None:
        progress(f"test accuracy {report.accuracy:.2%}, ECE {report.ece:.2%}, 2% review "
                 f"catches {report.review_2pct_catch:.0%}")
        return save_as_version(model, settings, test_images, test_labels)
    try:
        model.save(out)  # atomically: a temporary file renamed, never a half-written model
    except OSError as exc:
        print(f"mnistq train: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    progress(
        f"test accuracy {report.accuracy:.2%}, ECE {report.ece:.2%}, 2% review catches "
        f"{report.review_2pct_catch:.0%}; saved {out} and {out.with_suffix('.json')}"
    )
    return 0


def _with_extra_options(recipe: Recipe, args: argparse.Namespace) -> Recipe:
    """The recipe with `--extra-weight` / `--extra-copies` when given."""
    changes = {name: value for name, value in (("extra_weight", args.extra_weight),
                                               ("extra_copies", args.extra_copies))
               if value is not None}
    return replace(recipe, **changes)


def _accuracy(model: DigitModel, digits: ExtraSet) -> float | None:
    if not len(digits):
        return None
    return float((model.predict(digits.images).labels == digits.labels).mean())


def _extra_figures(
    model: DigitModel, extra: ExtraSet, held_out: ExtraSet, settings: Settings,
    test: tuple[Any, Any], progress: Callable[[str], None],
) -> dict[str, Any]:
    """What the extra digits did: the new model's accuracy on the held-out ones, beside the
    served model's on them and on the MNIST test set (its metadata: `extra`, `compared_with`)."""
    figures: dict[str, Any] = {"extra": {
        "sources": list(extra.sources), "trained_on": len(extra), "held_out": len(held_out),
        "holdout_share": HOLDOUT_SHARE, "holdout_seed": HOLDOUT_SEED,
        "holdout_accuracy": _accuracy(model, held_out),
    }}
    try:
        served = served_model_path(settings)
        active = DigitModel.load(served)
    except (ModelError, VersionError) as exc:
        progress(f"no served model to compare with ({exc})")
        figures["compared_with"] = None
        return figures
    figures["compared_with"] = {
        "version": active.metadata.get("version") or model_label(active.metadata),
        "test_accuracy": evaluate(active, *test).accuracy,
        "extra_holdout_accuracy": _accuracy(active, held_out),
    }
    mine, theirs = figures["extra"], figures["compared_with"]
    progress(f"held-out extra digits ({len(held_out):,}): "
             f"{_percent(mine['holdout_accuracy'])} (served model "
             f"{_percent(theirs['extra_holdout_accuracy'])}); MNIST test: "
             f"{_percent(model.metadata['test_accuracy'])} (served model "
             f"{_percent(theirs['test_accuracy'])})")
    return figures


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    if args.read == "number" and args.labelled_set is None:
        print("mnistq evaluate: --read number needs --set DIR (labels.csv: filename,text"
              "[,kind])", file=sys.stderr)
        return 2
    try:
        path = args.model or served_model_path(settings)
    except (ModelError, VersionError) as exc:
        return _fail(str(exc))
    if args.read == "number":
        return _evaluate_numbers(args, settings, path)
    try:
        model = DigitModel.load(path)
    except ModelError as exc:
        return _fail(str(exc))
    if args.labelled_set is not None:
        try:
            labelled = read_labelled_set(args.labelled_set)
        except LabelsError as exc:
            print(f"mnistq: {exc}", file=sys.stderr)
            return 2
        limits = ImageLimits(settings.max_image_bytes, settings.max_image_pixels)
        report = evaluate_files(model, labelled, limits)
        source = str(args.labelled_set)
    else:
        try:
            images, labels = load_split(args.data_dir or settings.data_dir, "test")
        except DataError as exc:
            return _fail(str(exc))
        report = evaluate(model, images, labels)
        source = "MNIST test set"
    if args.json:
        print(json.dumps({"model": str(path), "set": source, **report.to_dict()}))
    else:
        print(f"model: {path}\nset: {source}\n{report.to_text()}")
    return 0


def _evaluate_numbers(args: argparse.Namespace, settings: Settings, path: Path) -> int:
    """`mnistq evaluate --set DIR --read number`: whole numbers read exactly, by kind."""
    try:
        numbers = read_number_set(args.labelled_set)
    except NumberLabelsError as exc:
        print(f"mnistq evaluate: {exc}", file=sys.stderr)
        return 2
    try:
        model = DigitModel.load(path)
    except ModelError as exc:
        return _fail(str(exc))
    limits = ImageLimits(settings.max_image_bytes, settings.max_image_pixels)
    report = evaluate_numbers(model, numbers, limits,
                              sources=_mnist_sources(args, settings, args.labelled_set))
    source = str(args.labelled_set)
    if args.json:
        print(json.dumps({"model": str(path), "set": source, "read": "number",
                          **report.to_dict()}))
    else:
        print(f"model: {path}\nset: {source}\n{report.to_text()}")
    return 0


def _mnist_sources(args: argparse.Namespace, settings: Settings, folder: Path
                   ) -> tuple[dict[str, list[int]], np.ndarray] | None:
    """For a set made from MNIST test digits, which digits each file holds and the MNIST
    test images (to tell the model's misreadings from the front-end's losses); None when
    the set does not say or MNIST cannot be loaded (the report then leaves that out)."""
    indices = read_sources(folder)
    if indices is None:
        return None
    try:
        images, _ = load_split(args.data_dir or settings.data_dir, "test")
    except DataError:
        return None
    if any(i >= len(images) for digits in indices.values() for i in digits):
        return None
    return indices, images


def _read(
    index: int, name: str, path: Path, limits: ImageLimits, mode: str = "digit"
) -> tuple[int, str, bytes] | Result:
    """The file's bytes, or a per-file error result when it cannot or should not be read."""
    try:
        if path.stat().st_size > limits.max_bytes:
            return Result.failure(index, name, f"file larger than {limits.max_bytes} bytes",
                                  mode)
        return index, name, path.read_bytes()
    except OSError as exc:
        return Result.failure(index, name, f"cannot read file: {exc.strerror or exc}", mode)


def cmd_predict(args: argparse.Namespace, settings: Settings) -> int:
    try:
        model = DigitModel.load(args.model or served_model_path(settings))
    except (ModelError, VersionError) as exc:  # a set-up problem (2), not the images' (1)
        print(f"mnistq predict: {exc}", file=sys.stderr)
        return 2
    limits = ImageLimits(settings.max_image_bytes, settings.max_image_pixels)
    collected = collect_images(args.paths, "mnistq predict")
    files = collected.files
    results: list[Result] = []
    for start in range(0, len(files), PREDICT_BATCH):
        batch = files[start:start + PREDICT_BATCH]
        read = [_read(start + i, name, path, limits, args.read)
                for i, (name, path) in enumerate(batch)]
        items = [r for r in read if not isinstance(r, Result)]
        predicted = iter(predict_files(model, items, limits, read=args.read))
        results += [r if isinstance(r, Result) else next(predicted) for r in read]
    label = model_label(model.metadata)  # as the service names it
    results = [replace(r, model=label) for r in results]
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=1))
    else:
        for r in results:
            if r.error:
                print(f"{r.filename}\terror: {r.error}")
            elif r.read == "number":
                print(f"{r.filename}\t{r.text}\t{r.confidence:.2f}")
            else:
                print(f"{r.filename}\t{r.prediction}\t(confidence {r.confidence:.2f}, "
                      f"runner-up {r.runner_up})")
    return _predict_status(collected, results)


def _predict_status(collected: Collected, results: list[Result]) -> int:
    """1 when a named path does not exist or no image at all could be read, so that a script
    can tell; the results of the files that were read are printed either way."""
    if not results:
        print("mnistq predict: no image files found", file=sys.stderr)
    elif all(r.error for r in results):
        print(f"mnistq predict: none of the {len(results)} files could be read", file=sys.stderr)
    elif not collected.missing:
        return 0
    return 1
