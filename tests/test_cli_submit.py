"""`mnistq submit` against the running stack, as a user types it."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest

from cli.main import main
from tests.conftest import IMAGES_TEST
from tests.stack import Stack, settings_env
from tests.support import free_port

pytestmark = pytest.mark.slow


def mnistq(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli.main", *args], capture_output=True,
                          text=True, env=settings_env(stack.settings), timeout=120)


def test_submit_a_folder_and_wait_for_csv(shared_stack: Stack) -> None:
    done = mnistq(shared_stack, "submit", str(IMAGES_TEST), "--url", shared_stack.url,
                  "--wait", "--format", "csv")
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    labels = {r["filename"]: int(r["label"]) for r in csv.DictReader(
        (IMAGES_TEST / "labels.csv").open())}
    assert {r["filename"]: int(r["prediction"]) for r in rows} == labels  # labels.csv skipped
    assert "10/10" in done.stderr  # the progress bar's last state


def in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The same command through `cli.main.main`, without a new interpreter's start-up."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_submit_files_as_json_and_without_wait(shared_stack: Stack, capsys) -> None:
    image = str(IMAGES_TEST / "digit4_test4.png")
    code, out, err = in_process(capsys, "submit", image, "--url", shared_stack.url, "--wait")
    assert code == 0, err
    job = json.loads(out)
    assert job["status"] == "succeeded" and job["results"][0]["prediction"] == 4
    code, out, err = in_process(capsys, "submit", image, "--url", shared_stack.url)
    assert code == 0, err
    assert set(json.loads(out)) == {"id", "status", "total", "read", "url"}


def test_submit_fails_loudly(shared_stack: Stack, tmp_path, capsys) -> None:
    image = str(IMAGES_TEST / "digit4_test4.png")
    code, _, err = in_process(capsys, "submit", image, "--url",
                              f"http://127.0.0.1:{free_port()}")
    assert code == 3 and "cannot reach" in err
    code, _, _ = in_process(capsys, "submit", str(tmp_path / "missing.png"),
                            "--url", shared_stack.url)
    assert code == 2
