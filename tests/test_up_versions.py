"""`mnistq up` with model versions: it serves the active one (importing a pre-versions model
file instead of training), and `mnistq models activate` from another shell switches it."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from common.settings import Settings
from core import versions
from tests.conftest import IMAGES_TEST
from tests.stack import settings_env
from tests.support import free_port, wait_for

pytestmark = pytest.mark.slow


def test_up_imports_an_old_model_file_then_switches_on_activate(
    data_dir: Path, small_model_path: Path, two_versions: tuple[Path, str, str],
    tmp_path: Path,
) -> None:
    source, a, b = two_versions
    folder = tmp_path / "models"
    shutil.copytree(source, folder)  # versions, none active
    shutil.copy(small_model_path, folder / "mnist_svc.joblib")  # what train wrote before
    shutil.copy(small_model_path.with_suffix(".json"), folder / "mnist_svc.json")
    env = settings_env(Settings(data_dir=data_dir, model_dir=folder))
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "up", "--workers", "1", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True).start()
    try:
        up = wait_for(lambda: next((line for line in lines if "mnistq is up" in line), None)
                      or process.poll(), timeout=120, what="mnistq up to print its URL")
        assert process.poll() is None, process.stderr.read()
        redis_url = re.search(r"Redis (\S+),", up).group(1)
        imported = versions.active_version(folder)
        assert imported is not None and imported not in (a, b)
        url = f"http://127.0.0.1:{port}"
        image = (IMAGES_TEST / "digit7_test0.png").read_bytes()

        def read() -> dict:
            return requests.post(url + "/api/v1/jobs", params={"wait": 30},
                                 files=[("files", ("7.png", image))], timeout=40).json()

        assert read()["results"][0]["model"] == imported
        switched = subprocess.run(
            [sys.executable, "-m", "cli.main", "models", "activate", b, "--wait", "60"],
            env={**env, "MNISTQ_REDIS_URL": redis_url}, capture_output=True, text=True,
            timeout=120)
        assert switched.returncode == 0, switched.stderr
        assert "all 1 workers serve" in switched.stderr
        job = read()
        assert job["results"][0]["model"] == b and job["models"] == [b]
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
    assert code == 0, process.stderr.read()
    assert not list(folder.glob(".new-*"))  # no staging folder left behind
