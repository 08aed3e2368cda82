"""`mnistq up` starts the whole stack, serves a job, and stops cleanly with no orphans."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest
import requests

from common.settings import Settings
from tests.conftest import IMAGES_TEST
from tests.stack import settings_env
from tests.support import free_port, wait_for

pytestmark = pytest.mark.slow


def descendants(pid: int) -> set[int]:
    """Every process below `pid` (children live in their own sessions)."""
    return {child.pid for child in psutil.Process(pid).children(recursive=True)}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text(errors="replace")
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_up_serves_and_stops_cleanly(data_dir: Path, small_model_path: Path,
                                     tmp_path: Path) -> None:
    settings = Settings(data_dir=data_dir, model_path=small_model_path)  # no Redis URL
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "up", "--workers", "1", "--port", str(port)],
        cwd=tmp_path, env=settings_env(settings), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    try:
        wait_for(lambda: any("mnistq is up" in line for line in lines) or process.poll(),
                 timeout=120, what="mnistq up to print its URL")
        assert process.poll() is None, process.stderr.read()
        url = f"http://127.0.0.1:{port}"
        assert url in lines[0]
        assert requests.get(url + "/readyz", timeout=5).status_code == 200
        image = (IMAGES_TEST / "digit7_test0.png").read_bytes()
        job = requests.post(url + "/api/v1/jobs", params={"wait": 30},
                            files=[("files", ("7.png", image))], timeout=40).json()
        assert job["status"] == "succeeded" and job["results"][0]["prediction"] == 7
        children = descendants(process.pid)
        assert len(children) >= 4  # redis, a worker and its pool process, gunicorn
        assert (tmp_path / ".mnistq" / "redis").is_dir()  # its private, append-only Redis
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
    assert code == 0, process.stderr.read()
    wait_for(lambda: not any(alive(pid) for pid in children), timeout=10,
             what="no process left behind")
    assert any((tmp_path / ".mnistq" / "redis").rglob("*.aof")), "append-only file"


def test_up_refuses_a_model_of_an_older_format_clearly(
    data_dir: Path, small_model_path: Path, tmp_path: Path
) -> None:
    """Someone keeps the models/mnist_svc.joblib of a previous version: one clear line."""
    import json
    import shutil

    old = tmp_path / "models" / "mnist_svc.joblib"
    old.parent.mkdir()
    shutil.copy(small_model_path, old)
    metadata = json.loads(small_model_path.with_suffix(".json").read_text())
    del metadata["format"]
    old.with_suffix(".json").write_text(json.dumps(metadata))
    settings = Settings(data_dir=data_dir, model_path=old)
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "up", "--workers", "1", "--port", str(free_port())],
        cwd=tmp_path, env=settings_env(settings), capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 1
    assert "model format 1" in done.stderr and "retrain it with `mnistq train`" in done.stderr
    assert "Traceback" not in done.stderr
