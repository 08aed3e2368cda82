"""Bad settings stop a command at once: exit status 2 and a message naming the variable."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cli.main import main
from tests.conftest import IMAGES_TEST, ROOT


@pytest.mark.parametrize(("variable", "value"), [
    ("MNISTQ_JOB_TTL", "0"),
    ("MNISTQ_MAX_FILES", "-5"),
    ("MNISTQ_CHUNK_SIZE", "many"),
    ("MNISTQ_MAX_WAIT", "0"),
    ("MNISTQ_MAX_WAIT", "inf"),
    ("MNISTQ_MAX_WAIT", "nan"),
    ("MNISTQ_WORKER_CONCURRENCY", "0"),
    ("MNISTQ_LOG_LEVEL", "LOUD"),
    ("MNISTQ_FAST_LANE", "maybe"),
])
def test_a_bad_setting_exits_2_naming_the_variable(monkeypatch, capsys, variable, value) -> None:
    monkeypatch.setenv(variable, value)
    image = str(IMAGES_TEST / "digit7_test0.png")
    assert main(["submit", image, "--url", "http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert f"{variable}={value!r}" in err and "bad setting" in err


def test_the_command_line_exits_2_too(tmp_path) -> None:
    done = subprocess.run([sys.executable, "-m", "cli.main", "submit", str(IMAGES_TEST)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "MNISTQ_VISIBILITY_TIMEOUT": "-1",
                               "HOME": str(tmp_path)})
    assert done.returncode == 2, done.stderr
    assert "MNISTQ_VISIBILITY_TIMEOUT" in done.stderr


def test_good_settings_are_read() -> None:
    from common.settings import Settings

    settings = Settings.from_env({"MNISTQ_MAX_WAIT": "2.5", "MNISTQ_LOG_LEVEL": "debug",
                                  "MNISTQ_JOB_TTL": "60"})
    assert (settings.max_wait, settings.log_level, settings.job_ttl) == (2.5, "debug", 60)
    assert settings.fast_lane  # on unless turned off
    assert not Settings.from_env({"MNISTQ_FAST_LANE": "0"}).fast_lane
    assert not Settings.from_env({"MNISTQ_FAST_LANE": "False"}).fast_lane  # (tests' str())
