"""The real stack as processes, for tests: Celery workers, the API under gunicorn, both.

Everything here starts real subprocesses (`celery -A worker.app worker`, `gunicorn
api.wsgi:app`) configured only through `MNISTQ_*` environment variables built from a
`Settings`, waits on conditions (never fixed sleeps) and stops them cleanly: SIGTERM to the
process group, SIGKILL after a grace period.

Use the fixture in a test module:

    from tests.stack import stack  # noqa: F401  (the fixture)

    def test_something(stack):
        requests.get(stack.url + "/readyz")

or build your own (a module-scoped stack, two workers, a worker you kill):

    with running_stack(settings, log_dir, workers=2) as s: ...
    worker = start_worker(settings, "w1", log_dir=tmp_path); worker.kill_pool_process()
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field, fields
from pathlib import Path

import psutil
import pytest
import redis
import requests

from common.redis_keys import WORKERS_KEY
from common.settings import Settings
from tests.support import free_port, wait_for

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent


def settings_env(settings: Settings, extra_env: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment with every field of `settings` as its MNISTQ_* variable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MNISTQ_")}
    for f in fields(settings):
        value = getattr(settings, f.name)
        if value is not None:
            env[f"MNISTQ_{f.name.upper()}"] = str(value)
    env.setdefault("PYTHONUNBUFFERED", "1")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, str(settings.worker_threads))
    env.update(extra_env or {})
    return env


@dataclass
class Process:
    """A subprocess in its own process group, with its output in a log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def children(self) -> list[int]:
        """Direct child pids (e.g. Celery's pool processes)."""
        try:
            return [child.pid for child in psutil.Process(self.pid).children()]
        except psutil.Error:
            return []

    def signal(self, sig: int) -> None:
        """Send `sig` to the main process only (e.g. SIGTERM for a warm shutdown)."""
        if self.alive():
            os.kill(self.pid, sig)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM to the whole group, SIGKILL if it has not exited after `timeout` s."""
        if self.popen.poll() is None:
            _killpg(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                _killpg(self.pid, signal.SIGKILL)
                self.popen.wait()
        _killpg(self.pid, signal.SIGKILL)  # leftovers of the group (pool processes)


def _killpg(pgid: int, sig: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def spawn(name: str, argv: list[str], env: Mapping[str, str], log_path: Path) -> Process:
    """Start `argv` in its own session (so stopping it takes its children too)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log_file:
        popen = subprocess.Popen(
            argv, env=dict(env), cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log_file,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
    return Process(name, popen, log_path)


@dataclass
class Worker(Process):
    """A `celery -A worker.app worker` process and its pool processes."""

    settings: Settings = field(default=None)  # type: ignore[assignment]

    def heartbeating_pids(self) -> set[int]:
        """Pids of this worker's processes that have the model loaded (their heartbeats)."""
        client = redis.Redis.from_url(self.settings.broker_url)
        names = {m.decode() for m in client.zrange(WORKERS_KEY, 0, -1)}
        own = {*self.children(), self.pid}
        return {int(n.rsplit(":", 1)[1]) for n in names} & own

    def pool_pids(self) -> list[int]:
        return [pid for pid in self.children() if pid in self.heartbeating_pids()]

    def kill_pool_process(self, sig: int = signal.SIGKILL) -> int:
        """Kill one pool process (the one that runs tasks) and return its pid."""
        pid = wait_for(self.pool_pids, timeout=30, what=f"{self.name} pool process")[0]
        os.kill(pid, sig)
        return pid


def start_worker(
    settings: Settings,
    name: str,
    concurrency: int = 1,
    extra_env: Mapping[str, str] | None = None,
    log_dir: Path | None = None,
    pool: str = "prefork",
    timeout: float = 60.0,
    app: str = "worker.app",
) -> Worker:
    """Start a Celery worker and wait until each pool process has the model loaded.

    `app` is the Celery app module: `worker.app`, or a test's wrapper of it (faults)."""
    log_dir = log_dir or Path(os.environ.get("TMPDIR", "/tmp"))
    argv = [
        str(BIN / "celery"), "-A", app, "worker", "-n", f"{name}@%h",
        "--concurrency", str(concurrency), "--pool", pool, "--loglevel", "INFO",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]
    base = spawn(name, argv, settings_env(settings, extra_env),
                 log_dir / f"worker-{name}-{free_port()}.log")
    worker = Worker(base.name, base.popen, base.log_path, settings)
    expected = 1 if pool == "solo" else concurrency

    _await_start(worker, lambda: len(worker.heartbeating_pids()) >= expected, timeout)
    return worker


@dataclass
class Api(Process):
    """The API under gunicorn."""

    url: str = ""


def start_api(
    settings: Settings,
    port: int | None = None,
    extra_env: Mapping[str, str] | None = None,
    log_dir: Path | None = None,
    workers: int = 1,
    threads: int = 16,
    timeout: float = 30.0,
) -> Api:
    """Start `gunicorn api.wsgi:app` on 127.0.0.1:`port` and wait until /healthz answers."""
    port = port or free_port()
    log_dir = log_dir or Path(os.environ.get("TMPDIR", "/tmp"))
    argv = [
        str(BIN / "gunicorn"), "api.wsgi:app", "--bind", f"127.0.0.1:{port}",
        "--worker-class", "gthread", "--workers", str(workers), "--threads", str(threads),
        "--timeout", "120", "--graceful-timeout", "5", "--log-level", "warning",
        "--no-control-socket",
    ]
    base = spawn("api", argv, settings_env(settings, extra_env), log_dir / f"api-{port}.log")
    api = Api(base.name, base.popen, base.log_path, f"http://127.0.0.1:{port}")

    _await_start(
        api, lambda: requests.get(api.url + "/healthz", timeout=2).status_code == 200, timeout
    )
    return api


def _await_start(process: Process, ready: Callable[[], bool], timeout: float) -> None:
    """Wait until `ready()`; if the process exits or never gets ready, stop it and fail
    with the tail of its log."""

    def check() -> bool:
        if not process.alive():
            raise RuntimeError(f"{process.name} exited:\n{process.log()[-3000:]}")
        return ready()

    try:
        wait_for(check, timeout=timeout, interval=0.05, what=f"{process.name} ready")
    except Exception:
        process.stop()
        raise RuntimeError(f"{process.name} did not start:\n{process.log()[-3000:]}") from None


@dataclass
class Stack:
    """A running stack: `url` of the API, its `settings`, the processes."""

    url: str
    settings: Settings
    api: Api
    workers: list[Worker]
    headers: dict[str, str] = field(default_factory=dict)

    def ready(self) -> bool:
        return requests.get(self.url + "/readyz", timeout=5).status_code == 200


@contextmanager
def running_stack(
    settings: Settings,
    log_dir: Path,
    workers: int = 1,
    concurrency: int = 1,
    extra_env: Mapping[str, str] | None = None,
    app: str = "worker.app",
) -> Iterator[Stack]:
    """Workers and the API on `settings` (Redis must already run); stopped on exit."""
    with ExitStack() as stop:
        started = []
        for i in range(workers):
            worker = start_worker(settings, f"w{i}", concurrency, extra_env, log_dir, app=app)
            stop.callback(worker.stop)
            started.append(worker)
        api = start_api(settings, extra_env=extra_env, log_dir=log_dir)
        stop.callback(api.stop)
        headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
        yield Stack(api.url, settings, api, started, headers)


@pytest.fixture()
def stack(settings: Settings, tmp_path: Path) -> Iterator[Stack]:
    """Redis (the `settings` fixture's) + one worker + the API; yields a `Stack`."""
    with running_stack(settings, tmp_path / "logs") as running:
        yield running


@contextmanager
def own_stack(base: Path, data_dir: Path, model_path: Path) -> Iterator[Stack]:
    """Its own Redis, one worker and the API, with every folder they write (Redis's data,
    logs, the corrections store) under `base`."""
    from tests.support import RedisServer

    server = RedisServer(base / "redis").start()
    settings = Settings(data_dir=data_dir, model_path=model_path, redis_url=server.url,
                        corrections_dir=base / "corrections")
    try:
        with running_stack(settings, base / "logs") as running:
            yield running
    finally:
        server.stop()


@pytest.fixture(scope="session")
def shared_stack(
    data_dir: Path, small_model_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """One stack (own Redis, one worker, the API) shared by every test that only submits
    jobs and reads them: starting processes costs seconds, jobs are isolated by their ids.
    Do not kill or reconfigure its processes; build your own with `running_stack` for that."""
    with own_stack(tmp_path_factory.mktemp("shared-stack"), data_dir, small_model_path) as running:
        yield running
