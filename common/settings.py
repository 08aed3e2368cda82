"""Every setting of mnist-queue, read from the environment in one place.

Processes build one `Settings` with `Settings.from_env()` at start and pass it down;
nothing else in the code base reads `os.environ` for configuration. The README lists
these variables; keep the two in step.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from common.paths import CORRECTIONS_DIR, DATA_DIR, MODEL_DIR, PACKAGES_PARENT, resolve_path

PROJECT_ROOT = PACKAGES_PARENT
"""The source tree's root; only the benchmarks use it, and they run from a checkout only."""
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
MiB = 1024 * 1024


def default_data_dir() -> Path:
    """The data folder without MNISTQ_DATA_DIR: the checkout's (`../shared/mnist` when it
    exists, else `data/mnist`), or `mnist/` in the user data directory (common/paths.py)."""
    return resolve_path(DATA_DIR, environ={}).path


def default_model_dir() -> Path:
    """The model versions without MNISTQ_MODEL_DIR: the checkout's `models/`, or `models/` in
    the user data directory (common/paths.py)."""
    return resolve_path(MODEL_DIR, environ={}).path


def default_corrections_dir() -> Path:
    """The corrections store without MNISTQ_CORRECTIONS_DIR: the checkout's `corrections/`,
    or `corrections/` in the user data directory (common/paths.py)."""
    return resolve_path(CORRECTIONS_DIR, environ={}).path


@dataclass(frozen=True)
class Settings:
    """Configuration of every mnist-queue process; the field docs name their variables."""

    data_dir: Path
    """MNISTQ_DATA_DIR: folder with the four MNIST idx files."""
    model_path: Path | None = None
    """MNISTQ_MODEL_PATH: one model file (joblib, its `.json` metadata beside it) to serve,
    with versions off. Unset or empty: the active version of `model_dir` is served."""
    model_dir: Path = field(default_factory=default_model_dir)
    """MNISTQ_MODEL_DIR: the model versions, one immutable folder each, and ACTIVE.json."""
    corrections_dir: Path = field(default_factory=default_corrections_dir)
    """MNISTQ_CORRECTIONS_DIR: people's corrections of results, one file each, kept beyond
    the jobs' TTL (common/corrections.py)."""
    redis_url: str | None = None
    """MNISTQ_REDIS_URL: broker and job store. Unset: `mnistq up` starts a private redis-server
    and other processes use redis://127.0.0.1:6379/0."""
    job_ttl: int = 24 * 3600
    """MNISTQ_JOB_TTL: seconds a job and its results are kept."""
    max_files: int = 10_000
    """MNISTQ_MAX_FILES: files in one job."""
    max_upload_bytes: int = 64 * MiB
    """MNISTQ_MAX_UPLOAD_BYTES: bytes in one upload request."""
    max_image_bytes: int = 16 * MiB
    """MNISTQ_MAX_IMAGE_BYTES: bytes of one image file."""
    max_image_pixels: int = 40_000_000
    """MNISTQ_MAX_IMAGE_PIXELS: width x height of one image (decompression bomb guard)."""
    max_queued_jobs: int = 1_000
    """MNISTQ_MAX_QUEUED_JOBS: unfinished jobs before new ones get 429."""
    max_wait: float = 60.0
    """MNISTQ_MAX_WAIT: cap, in seconds, of `?wait=` long-polls."""
    chunk_size: int = 512
    """MNISTQ_CHUNK_SIZE: most images per Celery task (smaller jobs get smaller chunks, so that
    every live worker shares them: `common.queue.chunk_size_for`)."""
    visibility_timeout: int = 120
    """MNISTQ_VISIBILITY_TIMEOUT: seconds before an unacknowledged chunk is redelivered."""
    max_chunk_attempts: int = 3
    """MNISTQ_MAX_CHUNK_ATTEMPTS: deliveries of a chunk before its images get per-file errors."""
    worker_concurrency: int = 1
    """MNISTQ_WORKER_CONCURRENCY: prediction processes per Celery worker."""
    worker_threads: int = 1
    """MNISTQ_WORKER_THREADS: BLAS/OpenMP threads per worker process."""
    fast_lane: bool = True
    """MNISTQ_FAST_LANE: small jobs are read by a thread in each worker process that the API
    wakes directly (worker/lane.py), not by a Celery task; `0` (workers or API): by a task."""
    max_streams: int = 16
    """MNISTQ_MAX_STREAMS: open event streams (`/jobs/<id>/events`) per API process, each
    holding one of its threads (`mnistq up` gives each 32); over it: `503` + `Retry-After`."""
    stream_max_seconds: float = 600.0
    """MNISTQ_STREAM_MAX_SECONDS: an event stream closes after this long (an EventSource
    reconnects by itself with `Last-Event-ID`), so no client holds a thread for ever."""
    stream_write_timeout: float = 30.0
    """MNISTQ_STREAM_WRITE_TIMEOUT: seconds a write may block on a client that stops reading
    before its event stream is dropped."""
    webhook_hosts: str | None = None
    """MNISTQ_WEBHOOK_HOSTS: comma-separated hosts (`host` or `host:port`) a job's
    `callback_url` may name. Unset: webhooks are off (`callback_url` gets 400)."""
    webhook_secret: str | None = None
    """MNISTQ_WEBHOOK_SECRET: key of the `X-Mnistq-Signature` HMAC; webhooks need it."""
    webhook_timeout: float = 5.0
    """MNISTQ_WEBHOOK_TIMEOUT: seconds to connect to, and then to wait for, a receiver."""
    webhook_backoff: float = 30.0
    """MNISTQ_WEBHOOK_BACKOFF: seconds before the first retry of a webhook, doubled for each
    next one, with jitter (8 attempts: about an hour)."""
    webhook_max_attempts: int = 8
    """MNISTQ_WEBHOOK_MAX_ATTEMPTS: deliveries of a webhook before it is given up."""
    webhook_resend_after: float = 30.0
    """MNISTQ_WEBHOOK_RESEND_AFTER: seconds after a job's end before a worker queues its
    webhook when whoever ended the job died before queuing it (the outbox)."""
    review_below: float = 0.9
    """MNISTQ_REVIEW_BELOW: results with a lower confidence are flagged "low confidence" for a
    person to check; 0.9 flags about 2% of MNIST-like digits and most wrong answers
    (docs/model.md)."""
    api_key: str | None = None
    """MNISTQ_API_KEY: when set, every /api/ route needs `Authorization: Bearer <key>`."""
    log_level: str = "INFO"
    """MNISTQ_LOG_LEVEL: standard logging level name."""
    log_format: str = "text"
    """MNISTQ_LOG_FORMAT: `text` (for people) or `json` (one JSON object per line)."""

    @property
    def broker_url(self) -> str:
        """The Redis URL processes connect to."""
        return self.redis_url or DEFAULT_REDIS_URL

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Read `MNISTQ_*` variables; `overrides` win over the environment (for tests and CLIs)."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {"data_dir": default_data_dir()}
        for each in fields(cls):
            raw = env.get(f"MNISTQ_{each.name.upper()}")
            if raw is None or raw == "":
                continue
            values[each.name] = _parse(each.name, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


_PATHS = {"data_dir", "model_path", "model_dir", "corrections_dir"}
_INTS = {
    "job_ttl", "max_files", "max_upload_bytes", "max_image_bytes", "max_image_pixels",
    "max_queued_jobs", "chunk_size", "visibility_timeout", "max_chunk_attempts",
    "worker_concurrency", "worker_threads", "max_streams", "webhook_max_attempts",
}
_FLOATS = {
    "max_wait", "webhook_timeout", "webhook_backoff", "webhook_resend_after",
    "stream_max_seconds", "stream_write_timeout",
}
_FRACTIONS = {"review_below"}
_BOOLS = {"fast_lane"}
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _parse(name: str, raw: str) -> object:
    """Convert one variable's text, failing loudly with the variable's name."""
    try:
        if name in _PATHS:
            return Path(raw).expanduser()
        if name in _INTS:
            value = int(raw)
            if value <= 0:
                raise ValueError("must be positive")
            return value
        if name in _FLOATS:
            value = float(raw)
            if not math.isfinite(value) or value <= 0:
                raise ValueError("must be a positive number")
            return value
        if name in _BOOLS:
            if raw.lower() not in _TRUE + _FALSE:
                raise ValueError("must be 1 or 0 (true or false)")
            return raw.lower() in _TRUE
        if name in _FRACTIONS:
            value = float(raw)
            if not 0 <= value <= 1:
                raise ValueError("must be a number from 0 to 1")
            return value
        if name == "log_level" and raw.upper() not in logging.getLevelNamesMapping():
            raise ValueError("not a logging level (DEBUG, INFO, WARNING, ERROR, CRITICAL)")
        if name == "log_format" and raw not in ("text", "json"):
            raise ValueError("must be 'text' or 'json'")
        return raw
    except ValueError as exc:
        raise ValueError(f"MNISTQ_{name.upper()}={raw!r}: {exc}") from None
