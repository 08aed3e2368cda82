"""`mnistq up`: the whole stack on this machine, started and stopped with one command.

A private redis-server (own port, data under `.mnistq/redis`, append-only) unless
MNISTQ_REDIS_URL is set; the model trained first when missing; N Celery workers; the API
under gunicorn. Each child runs in its own process group (Ctrl-C reaches only us, and we
stop them in order: API, workers, Redis) and dies with us if we are killed (PDEATHSIG).

Before starting anything it checks what would make the start fail (the port, the model, the
data and model folders) and exits with one line and code 2. Its first line says which paths
it uses; a child that dies during start-up is named with the last lines of its log.
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
from dataclasses import dataclass
from pathlib import Path

from cli.preflight import data_dir_problem, model_folder_problem, port_problem
from common.localhost import free_port, redis_server_argv
from common.paths import DATA_DIR, MODEL_DIR, MODEL_PATH, resolve_path
from common.settings import Settings

log = logging.getLogger("mnistq.up")

STATE_DIR = Path(".mnistq")
BIN = Path(sys.executable).parent
API_THREADS = 32  # long-polls hold a thread each
API_MALLOC = {"MALLOC_ARENA_MAX": "2", "MALLOC_MMAP_THRESHOLD_": "131072"}
"""glibc's allocator for the API processes (Dockerfile.api sets the same). With 32 threads,
glibc keeps up to 16 heaps, and its adaptive mmap threshold moves multi-megabyte upload and
result buffers into them. Two heaps and a fixed 128 KiB threshold (big buffers go back to the
system when freed) held the API at 92 MiB instead of 159-174 MiB over a 1,000,000-image
soak, at the same throughput (docs/performance.md "Memory over a soak")."""
LOG_TAIL = 12
"""Lines of a dead child's log shown when it dies."""


class StartError(Exception):
    """The start cannot go on: one line says why. Exit 2 for something to fix first (the
    default), 1 when a step failed and said why above (training)."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Child:
    """A process of the stack, with the log that says why it died."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path


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
    parser.add_argument("--train-limit", type=int, metavar="N",
                        help="when there is no model, train a quick one on the first N "
                             "training images instead of all 60,000 (less accurate)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    for option, value in (("--workers", args.workers), ("--train-limit", args.train_limit)):
        if value is not None and value < 1:
            print(f"mnistq up: {option} must be at least 1", file=sys.stderr)
            return 2
    problem = port_problem(args.host, args.port)  # first: a busy port fails at once
    if problem:
        print(f"mnistq up: {problem}", file=sys.stderr)
        return 2
    print(f"mnistq up: {paths_line(settings)}", file=sys.stderr, flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    children: list[Child] = []
    try:
        return _run(args, settings, stop, children)
    except StartError as exc:
        print(f"mnistq up: {exc}", file=sys.stderr)
        return exc.code
    finally:
        _stop_all(children)


def paths_line(settings: Settings) -> str:
    """The paths in use and where each came from (variable, checkout, user data directory)."""
    data_from = resolve_path(DATA_DIR).source
    state = "logs" if settings.redis_url else "logs and Redis data"
    if settings.model_path is not None:
        model = f"model {settings.model_path} ({resolve_path(MODEL_PATH).source})"
    else:
        model = f"model versions in {settings.model_dir} ({resolve_path(MODEL_DIR).source})"
    return (f"{model}, data {settings.data_dir} ({data_from}), {state} in "
            f"{STATE_DIR.resolve()}/")


def ensure_model(settings: Settings, train_limit: int | None) -> None:
    """Check the model loads, or train one when there is none; StartError says what to fix."""
    from core.model import DigitModel, ModelError  # numpy & co. only when needed

    if settings.model_path is None:
        return _ensure_active_version(settings, train_limit)
    path = Path(settings.model_path)
    if path.exists():
        try:
            DigitModel.load(path)
        except ModelError as exc:
            raise StartError(f"{path} is not a usable model: {exc} (move it away to train a "
                             "new one, or set MNISTQ_MODEL_PATH)") from None
        return
    problem = data_dir_problem(settings.data_dir) or model_folder_problem(path)
    if problem:
        raise StartError(f"no model at {path}, and {problem}")
    print(f"mnistq up: no model at {path}; training one (mnistq train)", file=sys.stderr)
    _train(train_limit)


LEGACY_MODEL_FILE = "mnist_svc.joblib"
"""The single model file `mnistq train` wrote into the model folder before versions."""


def _ensure_active_version(settings: Settings, train_limit: int | None) -> None:
    """The active version loads (checksum, smoke digits), or, with none, train the first."""
    from core.versions import VersionError, active_version, load_version

    try:
        version = active_version(settings.model_dir)
        if version is not None:
            load_version(settings.model_dir, version)
            return
    except VersionError as exc:
        raise StartError(f"the active model version is not usable: {exc} (activate another "
                         "with `mnistq models activate`, or train one)") from None
    legacy = settings.model_dir / LEGACY_MODEL_FILE
    if legacy.is_file():  # a model trained before versions existed: serve it, no retraining
        from cli.versions_cmds import import_file

        try:
            name = import_file(legacy, settings)
        except Exception as exc:
            raise StartError(f"cannot import {legacy} as the first model version: {exc} "
                             "(move it away to train a new one)") from None
        print(f"mnistq up: {legacy} imported as model version {name}, now active",
              file=sys.stderr)
        return
    problem = data_dir_problem(settings.data_dir) or model_folder_problem(
        settings.model_dir / "version")
    if problem:
        raise StartError(f"no active model version in {settings.model_dir}, and {problem}")
    print(f"mnistq up: no active model version in {settings.model_dir}; training one "
          "(mnistq train)", file=sys.stderr)
    _train(train_limit)


def _train(train_limit: int | None) -> None:
    argv = [sys.executable, "-m", "cli.main", "train"]
    if train_limit:
        argv += ["--limit", str(train_limit)]
    code = subprocess.call(argv)
    if code != 0:
        raise StartError("training failed (see above)", code=2 if code == 2 else 1)


def _run(args: argparse.Namespace, settings: Settings, stop: threading.Event,
         children: list[Child]) -> int:
    import redis  # here, not at the top: a busy port is reported before these load (0.3 s)
    import requests

    logs = STATE_DIR / "logs"
    try:
        logs.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StartError(f"cannot create {logs.resolve()}: {exc.strerror or exc} "
                         "(run mnistq up from a folder you can write)") from None
    ensure_model(settings, args.train_limit)
    env = dict(os.environ)
    redis_url = settings.redis_url
    if redis_url is None:
        port = free_port()
        children.append(_start_redis(port, logs))
        redis_url = f"redis://127.0.0.1:{port}/0"
        with redis.Redis.from_url(redis_url) as client:
            if not _wait(client.ping, 20, stop, children):
                return 130 if stop.is_set() else _failed("redis-server did not start",
                                                         logs, children)
    env["MNISTQ_REDIS_URL"] = redis_url
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(settings.worker_threads)
    for i in range(args.workers):
        argv = [str(BIN / "celery"), "-A", "worker.app", "worker", "-n", f"w{i}@%h",
                "--concurrency", str(settings.worker_concurrency), "--loglevel", "INFO",
                "--without-gossip", "--without-mingle", "--without-heartbeat"]
        children.append(_spawn(f"worker {i}", argv, env, logs / f"worker-{i}.log"))
    url = f"http://{args.host}:{args.port}"
    argv = [str(BIN / "gunicorn"), "api.wsgi:app", "--bind", f"{args.host}:{args.port}",
            "--worker-class", "gthread", "--workers", str(args.api_workers),
            "--threads", str(API_THREADS), "--timeout", "120", "--graceful-timeout", "10",
            "--access-logfile", str(logs / "access.log"), "--no-control-socket"]
    children.append(_spawn("api", argv, {**API_MALLOC, **env}, logs / "api.log"))
    probe = url.replace("0.0.0.0", "127.0.0.1")
    if not _wait(lambda: requests.get(probe + "/readyz", timeout=2).ok, 180, stop, children):
        return 130 if stop.is_set() else _failed("the stack did not become ready", logs,
                                                 children)
    print(f"mnistq is up: {url}  ({args.workers} workers, Redis {redis_url}, "
          f"logs in {logs}/); Ctrl-C stops it", flush=True)
    while not stop.wait(0.5):
        if any(c.process.poll() is not None for c in children):
            return _failed("a process of the stack exited", logs, children)
    print("mnistq up: stopping", file=sys.stderr, flush=True)
    return 0


def _failed(message: str, logs: Path, children: list[Child]) -> int:
    """Say what failed: each dead child by name with the end of its log, else `message`."""
    dead = [c for c in children if c.process.poll() is not None]
    for child in dead:
        print(f"mnistq up: {child.name} exited with code {child.process.returncode}; "
              f"the end of {child.log}:", file=sys.stderr)
        for line in tail(child.log, LOG_TAIL):
            print(f"    {line}", file=sys.stderr)
    if not dead:
        print(f"mnistq up: {message}; see the logs in {logs}/", file=sys.stderr)
    return 1


def tail(path: Path, lines: int) -> list[str]:
    """The last `lines` non-empty lines of a log (none if it cannot be read)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if line.strip()][-lines:]


def _wait(check: Callable[[], object], timeout: float, stop: threading.Event,
          children: list[Child]) -> bool:
    """Poll `check` until true; False on timeout, on Ctrl-C, or when a child died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stop.is_set():
        if any(c.process.poll() is not None for c in children):
            return False
        with contextlib.suppress(Exception):
            if check():
                return True
        stop.wait(0.1)
    return False


def _start_redis(port: int, logs: Path) -> Child:
    data = (STATE_DIR / "redis").resolve()
    log = (logs / "redis.log").resolve()
    try:
        argv = redis_server_argv(port, data, log)
    except RuntimeError as exc:
        raise StartError(f"{exc}, and MNISTQ_REDIS_URL is not set") from None
    data.mkdir(parents=True, exist_ok=True)
    # Its output (errors before it opens its log file) appended to that same log file.
    return _spawn("redis", argv, dict(os.environ), log)


def _spawn(name: str, argv: list[str], env: dict[str, str], log_path: Path) -> Child:
    """A child in its own process group that gets SIGTERM if we die."""
    with open(log_path, "ab") as out:
        process = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True,
                                   preexec_fn=_die_with_parent)
    return Child(name, process, log_path)


def _die_with_parent() -> None:
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _stop_all(children: list[Child]) -> None:
    """SIGTERM the API and the workers together (each finishes what it is doing), SIGKILL what
    is left after 20 s, then stop Redis last so that it writes its append-only file."""
    redis_group = [c for c in children if c.name == "redis"]
    others = [c for c in children if c.name != "redis"]
    for group in (others, redis_group):
        for child in group:
            if child.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for child in group:
            try:
                child.process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in 20 s; killing it", child.name)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.process.pid, signal.SIGKILL)  # leftovers of its group, if any
            child.process.wait()
