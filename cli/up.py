"""`mnistq up`: the whole stack on this machine, started and stopped with one command.

A private redis-server (own port, data under `.mnistq/redis`, append-only) unless
MNISTQ_REDIS_URL is set; the model trained first when missing; N Celery workers; the API
under gunicorn. Each child runs in its own process group (Ctrl-C reaches only us, and we
stop them in order: API, workers, Redis) and dies with us if we are killed (PDEATHSIG).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import redis
import requests

from common.localhost import free_port, redis_server_argv
from common.settings import Settings
from core.model import DigitModel, ModelError

log = logging.getLogger("mnistq.up")

STATE_DIR = Path(".mnistq")
BIN = Path(sys.executable).parent
API_THREADS = 32  # long-polls hold a thread each


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "up", help="start Redis, the workers and the API; Ctrl-C stops them",
        description="Start the whole service locally and print its URL when ready.",
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="Celery worker processes (default: one per core)")
    parser.add_argument("--port", type=int, default=5000, help="API port (default 5000)")
    parser.add_argument("--host", default="127.0.0.1", help="API address (default 127.0.0.1)")
    parser.add_argument("--api-workers", type=int, default=2,
                        help="gunicorn worker processes of the API (default 2)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.workers < 1:
        print("mnistq up: --workers must be at least 1", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    try:
        return _run(args, settings, stop, children)
    finally:
        _stop_all(children)


def _run(args: argparse.Namespace, settings: Settings, stop: threading.Event,
         children: list[tuple[str, subprocess.Popen[bytes]]]) -> int:
    logs = STATE_DIR / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    if not Path(settings.model_path).exists():
        print(f"mnistq up: no model at {settings.model_path}; training one (mnistq train)",
              file=sys.stderr)
        if subprocess.call([sys.executable, "-m", "cli.main", "train"]) != 0:
            print("mnistq up: training failed", file=sys.stderr)
            return 1
    try:  # an old or changed model file: say so here, not in every worker's log
        DigitModel.load(settings.model_path)
    except ModelError as exc:
        print(f"mnistq up: {exc}", file=sys.stderr)
        return 1
    env = dict(os.environ)
    redis_url = settings.redis_url
    if redis_url is None:
        port = free_port()
        children.append(("redis", _start_redis(port, logs)))
        redis_url = f"redis://127.0.0.1:{port}/0"
        with redis.Redis.from_url(redis_url) as client:
            if not _wait(client.ping, 20, stop, children):
                return _failed("redis-server did not start", logs)
    env["MNISTQ_REDIS_URL"] = redis_url
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(settings.worker_threads)
    for i in range(args.workers):
        argv = [str(BIN / "celery"), "-A", "worker.app", "worker", "-n", f"w{i}@%h",
                "--concurrency", str(settings.worker_concurrency), "--loglevel", "INFO",
                "--without-gossip", "--without-mingle", "--without-heartbeat"]
        children.append((f"worker {i}", _spawn(argv, env, logs / f"worker-{i}.log")))
    url = f"http://{args.host}:{args.port}"
    argv = [str(BIN / "gunicorn"), "api.wsgi:app", "--bind", f"{args.host}:{args.port}",
            "--worker-class", "gthread", "--workers", str(args.api_workers),
            "--threads", str(API_THREADS), "--timeout", "120", "--graceful-timeout", "10",
            "--access-logfile", str(logs / "access.log")]
    children.append(("api", _spawn(argv, env, logs / "api.log")))
    probe = url.replace("0.0.0.0", "127.0.0.1")
    if not _wait(lambda: requests.get(probe + "/readyz", timeout=2).ok, 180, stop, children):
        return 130 if stop.is_set() else _failed("the stack did not become ready", logs)
    print(f"mnistq is up: {url}  ({args.workers} workers, Redis {redis_url}, "
          f"logs in {logs}/); Ctrl-C stops it", flush=True)
    while not stop.wait(0.5):
        dead = [name for name, p in children if p.poll() is not None]
        if dead:
            return _failed(f"{', '.join(dead)} exited", logs)
    print("mnistq up: stopping", file=sys.stderr, flush=True)
    return 0


def _failed(message: str, logs: Path) -> int:
    print(f"mnistq up: {message}; see the logs in {logs}/", file=sys.stderr)
    return 1


def _wait(check: Callable[[], object], timeout: float, stop: threading.Event,
          children: list[tuple[str, subprocess.Popen[bytes]]]) -> bool:
    """Poll `check` until true; False on timeout, on Ctrl-C, or when a child died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stop.is_set():
        if any(p.poll() is not None for _, p in children):
            return False
        with contextlib.suppress(Exception):
            if check():
                return True
        stop.wait(0.1)
    return False


def _start_redis(port: int, logs: Path) -> subprocess.Popen[bytes]:
    data = (STATE_DIR / "redis").resolve()
    try:
        argv = redis_server_argv(port, data, (logs / "redis.log").resolve())
    except RuntimeError as exc:
        raise SystemExit(f"mnistq up: {exc}, and MNISTQ_REDIS_URL is not set") from None
    data.mkdir(parents=True, exist_ok=True)
    return _spawn(argv, dict(os.environ), logs / "redis.out")


def _spawn(argv: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """A child in its own process group that gets SIGTERM if we die."""
    with open(log_path, "ab") as out:
        return subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=_die_with_parent)


def _die_with_parent() -> None:
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _stop_all(children: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
    """SIGTERM the API and the workers together (each finishes what it is doing), SIGKILL what
    is left after 20 s, then stop Redis last so that it writes its append-only file."""
    redis_group = [c for c in children if c[0] == "redis"]
    others = [c for c in children if c[0] != "redis"]
    for group in (others, redis_group):
        for _, proc in group:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for name, proc in group:
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in 20 s; killing it", name)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # leftovers of its group, if any
            proc.wait()
