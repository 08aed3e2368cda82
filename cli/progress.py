"""The progress bar of a job on stderr, fed with the job's counts however they arrive.

Drawn by `tqdm` rather than by hand: it gives the rate and the time left, redraws in place on
a terminal and writes plain lines elsewhere. `tqdm` over `rich`: one small pure-Python package
with no dependencies of its own, where `rich` would bring pygments and markdown-it for one bar.

`JobProgress.show()` takes a job's counts and status (from a long-poll today, from a stream
of events later) and `close()` leaves the last state on its own line; nothing else here
knows how the counts were obtained.
"""

from __future__ import annotations

import sys
from typing import TextIO

from tqdm import tqdm

OFF_TERMINAL_INTERVAL = 10.0
"""Seconds between lines when stderr is a file or a pipe (logs stay short)."""


class JobProgress:
    """A bar of `processed / total` images with the failures and the job's status."""

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        stream = stream or sys.stderr
        tty = stream.isatty()
        self.bar = tqdm(
            total=total, file=stream, unit="image", dynamic_ncols=tty, ascii=not tty,
            mininterval=0.1 if tty else OFF_TERMINAL_INTERVAL, leave=True,
            bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, "
                       "{rate_fmt}{postfix}]",
        )

    def show(self, processed: int, failed: int, status: str) -> None:
        self.bar.set_postfix_str(f"{failed} failed, {status}", refresh=False)
        self.bar.update(processed - self.bar.n)

    def close(self) -> None:
        self.bar.refresh()
        self.bar.close()
