"""Logging set up once per process: human text by default, one JSON object per line with
`MNISTQ_LOG_FORMAT=json` (for log shippers).

Lines about a job carry `extra={"job": ..., "chunk": ..., "worker": ..., "duration_ms": ...}`
where they apply: the text format shows them inside the message already, the JSON format
adds them as fields. Never uploaded file names or image bytes.
"""

from __future__ import annotations

import logging

from pythonjsonlogger.json import JsonFormatter

from common.settings import Settings

TEXT = "%(asctime)s %(levelname)s {process}%(name)s: %(message)s"


def configure(settings: Settings, with_process_name: bool = False) -> None:
    """Root logging for this process at `settings.log_level`, in `settings.log_format`."""
    handler = logging.StreamHandler()
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter(
            "{asctime}{levelname}{name}{processName}{message}", style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger",
                           "processName": "process"},
        ))
    else:
        handler.setFormatter(logging.Formatter(
            TEXT.format(process="%(processName)s " if with_process_name else "")))
    logging.basicConfig(level=settings.log_level.upper(), handlers=[handler])
