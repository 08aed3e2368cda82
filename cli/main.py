"""Entry point of `mnistq`: builds the settings once and dispatches to a sub-command.

Each sub-command lives in its own module with a `register(subparsers)` function that adds
its parser and sets `func(args, settings) -> int` as the handler.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from common.settings import Settings

from . import bench_cmd, data_cmds, model_cmds, submit, up

COMMAND_MODULES = (data_cmds, model_cmds, up, submit, bench_cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mnistq", description="Read handwritten digits: train, predict, serve, submit."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        print(f"mnistq: bad setting: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.func(args, settings) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `mnistq ... | head`: the reader left, nothing more to say
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
