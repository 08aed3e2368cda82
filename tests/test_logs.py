"""An operator ships the logs: with MNISTQ_LOG_FORMAT=json every line is one JSON object."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from common.settings import Settings

PROGRAM = """
import logging
from common.logs import configure
from common.settings import Settings
configure(Settings.from_env())
log = logging.getLogger("worker.tasks")
log.info("job %s: chunk %d-%d done in %.1f ms", "ab12", 0, 64, 12.5,
         extra={"job": "ab12", "chunk": "0-64", "worker": "host:1", "duration_ms": 12.5})
log.warning("no job here")
"""


def run(fmt: str | None) -> list[str]:
    env = {"PATH": "/usr/bin:/bin", **({"MNISTQ_LOG_FORMAT": fmt} if fmt else {})}
    done = subprocess.run([sys.executable, "-c", PROGRAM], env=env, capture_output=True,
                          text=True, check=True, cwd=Path(__file__).resolve().parent.parent)
    return done.stderr.splitlines()


def test_json_logs_carry_job_chunk_worker_and_duration_as_fields() -> None:
    first, second = (json.loads(line) for line in run("json"))
    assert first["message"] == "job ab12: chunk 0-64 done in 12.5 ms"
    assert (first["job"], first["chunk"], first["worker"], first["duration_ms"]) == (
        "ab12", "0-64", "host:1", 12.5)
    assert first["level"] == "INFO" and first["logger"] == "worker.tasks" and first["time"]
    assert second["level"] == "WARNING" and "job" not in second


def test_text_logs_stay_one_readable_line_per_event() -> None:
    lines = run(None)
    assert len(lines) == 2
    assert lines[0].endswith("INFO worker.tasks: job ab12: chunk 0-64 done in 12.5 ms")


def test_an_unknown_log_format_is_refused_with_its_variable() -> None:
    with pytest.raises(ValueError, match="MNISTQ_LOG_FORMAT='xml'"):
        Settings.from_env({"MNISTQ_LOG_FORMAT": "xml"})
