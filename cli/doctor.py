"""`mnistq doctor`: is this machine ready for `mnistq up`? One line per check, each with a fix.

Checks, in order: Python and the key packages, `redis-server` (or the Redis of
MNISTQ_REDIS_URL), the paths in use, the MNIST files (SHA-256), the model (loads, with its
accuracy), the port, the folder `mnistq up` keeps its logs in, and Docker for the container
path (informational). Exit 0 when `mnistq up` would work, 2 otherwise.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cli.preflight import data_dir_problem, model_folder_problem, port_problem
from cli.up import STATE_DIR
from common.paths import DATA_DIR, MODEL_PATH, resolve_path, unwritable_reason
from common.settings import Settings

PACKAGES = ("mnist-queue", "scikit-learn", "numpy", "scipy", "celery", "redis", "flask",
            "gunicorn")
"""The packages whose versions matter when a model or the stack misbehaves."""
COMMAND_TIMEOUT = 5.0
"""Seconds for `redis-server --version`, `docker version` and the like."""


@dataclass(frozen=True)
class Check:
    """One finding: `ok`, `warn` (works, but look), `info`, or `FAIL` (mnistq up would fail)."""

    status: str
    name: str
    detail: str
    fix: str = ""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "doctor", help="check that mnistq up would work here, and say how to fix what would not",
        description="Check Python, packages, redis-server, the MNIST files, the model, the port, "
                    "Docker and the paths in use. Exit 0 when `mnistq up` would work, 2 if not.",
    )
    parser.add_argument("--port", type=int, default=5000, help="the port to check (default 5000)")
    parser.add_argument("--host", default="127.0.0.1", help="the address (default 127.0.0.1)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    failures = 0
    for check in checks(settings, args.host, args.port):
        failures += check.status == "FAIL"
        print(f"{check.status:<5} {check.name:<13} {check.detail}", flush=True)
        if check.fix:
            print(f"{'':<5} {'':<13} fix: {check.fix}", flush=True)
    if failures:
        print(f"mnistq doctor: {failures} problem{'s' if failures > 1 else ''} above would "
              "stop `mnistq up`",
              file=sys.stderr)
        return 2
    print("mnistq doctor: `mnistq up` would work here")
    return 0


def checks(settings: Settings, host: str, port: int) -> Iterator[Check]:
    yield python_check()
    yield packages_check()
    yield redis_check(settings)
    model_from = resolve_path(MODEL_PATH).source
    data_from = resolve_path(DATA_DIR).source
    yield Check("info", "paths", f"model {settings.model_path} ({model_from}); data "
                f"{settings.data_dir} ({data_from}); logs and Redis data of mnistq up in "
                f"{STATE_DIR.resolve()}")
    model_missing = not Path(settings.model_path).exists()
    yield data_check(settings.data_dir, needed=model_missing or data_from == DATA_DIR.variable)
    yield model_check(settings.model_path)
    problem = port_problem(host, port)
    yield (Check("FAIL", "port", problem.what, problem.fix or "stop what holds it")
           if problem else Check("ok", "port", f"{host}:{port} is free"))
    problem = unwritable_reason(STATE_DIR.resolve())
    yield (Check("FAIL", "state folder", problem, "run mnistq up from a folder you can write")
           if problem else Check("ok", "state folder", f"{STATE_DIR.resolve()} can be written"))
    yield docker_check()


def python_check() -> Check:
    """Always ok: pip refuses to install mnist-queue on a Python older than 3.11."""
    return Check("ok", "python", f"{platform.python_version()} at {sys.executable}")


def packages_check() -> Check:
    found, missing = [], []
    for name in PACKAGES:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
    if missing:
        return Check("FAIL", "packages", f"not installed: {', '.join(missing)}",
                     "pip install mnist-queue (it brings them)")
    return Check("ok", "packages", ", ".join(found))


def redis_check(settings: Settings) -> Check:
    if settings.redis_url:
        import redis

        try:
            with redis.Redis.from_url(settings.redis_url, socket_timeout=COMMAND_TIMEOUT) as r:
                version = r.info("server").get("redis_version", "?")
        except redis.RedisError as exc:
            return Check("FAIL", "redis", f"MNISTQ_REDIS_URL does not answer: {exc}",
                         "start that Redis, or unset MNISTQ_REDIS_URL to run a private one")
        return Check("ok", "redis", f"MNISTQ_REDIS_URL answers (Redis {version})")
    binary = shutil.which("redis-server")
    if binary is None:
        return Check("FAIL", "redis-server", "not found on PATH",
                     "apt-get install redis-server (or set MNISTQ_REDIS_URL to a running Redis)")
    found = re.search(r"v=(\S+)", _output([binary, "--version"]))
    return Check("ok", "redis-server", f"{found[1] if found else '(version unknown)'} at {binary}")


def data_check(data_dir: Path, needed: bool) -> Check:
    """The four files verified; a failure only stops `up` when it must train (or the folder
    was named explicitly by MNISTQ_DATA_DIR and is wrong)."""
    from core.data import DataError, verify_data_dir

    status = "FAIL" if needed else "warn"
    problem = data_dir_problem(data_dir)
    if problem:
        return Check(status, "data", problem.what, problem.fix)
    try:
        verify_data_dir(data_dir)
    except DataError as exc:
        return Check(status, "data", str(exc), "run `mnistq data fetch` to download them again")
    return Check("ok", "data", f"the four MNIST files in {data_dir} match their SHA-256")


def model_check(model_path: Path) -> Check:
    from core.model import DigitModel, ModelError

    path = Path(model_path)
    if not path.exists():
        problem = model_folder_problem(path)
        if problem:
            return Check("FAIL", "model", f"no model at {path}, and {problem.what}", problem.fix)
        return Check("warn", "model", f"no model at {path} yet: mnistq up trains one first "
                     "(about 1-2 minutes on 2 cores)",
                     "none needed; `mnistq train` trains it ahead")
    try:
        meta = DigitModel.load(path).metadata
    except ModelError as exc:
        return Check("FAIL", "model", f"{path} is not a usable model: {exc}",
                     "move it away and run `mnistq train`, or set MNISTQ_MODEL_PATH to a model")
    accuracy = meta.get("test_accuracy")
    facts = [f"version {meta['version']}" if meta.get("version") else "",
             f"test accuracy {accuracy:.2%}" if isinstance(accuracy, float) else "",
             f"trained on {meta['training_size']:,} images" if meta.get("training_size") else "",
             f"sha256 {str(meta.get('sha256'))[:12]}"]
    return Check("ok", "model", f"{path} loads: " + ", ".join(f for f in facts if f))


def docker_check() -> Check:
    """Docker is for the container path only (`docker compose up`), never needed by mnistq up."""
    if shutil.which("docker") is None:
        return Check("info", "docker", "not installed; needed only for `docker compose up`",
                     "https://docs.docker.com/engine/install/")
    engine = _output(["docker", "version", "--format", "{{.Server.Version}}"])
    compose = _output(["docker", "compose", "version", "--short"])
    if not engine:
        return Check("info", "docker", "client found, but no Docker Engine answers; needed only "
                     "for `docker compose up`", "start the Docker Engine (systemctl start docker)")
    if not compose:
        return Check("info", "docker", f"Engine {engine}, but no compose plugin; needed only for "
                     "`docker compose up`", "install docker-compose-plugin")
    return Check("info", "docker", f"Engine {engine}, compose {compose}")


def _output(argv: list[str]) -> str:
    """The first line a command prints, or "" when it fails or takes too long."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT,
                   env={**os.environ, "LC_ALL": "C"})
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip().splitlines()[0] if done.returncode == 0 and done.stdout else ""
