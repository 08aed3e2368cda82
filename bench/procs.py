"""Processes the benchmarks start and measure: our stack (`mnistq up`), the baseline server.

Every process listens on 127.0.0.1 only, runs in its own session, and is stopped by the
context manager that started it (SIGTERM, then SIGKILL of its group after a grace period),
so a benchmark always ends by itself and leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import redis
import requests

from common.localhost import free_port, wait_for
from common.settings import PROJECT_ROOT

BIN = Path(sys.executable).parent
_UP_LINE = re.compile(r"mnistq is up: (\S+) .*Redis (\S+),")


def children(pid: int) -> list[int]:
    """All descendants of `pid` (empty once it has gone)."""
    try:
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def memory_kib(pid: int) -> dict[str, int]:
    """Resident memory of one process: RSS, peak RSS (HWM) and PSS (shared pages split)."""
    values: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                values["Pss"] = int(line.split()[1])
    return {"rss_kib": values.get("VmRSS", 0), "peak_rss_kib": values.get("VmHWM", 0),
            "pss_kib": values.get("Pss", 0)}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop(popen: subprocess.Popen, grace: float = 30.0) -> None:
    """SIGTERM the process (it stops its own children), SIGKILL its group if it lingers."""
    if popen.poll() is None:
        popen.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(grace)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(popen.pid, signal.SIGKILL)
    popen.wait()


@dataclass
class Stack:
    """A running `mnistq up`: its URL, its private Redis and its processes."""

    url: str
    redis_url: str
    popen: subprocess.Popen
    workers: int
    log_dir: Path
    output: list[str] = field(default_factory=list)

    def pids(self, marker: str) -> list[int]:
        """Descendants whose command line contains `marker` (e.g. 'celery', 'gunicorn')."""
        return [p for p in children(self.popen.pid) if marker in cmdline(p)]

    def worker_pool_pids(self) -> list[int]:
        """The Celery pool processes, the ones holding the model (children of a celery)."""
        celery = set(self.pids("celery"))
        return [p for p in celery if any(p in children(c) for c in celery)]

    def redis_pids(self) -> list[int]:
        return self.pids("redis-server")

    def roles(self) -> dict[str, list[int]]:
        """The processes that do a job's work, by role."""
        pool = self.worker_pool_pids()
        return {"workers": pool, "worker_main": [p for p in self.pids("celery") if p not in pool],
                "api": self.api_worker_pids(), "redis": self.redis_pids()}

    def api_worker_pids(self) -> list[int]:
        """gunicorn's worker processes (children of the gunicorn arbiter)."""
        gunicorn = set(self.pids("gunicorn"))
        return [p for p in gunicorn if any(p in children(g) for g in gunicorn)]


@contextlib.contextmanager
def mnistq_up(workers: int, model_path: Path, chunk_size: int | None = None,
              api_workers: int | None = None, env: dict[str, str] | None = None,
              timeout: float = 180.0) -> Iterator[Stack]:
    """`mnistq up --workers N` on a free port with its own Redis, in a scratch directory."""
    scratch = Path(tempfile.mkdtemp(prefix="mqbench-"))
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("MNISTQ_")}
    child_env.update(MNISTQ_MODEL_PATH=str(model_path), PYTHONUNBUFFERED="1",
                     MNISTQ_LOG_LEVEL="WARNING")
    if chunk_size:
        child_env["MNISTQ_CHUNK_SIZE"] = str(chunk_size)
    child_env.update(env or {})
    argv = [str(BIN / "mnistq"), "up", "--workers", str(workers), "--port", str(free_port())]
    if api_workers:
        argv += ["--api-workers", str(api_workers)]
    popen = subprocess.Popen(argv, cwd=scratch, env=child_env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             start_new_session=True, text=True)
    stack = Stack("", "", popen, workers, scratch / ".mnistq" / "logs")

    def read() -> None:
        for line in popen.stdout:  # type: ignore[union-attr]
            stack.output.append(line)
            match = _UP_LINE.search(line)
            if match:
                stack.url, stack.redis_url = match.group(1), match.group(2)

    threading.Thread(target=read, daemon=True).start()
    try:
        wait_for(lambda: stack.url, timeout, 0.05, "mnistq up", lambda: popen.poll() is None)
        client = redis.Redis.from_url(stack.redis_url)
        wait_for(lambda: client.zcard("mnistq:workers") >= workers, 60, 0.05, "all workers",
                 lambda: popen.poll() is None)
        yield stack
    except Exception:
        print("".join(stack.output[-40:]), file=sys.stderr)
        raise
    finally:
        stop(popen)
        shutil.rmtree(scratch, ignore_errors=True)


@dataclass
class Baseline:
    url: str
    popen: subprocess.Popen

    def worker_pids(self) -> list[int]:
        return children(self.popen.pid)


@contextlib.contextmanager
def baseline_server(model_path: Path, workers: int = 2) -> Iterator[Baseline]:
    """The seed's app under gunicorn with `workers` sync workers, on a free port."""
    port = free_port()
    env = dict(os.environ, BASELINE_MODEL=str(model_path), OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1")
    argv = [str(BIN / "gunicorn"), "bench.baseline.wsgi:app", "--bind", f"127.0.0.1:{port}",
            "--workers", str(workers), "--worker-class", "sync", "--timeout", "300",
            "--log-level", "warning", "--no-control-socket"]
    popen = subprocess.Popen(argv, cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL,
                             start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: requests.get(url + "/healthz", timeout=2).ok, 120, 0.05,
                 "baseline server", lambda: popen.poll() is None)
        # every sync worker must have loaded the model before anything is timed
        wait_for(lambda: len(children(popen.pid)) >= workers, 60, 0.05, "baseline workers")
        yield Baseline(url, popen)
    finally:
        stop(popen)
