"""`mnistq up` when it cannot serve: a bad `--workers`, a child that dies during start-up, and
the parent itself SIGKILLed (no orphans: every child dies with it, PDEATHSIG)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest

from common.settings import Settings
from tests.stack import settings_env
from tests.support import free_port, wait_for

pytestmark = pytest.mark.slow


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


def up(tmp_path: Path, settings: Settings, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "cli.main", "up", *args], cwd=tmp_path,
                            env=settings_env(settings), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_up_refuses_zero_workers_and_starts_nothing(
    data_dir: Path, small_model_path: Path, tmp_path: Path
) -> None:
    process = up(tmp_path, Settings(data_dir=data_dir, model_path=small_model_path),
                 "--workers", "0", "--port", str(free_port()))
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "--workers" in err and "must be at least 1" in err
    assert not (tmp_path / ".mnistq").exists()  # not even Redis was started


def test_up_fails_with_status_1_and_no_orphans_when_a_child_dies_starting(
    data_dir: Path, small_model_path: Path, tmp_path: Path
) -> None:
    # Redis and the worker start; gunicorn, given a bad option through its own variable,
    # exits at once: `mnistq up` must fail and take down what it had started
    settings = Settings(data_dir=data_dir, model_path=small_model_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "up", "--workers", "1", "--port", str(free_port())],
        cwd=tmp_path, env={**settings_env(settings), "GUNICORN_CMD_ARGS": "--workers=many"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: set[int] = set()

    def watch() -> bool:  # every process it started, while it runs
        if process.poll() is not None:
            return True
        with contextlib.suppress(psutil.Error):
            seen.update(descendants(process.pid))
        return False

    wait_for(watch, timeout=180, interval=0.05, what="mnistq up to give up")
    out, err = process.stdout.read(), process.stderr.read()
    assert process.returncode == 1, err
    assert "mnistq is up" not in out
    assert seen and (tmp_path / ".mnistq" / "redis").is_dir()  # Redis had been started...
    wait_for(lambda: not any(alive(pid) for pid in seen), timeout=30,
             what="no process left behind")  # ...and is gone, with everything else


def test_no_orphans_when_up_itself_is_sigkilled(
    data_dir: Path, small_model_path: Path, tmp_path: Path
) -> None:
    process = up(tmp_path, Settings(data_dir=data_dir, model_path=small_model_path),
                 "--workers", "1", "--api-workers", "1", "--port", str(free_port()))
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True).start()
    try:
        wait_for(lambda: any("mnistq is up" in line for line in lines) or process.poll(),
                 timeout=180, what="mnistq up to print its URL")
        assert process.poll() is None, process.stderr.read()
        children = descendants(process.pid)
        assert len(children) >= 4  # redis, a worker and its pool process, gunicorn
    finally:
        process.send_signal(signal.SIGKILL)  # no handler runs: only PDEATHSIG can stop them
        process.wait(timeout=30)
    wait_for(lambda: not any(alive(pid) for pid in children), timeout=60,
             what="every child of the killed mnistq up to exit")
