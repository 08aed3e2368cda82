"""The wheel is the product: built, installed into a fresh venv, run from an empty folder.

As a new user would: `pip install` the built wheel into a new virtual environment (no system
site-packages, no checkout on the path), then, from an empty working folder with only
MNISTQ_DATA_DIR set and HOME pointing at a temporary folder, `mnistq up` trains into the user
data directory and serves the page and the API, and `mnistq submit` reads a folder of images.
The installed package is never written to. The wheel is built and installed once per module
(pip's cache keeps the install to a minute or less); the model is a quick one (--train-limit).
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.conftest import IMAGES_TEST, ROOT
from tests.support import free_port, wait_for

pytestmark = pytest.mark.slow

TRAIN_LIMIT = "3000"
"""Training images of the model `mnistq up` trains here: seconds, ~95% accurate."""
NEVER_SHIPPED = re.compile(
    r"^(tests|bench|images_test|models|data|docs|\.mnistq)/|\.(joblib|gz|npz|npy|pkl|png)$"
)
"""Files of the checkout that must not be in the wheel: tests, benchmarks, data, models."""


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    @property
    def site_packages(self) -> Path:
        return next((self.venv / "lib").glob("python3*/site-packages"))

    def pip(self, *args: str) -> subprocess.CompletedProcess[str]:
        """This test's pip driving the venv's interpreter (the venv itself has no pip)."""
        return subprocess.run(
            [sys.executable, "-m", "pip", "--python", str(self.bin / "python"), *args],
            capture_output=True, text=True, check=True, timeout=900,
        )


def copy_sources(target: Path) -> Path:
    """What the build needs (pyproject, README, the packages), away from build/ leftovers."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    target.mkdir()
    for name in ("pyproject.toml", pyproject["project"]["readme"]):
        shutil.copy2(ROOT / name, target / name)
    for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]:
        package = pattern.rstrip("*")
        shutil.copytree(ROOT / package, target / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("wheel")
    source = copy_sources(base / "source")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w",
                    str(base / "dist"), str(source)], check=True, timeout=600)
    (wheel,) = (base / "dist").glob("mnist_queue-*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    result = Installed(wheel, venv)
    result.pip("install", "--quiet", str(wheel))
    return result


def user_env(installed: Installed, home: Path, data_dir: Path) -> dict[str, str]:
    """A user's shell: the venv first on PATH, only MNISTQ_DATA_DIR set, HOME elsewhere."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MNISTQ_", "XDG_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(HOME=str(home), MNISTQ_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1",
               PATH=f"{installed.bin}{os.pathsep}{env.get('PATH', '')}")
    return env


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder below `folder` with its size and modification time."""
    return {str(p.relative_to(folder)): (p.lstat().st_size, p.lstat().st_mtime_ns)
            for p in folder.rglob("*")}


class Lines:
    """The lines a process writes to one of its pipes, collected by a thread as they come."""

    def __init__(self, pipe: io.TextIOBase) -> None:
        self.lines: list[str] = []
        self.thread = threading.Thread(target=lambda: self.lines.extend(pipe), daemon=True)
        self.thread.start()

    def text(self) -> str:
        return "".join(self.lines)


@pytest.fixture()
def user(installed: Installed, data_dir: Path, tmp_path: Path) -> Iterator[dict[str, Path]]:
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()  # the empty folder the user runs mnistq from
    yield {"home": home, "work": work}


def test_the_installed_wheel_trains_serves_and_reads_from_an_empty_folder(
    installed: Installed, user: dict[str, Path], data_dir: Path
) -> None:
    env = user_env(installed, user["home"], data_dir)
    before = snapshot(installed.site_packages)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    process = subprocess.Popen(
        [str(installed.bin / "mnistq"), "up", "--workers", "1", "--port", str(port),
         "--train-limit", TRAIN_LIMIT],
        cwd=user["work"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    out, err = Lines(process.stdout), Lines(process.stderr)
    try:
        wait_for(lambda: any("mnistq is up" in line for line in out.lines), timeout=600,
                 interval=0.2, what="mnistq up to print its URL",
                 alive=lambda: process.poll() is None)
        print(f"from an empty folder to ready, training included: "
              f"{time.monotonic() - started:.1f} s")
        user_dir = user["home"] / ".local" / "share" / "mnist-queue"
        model = user_dir / "models" / "mnist_svc.joblib"
        assert err.lines[0] == (f"mnistq up: model {model} (user data directory), data "
                                f"{data_dir} (MNISTQ_DATA_DIR), logs and Redis data in "
                                f"{user['work'] / '.mnistq'}/\n")
        assert model.is_file() and model.with_suffix(".json").is_file()

        page = requests.get(url + "/", timeout=10)
        assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
        assets = re.findall(r'"(/assets/[0-9a-f]+/[\w.-]+)"', page.text)
        assert len(assets) >= 3
        for asset in assets:  # the page's scripts and styles, from the installed package
            assert requests.get(url + asset, timeout=10).status_code == 200, asset
        served = requests.get(url + "/api/v1/model", timeout=10).json()
        assert served["training_size"] == int(TRAIN_LIMIT)

        shutil.copytree(IMAGES_TEST, user["work"] / "images_test")  # the user's own images
        done = subprocess.run(
            [str(installed.bin / "mnistq"), "submit", "images_test", "--url", url, "--wait",
             "--format", "csv"], cwd=user["work"], env=env, capture_output=True, text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        rows = list(csv.DictReader(io.StringIO(done.stdout)))
        labels = {r["filename"]: r["label"] for r in csv.DictReader(
            (IMAGES_TEST / "labels.csv").open())}
        assert [r["filename"] for r in rows] == sorted(labels)
        assert sum(r["prediction"] == labels[r["filename"]] for r in rows) >= 7
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
    assert code == 0, err.text()

    files = installed.pip("show", "-f", "mnist-queue").stdout.split("Files:\n", 1)[1]
    files = [line.strip() for line in files.splitlines() if line.strip()]
    assert "api/templates/index.html" in files and "api/static/app.js" in files
    assert [f for f in files if NEVER_SHIPPED.search(f)] == []
    assert snapshot(installed.site_packages) == before  # nothing written into the install


def test_the_installed_wheel_runs_benchmarks_from_a_checkout_only(
    installed: Installed, user: dict[str, Path], data_dir: Path
) -> None:
    done = subprocess.run([str(installed.bin / "mnistq"), "bench", "--quick"],
                          cwd=user["work"], env=user_env(installed, user["home"], data_dir),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert "run them from a checkout of mnist-queue" in done.stderr
