"""Running processes of the stack on this machine (`mnistq up`, tests, benchmarks)."""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_server_argv(
    port: int, data_dir: Path, logfile: Path, appendonly: bool = True
) -> list[str]:
    """The command of a private `redis-server` on 127.0.0.1:`port`, its data in `data_dir`
    (append-only persistence unless `appendonly` is False, never RDB snapshots)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    return [
        binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir),
        "--appendonly", "yes" if appendonly else "no", "--appendfsync", "everysec",
        "--save", "", "--logfile", str(logfile),
    ]


def wait_for(
    condition: Callable[[], T], timeout: float = 30.0, interval: float = 0.02, what: str = "",
    alive: Callable[[], bool] = lambda: True,
) -> T:
    """Poll `condition` until it returns something truthy, and return that.

    TimeoutError after `timeout` s; RuntimeError as soon as `alive()` is False (the process
    being waited on has exited, so waiting longer cannot help). Exceptions of `condition`
    count as "not yet": a process that is starting refuses connections.
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"{what or condition}: the process exited")
        try:
            value = condition()
        except Exception as exc:
            last_error = exc
        else:
            if value:
                return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what or condition}: {last_error}")
