"""Real processes for tests: a private redis-server; waiting on conditions, not sleeping."""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import redis
from PIL import Image

from common.localhost import free_port, redis_server_argv, wait_for

__all__ = ["RedisServer", "alive", "descendants", "encode", "free_port", "overlap", "wait_for"]


def encode(array_or_image: np.ndarray | Image.Image, fmt: str = "PNG", **options: Any) -> bytes:
    """An image file's bytes: a uint8 array or a Pillow image saved as `fmt`."""
    image = array_or_image
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def overlap(a: tuple, b: tuple) -> float:
    """Intersection over union of two (x, y, width, height) boxes."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def descendants(pid: int) -> set[int]:
    """Every process below `pid` (children live in their own sessions)."""
    return {child.pid for child in psutil.Process(pid).children(recursive=True)}


def alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text(errors="replace")
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class RedisServer:
    """A private `redis-server` on a free port with its own data directory."""

    def __init__(self, data_dir: Path, appendonly: bool = False, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.appendonly = appendonly
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)

    def start(self) -> RedisServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            redis_server_argv(self.port, self.data_dir, self.data_dir / "redis.log",
                              self.appendonly),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: self.client().ping(), timeout=20, what=f"redis-server on {self.port}")
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None
