"""Running processes of the stack on this machine (`mnistq up`, tests, benchmarks)."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path


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
