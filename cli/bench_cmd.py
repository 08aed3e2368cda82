"""`mnistq bench [NAME ...] [--quick] [ARGS]`: the benchmarks of `bench/` (`python -m bench`).

The benchmarks live in the checkout, not in the installed package: they compare against the
seed app and write their reports and plots into the source tree. So this runs
`python -m bench` with the checkout on the path, and says so when there is no checkout.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from common.paths import checkout_root
from common.settings import Settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench", help="run the benchmarks (tables, and JSON under bench/results/); checkout only",
        description="Run the benchmarks (bench/); all of them when none is named. Options "
                    "after a name go to that benchmark (`mnistq bench e2e --help`). They run "
                    "from a checkout of mnist-queue only.",
    )
    parser.add_argument("--quick", action="store_true", help="a small, fast run of each")
    parser.add_argument("args", nargs=argparse.REMAINDER, metavar="NAME ...")
    parser.set_defaults(func=cmd_bench)


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    root = checkout_root()
    if root is None or not (root / "bench" / "__main__.py").is_file():
        print("mnistq bench: the benchmarks are not part of the installed package; run them "
              "from a checkout of mnist-queue (`make bench`)", file=sys.stderr)
        return 2
    path = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH")) if p)
    argv = [sys.executable, "-m", "bench", *(["--quick"] if args.quick else []), *args.args]
    return subprocess.call(argv, env={**os.environ, "PYTHONPATH": path})
