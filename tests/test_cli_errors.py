"""What a newcomer sees when something is wrong: one clear line and an exit code a script uses."""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.main import main
from cli.progress import JobProgress
from tests.conftest import IMAGES_TEST
from tests.support import free_port


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture()
def busy_port() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield sock.getsockname()[1]


@pytest.fixture()
def not_a_model(tmp_path: Path) -> Path:
    path = tmp_path / "models" / "mnist_svc.joblib"
    path.parent.mkdir()
    path.write_text("not a model")
    path.with_suffix(".json").write_text('{"sha256": "0000"}')
    return path


# -- mnistq predict ----------------------------------------------------------------------

def test_predict_reads_what_exists_and_exits_1_for_a_missing_path(
    small_model_path: Path, tmp_path: Path, capsys
) -> None:
    image = str(IMAGES_TEST / "digit7_test0.png")
    code, out, err = run(capsys, "predict", image, str(tmp_path / "missing.png"),
                         "--model", str(small_model_path), "--json")
    assert code == 1
    assert [r["filename"] for r in json.loads(out)] == [image]  # the file it did read
    assert f"{tmp_path / 'missing.png'}: no such file or folder" in err


def test_predict_exits_1_when_no_image_could_be_read(
    small_model_path: Path, tmp_path: Path, capsys
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    code, out, err = run(capsys, "predict", str(notes), "--model", str(small_model_path))
    assert code == 1
    assert out.startswith(f"{notes}\terror: ")
    assert "none of the 1 files could be read" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, err = run(capsys, "predict", str(empty), "--model", str(small_model_path))
    assert (code, out) == (1, "") and "no image files found" in err


def test_predict_exits_0_when_some_images_were_read(
    small_model_path: Path, tmp_path: Path, capsys
) -> None:
    folder = tmp_path / "mixed"
    shutil.copytree(IMAGES_TEST, folder)
    (folder / "broken.png").write_bytes(b"\x89PNG not really")
    code, out, _ = run(capsys, "predict", str(folder), "--model", str(small_model_path))
    assert code == 0
    assert out.count("\n") == 11 and "broken.png\terror: " in out


def test_predict_with_a_file_that_is_not_a_model_exits_2(
    not_a_model: Path, capsys
) -> None:
    code, out, err = run(capsys, "predict", str(IMAGES_TEST), "--model", str(not_a_model))
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and str(not_a_model) in err


# -- mnistq submit -----------------------------------------------------------------------

def test_submit_to_nothing_says_connection_refused_in_one_line(capsys) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, out, err = run(capsys, "submit", str(IMAGES_TEST), "--url", url)
    assert (code, out) == (3, "")
    assert err == f"mnistq submit: cannot reach the service at {url}: connection refused\n"


def test_the_progress_bar_shows_counts_failures_rate_and_time_left() -> None:
    stream = io.StringIO()
    bar = JobProgress(10, stream)
    bar.show(4, 1, "running")
    bar.show(10, 1, "succeeded")
    bar.close()
    last = stream.getvalue().replace("\r", "\n").strip().splitlines()[-1]
    assert "10/10" in last and "1 failed, succeeded" in last
    assert "image/s" in last and "<00:00" in last  # the rate and the time left


# -- mnistq train ------------------------------------------------------------------------

def test_train_refuses_a_missing_data_folder_before_training(tmp_path: Path, capsys) -> None:
    out = tmp_path / "m.joblib"
    code, _, err = run(capsys, "train", "--data-dir", str(tmp_path / "nope"), "--out", str(out))
    assert code == 2
    assert err == (f"mnistq train: the data folder {tmp_path / 'nope'} does not exist (set "
                   "MNISTQ_DATA_DIR to the folder with the four MNIST files, or run "
                   "`mnistq data fetch`)\n")
    assert not out.exists()


def test_train_refuses_a_model_folder_it_cannot_create(
    data_dir: Path, tmp_path: Path, capsys
) -> None:
    blocker = tmp_path / "home"
    blocker.write_text("a file where the user's folders should be")
    out = blocker / ".local" / "share" / "mnist-queue" / "models" / "mnist_svc.joblib"
    code, _, err = run(capsys, "train", "--data-dir", str(data_dir), "--out", str(out),
                       "--limit", "100")
    assert code == 2 and err.count("\n") == 1
    assert f"{blocker} is not a folder" in err and "MNISTQ_MODEL_PATH" in err


def test_fetch_refuses_a_data_folder_it_cannot_create(tmp_path: Path, capsys) -> None:
    home = tmp_path / "home"
    home.write_text("a file where the user's folders should be")
    dest = home / ".local" / "share" / "mnist-queue" / "mnist"
    code, out, err = run(capsys, "data", "fetch", "--dest", str(dest))
    assert (code, out) == (2, "")
    assert err == (f"mnistq data fetch: cannot create {dest}: {home} is not a folder (set "
                   "MNISTQ_DATA_DIR or --dest to a folder you can write)\n")


# -- mnistq doctor -----------------------------------------------------------------------

def test_doctor_on_a_good_setup(data_dir: Path, small_model_path: Path, tmp_path: Path,
                                monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MNISTQ_DATA_DIR", str(data_dir))
    monkeypatch.setenv("MNISTQ_MODEL_PATH", str(small_model_path))
    monkeypatch.delenv("MNISTQ_REDIS_URL", raising=False)
    code, out, _ = run(capsys, "doctor", "--port", str(free_port()))
    assert code == 0, out
    lines = {line.split()[1]: line for line in out.splitlines()[:-1]
             if not line.startswith(" ")}  # status, check's name, detail; fixes indented
    for name in ("python", "packages", "redis-server", "data", "model", "port"):
        assert lines[name].startswith("ok "), lines[name]
    assert "match their SHA-256" in lines["data"] and "loads" in lines["model"]
    assert f"model {small_model_path} (MNISTQ_MODEL_PATH)" in lines["paths"]
    assert lines["docker"].startswith("info ")
    assert out.endswith("`mnistq up` would work here\n")
    assert not (tmp_path / ".mnistq").exists()  # a check writes nothing


def test_doctor_on_a_bad_setup_says_each_problem_with_its_fix(
    not_a_model: Path, busy_port: int, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MNISTQ_DATA_DIR", str(tmp_path / "nope"))
    monkeypatch.setenv("MNISTQ_MODEL_PATH", str(not_a_model))
    code, out, err = run(capsys, "doctor", "--port", str(busy_port))
    assert code == 2
    failed = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert len(failed) == 3
    assert f"the data folder {tmp_path / 'nope'} does not exist" in failed[0]
    assert f"{not_a_model} is not a usable model: " in failed[1]
    assert f"port {busy_port} is in use" in failed[2]
    assert out.count("fix: ") >= 3
    assert err == "mnistq doctor: 3 problems above would stop `mnistq up`\n"


def test_doctor_names_a_model_folder_it_cannot_create(
    data_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    home = tmp_path / "home"
    home.write_text("a file where the user's folders should be")
    model = home / ".local" / "share" / "mnist-queue" / "models" / "mnist_svc.joblib"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MNISTQ_DATA_DIR", str(data_dir))
    monkeypatch.setenv("MNISTQ_MODEL_PATH", str(model))
    code, out, _ = run(capsys, "doctor", "--port", str(free_port()))
    assert code == 2
    (failed,) = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert failed.split(None, 2)[1:] == [
        "model", f"no model at {model}, and cannot create {model.parent}: {home} is not a folder"]


# -- mnistq bench ------------------------------------------------------------------------

def test_bench_runs_the_checkouts_benchmarks_from_any_folder(tmp_path: Path) -> None:
    """The benchmarks are not in the wheel (tests/test_wheel.py); a checkout still runs them."""
    done = subprocess.run([sys.executable, "-m", "cli.main", "bench", "nosuch"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert done.returncode == 2
    assert "unknown benchmark(s): nosuch; choose from model," in done.stderr


def test_add_verifier_refuses_no_verifiers(capsys, tmp_path):
    code, _, err = run(capsys, "add-verifier", "--model", str(tmp_path / "m.joblib"),
                       "--out", str(tmp_path / "out.joblib"), "--verifiers", "0")
    assert code == 2 and "--verifiers must be at least 1, not 0" in err
    assert not (tmp_path / "out.joblib").exists()
