"""`mnistq corrections stats|export`: what people corrected, and the training set it makes
(`mnistq train --extra DIR`). Reads MNISTQ_CORRECTIONS_DIR (common/corrections.py)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from common.correction_sets import correction_stats, export_corrections, stats_text
from common.corrections import Correction, CorrectionStore
from common.settings import Settings


def register(subparsers: argparse._SubParsersAction) -> None:
    corrections = subparsers.add_parser(
        "corrections", help="counts of people's corrections, and their export for training")
    sub = corrections.add_subparsers(dest="corrections_command", required=True,
                                     metavar="ACTION")
    stats = sub.add_parser("stats", help="counts by digit, kind, model version and ISO week")
    stats.add_argument("--json", action="store_true",
                       help="one object: total, by_label, by_kind, by_model, by_week")
    stats.set_defaults(func=cmd_stats)
    export = sub.add_parser("export", help="write the corrected digits as a training set "
                                           "(`mnistq train --extra DIR` reads it)")
    export.add_argument("--out", type=Path, required=True, metavar="DIR")
    export.set_defaults(func=cmd_export)


def _read(settings: Settings, command: str) -> list[Correction] | None:
    try:
        return CorrectionStore(settings.corrections_dir).read()
    except (OSError, ValueError) as exc:
        print(f"mnistq corrections {command}: {exc}", file=sys.stderr)
        return None


def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    corrections = _read(settings, "stats")
    if corrections is None:
        return 1
    stats = correction_stats(corrections)
    print(json.dumps(stats) if args.json else stats_text(stats))
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    corrections = _read(settings, "export")
    if corrections is None:
        return 1
    if not corrections:
        print(f"mnistq corrections export: no corrections in {settings.corrections_dir}",
              file=sys.stderr)
        return 1
    try:
        out = export_corrections(corrections, args.out)
    except OSError as exc:
        print(f"mnistq corrections export: cannot write {args.out}: {exc.strerror or exc}",
              file=sys.stderr)
        return 2
    print(f"{len(corrections)} digits written to {out} (train on them: mnistq train --extra "
          f"{out})")
    return 0
