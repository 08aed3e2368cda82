"""Entry point of `mnistq`: builds the settings once and dispatches to a sub-command.

Each sub-command lives in its own module with a `register(subparsers)` function that adds
its parser and sets `func(args, settings) -> int` as the handler. Only the module of the
command typed is imported (all of them for `--help` or a command not in `COMMANDS`): the
model commands import scikit-learn, which alone takes a second or more, and `mnistq up` on a
busy port or `mnistq submit` should answer at once.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from common.settings import Settings

COMMAND_MODULES = (
    "data_cmds", "model_cmds", "versions_cmds", "corrections_cmds", "up", "submit", "doctor",
    "bench_cmd", "verifier_cmd",
)
"""The modules of `cli` that register sub-commands, in the order `--help` lists them."""
COMMANDS = {
    "data": "data_cmds", "export-samples": "data_cmds", "train": "model_cmds",
    "evaluate": "model_cmds", "predict": "model_cmds", "models": "versions_cmds",
    "corrections": "corrections_cmds", "up": "up",
    "submit": "submit", "doctor": "doctor", "bench": "bench_cmd",
    "add-verifier": "verifier_cmd",
}
"""Which module registers each command (a command missing here still works, more slowly)."""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or only of `command` when its module is known."""
    parser = argparse.ArgumentParser(
        prog="mnistq", description="Read handwritten digits: train, predict, serve, submit."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    names = [COMMANDS[command]] if command in COMMANDS else COMMAND_MODULES
    for name in names:
        importlib.import_module(f"cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv[0] if argv else None).parse_args(argv)
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
