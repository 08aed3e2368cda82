"""`mnistq add-verifier`: give an existing model the number reader's whole-digit verifier.

`mnistq train` trains it with the model (core/wholeness.py); this adds it to a model trained
before, in a minute or two instead of a full retraining, and writes the model with it to `--out`
(import that file as a version with `mnistq models import`: versions are never changed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from common.settings import Settings


def register(subparsers: argparse._SubParsersAction) -> None:
    add = subparsers.add_parser(
        "add-verifier", help="add the number reader's whole-digit verifier to a model file")
    add.add_argument("--model", type=Path, required=True, help="the model file to start from")
    add.add_argument("--out", type=Path, required=True,
                     help="where to write the model with its verifier (may be --model)")
    add.add_argument("--pieces", type=int,
                     help="training pieces per verifier (default: the recipe's)")
    add.add_argument("--verifiers", type=int,
                     help="verifiers trained and averaged, at least 1 (default: as `mnistq train`)")
    add.add_argument("--data-dir", type=Path, help="MNIST folder (default: MNISTQ_DATA_DIR)")
    add.set_defaults(func=cmd_add_verifier)


def cmd_add_verifier(args: argparse.Namespace, settings: Settings) -> int:
    from core.data import DataError, load_split
    from core.model import DigitModel, ModelError
    from core.wholeness import PIECES, VERIFIERS, add_wholeness

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    members = VERIFIERS if args.verifiers is None else args.verifiers
    if members < 1:
        print(f"mnistq add-verifier: --verifiers must be at least 1, not {members}",
              file=sys.stderr)
        return 2
    try:
        model = DigitModel.load(args.model)
        images, _ = load_split(args.data_dir or settings.data_dir, "train")
    except (ModelError, DataError) as exc:
        print(f"mnistq add-verifier: {exc}", file=sys.stderr)
        return 2
    pieces = args.pieces or int(model.metadata["recipe"].get("wholeness_pieces") or PIECES)
    add_wholeness(model, images, pieces, progress=progress, members=members)
    try:
        model.save(args.out)
    except OSError as exc:
        print(f"mnistq add-verifier: cannot write {args.out}: {exc.strerror or exc}",
              file=sys.stderr)
        return 2
    progress(f"saved {args.out} and {args.out.with_suffix('.json')}")
    return 0
