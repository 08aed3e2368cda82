"""Checks made before starting work: each answers None, or a `Problem` saying what and the fix.

`mnistq up`, `mnistq train` and `mnistq doctor` share them, so a bad setting reads the same
from every command and is found before anything is started or half-written.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass
from pathlib import Path

from common.paths import unwritable_reason

PORT_SEARCH = 100
"""Ports above a busy one tried for the suggestion."""


@dataclass(frozen=True)
class Problem:
    """What is wrong, and what to do about it; printed as one line."""

    what: str
    fix: str = ""

    def __str__(self) -> str:
        return f"{self.what}{f' ({self.fix})' if self.fix else ''}"


def data_dir_problem(data_dir: Path) -> Problem | None:
    """A data folder that does not exist (its files are checked when they are read)."""
    if Path(data_dir).is_dir():
        return None
    return Problem(f"the data folder {data_dir} does not exist",
                   "set MNISTQ_DATA_DIR to the folder with the four MNIST files, or run "
                   "`mnistq data fetch`")


def model_folder_problem(model_path: Path) -> Problem | None:
    """A model that could not be written where it is configured to go."""
    reason = unwritable_reason(Path(model_path).parent)
    if reason is None:
        return None
    return Problem(reason, "set MNISTQ_MODEL_PATH to a file in a folder you can write")


def _bind(host: str, port: int) -> OSError | None:
    """Try to listen on host:port as gunicorn will (SO_REUSEADDR); the error if that fails."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(1)
    except OSError as exc:
        return exc
    return None


def port_problem(host: str, port: int) -> Problem | None:
    """A port the API could not listen on, with a free one to try instead."""
    error = _bind(host, port)
    if error is None:
        return None
    if isinstance(error, socket.gaierror):
        return Problem(f"cannot listen on {host}: unknown address", "try --host 127.0.0.1")
    if error.errno == errno.EADDRINUSE:
        free = next((p for p in range(port + 1, min(port + PORT_SEARCH, 65536))
                     if _bind(host, p) is None), None)
        return Problem(f"port {port} is in use", f"try --port {free}" if free else "")
    if error.errno == errno.EACCES:
        return Problem(f"port {port} needs privileges on this machine", "try a port above 1023")
    return Problem(f"cannot listen on {host}:{port}: {error.strerror or error}")
