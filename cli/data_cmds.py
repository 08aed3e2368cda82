"""`mnistq data verify`, `mnistq data fetch` and `mnistq export-samples`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from common.paths import unwritable_reason
from common.settings import Settings
from core.data import DataError, load_split, verify_data_dir
from core.fetch import fetch_mnist
from core.samples import export_samples


def register(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser("data", help="check or download the MNIST files")
    actions = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")

    verify = actions.add_parser("verify", help="check the four MNIST files and their SHA-256")
    verify.add_argument("--data-dir", type=Path, help="folder of the files (MNISTQ_DATA_DIR)")
    verify.set_defaults(func=verify_cmd)

    fetch = actions.add_parser("fetch", help="download the four files, verified")
    fetch.add_argument("--dest", type=Path, help="target folder (default: MNISTQ_DATA_DIR)")
    fetch.add_argument("--mirror", help="base URL holding the four .gz files")
    fetch.set_defaults(func=fetch_cmd)

    samples = subparsers.add_parser(
        "export-samples", help="write one test image per digit as PNG, with labels.csv"
    )
    samples.add_argument("--out", type=Path, default=Path("images_test"), help="target folder")
    samples.add_argument("--data-dir", type=Path, help="folder of the MNIST files")
    samples.set_defaults(func=export_samples_cmd)


def verify_cmd(args: argparse.Namespace, settings: Settings) -> int:
    data_dir = args.data_dir or settings.data_dir
    try:
        for line in verify_data_dir(data_dir):
            print(line)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"all four MNIST files in {data_dir} are valid")
    return 0


def fetch_cmd(args: argparse.Namespace, settings: Settings) -> int:
    dest = args.dest or settings.data_dir
    problem = unwritable_reason(dest)
    if problem:
        print(f"mnistq data fetch: {problem} (set MNISTQ_DATA_DIR or --dest to a folder you "
              "can write)", file=sys.stderr)
        return 2
    try:
        paths = fetch_mnist(dest, mirror=args.mirror, progress=_Progress())
    except DataError as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 1
    for path in paths:
        print(f"ok  {path}")
    return 0


def export_samples_cmd(args: argparse.Namespace, settings: Settings) -> int:
    try:
        images, labels = load_split(args.data_dir or settings.data_dir, "test")
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for path in export_samples(images, labels, args.out):
        print(path)
    return 0


class _Progress:
    """One self-overwriting line per file on stderr, updated every MiB."""

    def __init__(self) -> None:
        self.shown: tuple[str, int] | None = None

    def __call__(self, name: str, done: int, total: int | None) -> None:
        mib = done >> 20
        if self.shown == (name, mib) and done != total:
            return
        self.shown = (name, mib)
        size = f"/{total / 2**20:.1f}" if total else ""
        end = "\n" if done == total else ""
        print(f"\r{name}: {done / 2**20:.1f}{size} MiB", end=end, file=sys.stderr, flush=True)
