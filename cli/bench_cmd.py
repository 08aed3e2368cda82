"""`mnistq bench [NAME ...] [--quick] [ARGS]`: the benchmarks of `bench/` (`python -m bench`)."""

from __future__ import annotations

import argparse

from common.settings import Settings


def register(subparsers: argparse._SubParsersAction) -> None:
    from bench.__main__ import BENCHMARKS

    names = ", ".join(BENCHMARKS)
    parser = subparsers.add_parser(
        "bench", help="run the benchmarks (tables, and JSON under bench/results/)",
        description=f"Run benchmarks ({names}); all of them when none is named. Options "
                    "after a name go to that benchmark (`mnistq bench e2e --help`).",
    )
    parser.add_argument("--quick", action="store_true", help="a small, fast run of each")
    parser.add_argument("args", nargs=argparse.REMAINDER, metavar="NAME ...")
    parser.set_defaults(func=cmd_bench)


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    from bench.__main__ import main

    return main([*(["--quick"] if args.quick else []), *args.args])
