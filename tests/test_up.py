"""`mnistq up` starts the whole stack, serves a job, and stops cleanly with no orphans."""

from __future__ import annotations

import os
import re
import signal
import socket
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


def up(tmp_path: Path, settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """`mnistq up` run to its end (each case here fails before serving)."""
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "up", "--workers", "1", *args], cwd=tmp_path,
        env=settings_env(settings), capture_output=True, text=True, timeout=120,
    )


def test_up_on_a_busy_port_exits_2_at_once_with_a_port_to_try(
    data_dir: Path, small_model_path: Path, tmp_path: Path
) -> None:
    settings = Settings(data_dir=data_dir, model_path=small_model_path)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        done = up(tmp_path, settings, "--port", str(port))
    assert done.returncode == 2 and done.stdout == ""
    assert re.fullmatch(rf"mnistq up: port {port} is in use \(try --port \d+\)\n", done.stderr)
    assert not (tmp_path / ".mnistq").exists()  # nothing was started


def test_up_names_a_child_that_dies_during_start_up_with_its_log(
    data_dir: Path, small_model_path: Path, tmp_path: Path
) -> None:
    manifest = tmp_path / ".mnistq" / "redis" / "appendonlydir" / "appendonly.aof.manifest"
    manifest.parent.mkdir(parents=True)
    manifest.write_text("not a manifest\n")  # Redis refuses to start on a corrupt AOF
    settings = Settings(data_dir=data_dir, model_path=small_model_path)
    done = up(tmp_path, settings, "--port", str(free_port()))
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[0].startswith(f"mnistq up: model {small_model_path} (MNISTQ_MODEL_PATH), "
                               f"data {data_dir} (MNISTQ_DATA_DIR)")
    assert re.search(r"^mnistq up: redis exited with code \d+; the end of .*redis\.log:$",
                     done.stderr, re.MULTILINE)
    assert "Invalid AOF manifest file format" in done.stderr  # the log's last lines


def test_up_with_a_file_that_is_not_a_model_exits_2(
    data_dir: Path, tmp_path: Path
) -> None:
    model = tmp_path / "mnist_svc.joblib"
    model.write_text("not a model")
    done = up(tmp_path, Settings(data_dir=data_dir, model_path=model), "--port",
              str(free_port()))
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1].startswith(f"mnistq up: {model} is not a usable model: ")
    assert not (tmp_path / ".mnistq" / "redis").exists()  # nothing was started


def test_up_without_a_model_or_a_data_folder_exits_2_before_training(tmp_path: Path) -> None:
    model = tmp_path / "user" / "models" / "mnist_svc.joblib"
    settings = Settings(data_dir=tmp_path / "nope", model_path=model)
    done = up(tmp_path, settings, "--port", str(free_port()))
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        f"mnistq up: no model at {model}, and the data folder {tmp_path / 'nope'} does not "
        "exist (set MNISTQ_DATA_DIR to the folder with the four MNIST files, or run "
        "`mnistq data fetch`)")
    assert not model.parent.exists()  # nothing half-written


def test_up_with_a_model_folder_it_cannot_create_exits_2_before_training(
    data_dir: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.write_text("a file where the user's folders should be")
    model = home / ".local" / "share" / "mnist-queue" / "models" / "mnist_svc.joblib"
    done = up(tmp_path, Settings(data_dir=data_dir, model_path=model), "--port",
              str(free_port()))
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        f"mnistq up: no model at {model}, and cannot create {model.parent}: {home} is not a "
        "folder (set MNISTQ_MODEL_PATH to a file in a folder you can write)")
