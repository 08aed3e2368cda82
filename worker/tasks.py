"""The worker's one task, `predict_chunk`, and the model each worker process keeps loaded.

The model is loaded once per pool process (Celery's `worker_process_init`, which the prefork
and solo pools send; lazily in the task for other pools), with BLAS/OpenMP threads limited to
`settings.worker_threads` so that processes x threads fit the cores. Once loaded, a daemon
thread keeps a heartbeat in Redis: `/readyz` counts those instead of asking Celery.

With model versions (MNISTQ_MODEL_PATH unset), a second daemon thread watches the active
version's name in Redis; when it changes, it loads the new version beside the old one (checksum
and smoke digits: `core.versions.load_version`) and swaps it in. A chunk takes the served model
once, when it begins, so a switch falls between two chunks and every result names the version
that read it. A version that cannot be loaded is not served: the worker keeps the old one and
reports why with its heartbeat (`GET /api/v1/models`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

import redis
from celery.exceptions import Reject
from celery.signals import worker_init, worker_process_init, worker_process_shutdown
from threadpoolctl import threadpool_limits

from common import model_registry
from common.jobstore import ENDED, HEARTBEAT_EVERY, HEARTBEAT_MAX_AGE, Chunk, JobStore
from common.queue import PREDICT_CHUNK
from common.webhooks import announce_end, resend_overdue
from core.imaging import ImageLimits
from core.model import DigitModel
from core.pipeline import predict_files
from core.results import Result, model_label
from core.versions import NoActiveVersion, VersionError, active_version, load_version
from worker.app import app, settings

log = logging.getLogger(__name__)

SWITCH_POLL = 0.5
"""Seconds between two looks at the active version's name (one Redis GET)."""


@dataclass(frozen=True)
class Served:
    """The model a worker process serves and its version's name; replaced whole, never edited."""

    model: DigitModel
    version: str | None


class _Process:
    """What one worker process holds: the model, the store, its heartbeat."""

    def __init__(self) -> None:
        self.served: Served | None = None
        self.switch_error: str | None = None
        """Why the active version is not served (None when it is)."""
        self.failed_version: str | None = None
        self.limits: ImageLimits | None = None
        self.store: JobStore | None = None
        self.stop = threading.Event()
        self.lock = threading.Lock()

    @property
    def model(self) -> DigitModel | None:
        return None if self.served is None else self.served.model

    @property
    def name(self) -> str:
        """`host:pid` of this process (a pool process is forked after this object exists)."""
        return f"{socket.gethostname()}:{os.getpid()}"

    def load(self) -> None:
        """Load the model once in this process and start the heartbeat."""
        with self.lock:
            if self.served is not None:
                return
            threadpool_limits(limits=settings.worker_threads)
            started = time.perf_counter()
            self.store = JobStore.from_settings(settings)
            self.served = self.read_served()
            self.limits = ImageLimits(
                max_bytes=settings.max_image_bytes, max_pixels=settings.max_image_pixels
            )
            log.info("worker %s: model %s loaded in %.0f ms (%d BLAS threads)", self.name,
                     self.served.version or settings.model_path,
                     1000 * (time.perf_counter() - started), settings.worker_threads)
            threading.Thread(target=self._beat, name="heartbeat", daemon=True).start()
            if settings.model_path is None:
                threading.Thread(target=self._watch, name="model-watch", daemon=True).start()

    def read_served(self) -> Served:
        """The model this process should serve: the one file, or the active version."""
        if settings.model_path is not None:  # one file, versions off
            model = DigitModel.load(settings.model_path)
            return Served(model, model_label(model.metadata))
        version = self._wanted_version()
        return Served(load_version(settings.model_dir, version), version)

    def _wanted_version(self) -> str:
        """The active version's name as published in Redis; when Redis has none (a fresh or
        restarted Redis), the model folder's pointer, published again for the others."""
        assert self.store is not None
        published = model_registry.published_active(self.store.redis)
        if published is not None:
            return published
        version = active_version(settings.model_dir)
        if version is None:
            raise NoActiveVersion(f"no active model version in {settings.model_dir} (train "
                                  "one with `mnistq train`)")
        return model_registry.republish_if_missing(self.store.redis, version)

    def _watch(self) -> None:
        """Switch to the active version whenever it changes (see the module's docstring)."""
        while not self.stop.wait(SWITCH_POLL):
            try:
                wanted = self._wanted_version()
            except Exception as exc:  # Redis restarting, no pointer: keep serving
                log.debug("worker %s: cannot read the active version: %s", self.name, exc)
                continue
            self.switch_to(wanted)

    def switch_to(self, wanted: str) -> None:
        """Load `wanted` beside the served model and swap it in; keep the old one if it
        cannot be loaded, with the reason reported (once per version)."""
        assert self.served is not None
        if wanted == self.served.version:
            if self.switch_error is not None:  # back on the served version: nothing wrong
                self.switch_error = self.failed_version = None
                self._report()
            return
        if wanted == self.failed_version:
            return
        started = time.perf_counter()
        try:
            model = load_version(settings.model_dir, wanted)
        except VersionError as exc:
            self.failed_version, self.switch_error = wanted, str(exc)
            log.error("worker %s: keeps serving %s, cannot switch: %s", self.name,
                      self.served.version, exc)
        except Exception as exc:  # unpickling and predicting can raise anything
            self.failed_version = wanted
            self.switch_error = f"version {wanted}: {type(exc).__name__}: {exc}"
            log.exception("worker %s: keeps serving %s, cannot load %s", self.name,
                          self.served.version, wanted)
        else:
            old = self.served.version
            self.served = Served(model, wanted)
            self.switch_error = self.failed_version = None
            log.info("worker %s: switched from model %s to %s (loaded in %.0f ms)", self.name,
                     old, wanted, 1000 * (time.perf_counter() - started))
        self._report()

    def _report(self) -> None:
        """Publish the served version and the switch error now (the heartbeat repeats it)."""
        if self.store is None or self.served is None:
            return
        try:
            model_registry.report_served(self.store.redis, self.name, self.served.version,
                                         self.switch_error)
        except Exception as exc:
            log.warning("worker %s: cannot report its model: %s", self.name, exc)

    def _beat(self) -> None:
        """Heartbeat, and the model's metadata with it (cheap, and so it comes back by itself
        when Redis restarts without its data); and the webhooks nobody queued."""
        assert self.store is not None and self.served is not None
        while not self.stop.is_set():
            try:
                self.store.heartbeat(self.name, HEARTBEAT_MAX_AGE)
                served = self.served
                self.store.publish_model(served.model.metadata)
                model_registry.report_served(self.store.redis, self.name, served.version,
                                             self.switch_error)
                resend_overdue(self.store, app, settings.webhook_resend_after)
            except Exception as exc:  # Redis restarting: keep beating, it comes back
                log.warning("worker %s: heartbeat failed: %s", self.name, exc)
            self.stop.wait(HEARTBEAT_EVERY)

    def shutdown(self) -> None:
        self.stop.set()
        if self.store is not None:
            try:
                self.store.forget_worker(self.name)
                model_registry.forget_served(self.store.redis, self.name)
            except Exception:
                log.debug("worker %s: could not remove heartbeat", self.name, exc_info=True)


process = _Process()


def _cannot_load(pid: int) -> None:
    log.critical("worker %d: cannot load model %s", pid,
                 settings.model_path or f"(active version of {settings.model_dir})",
                 exc_info=True)


@worker_init.connect
def _check_model_before_the_pool(**_: Any) -> None:
    """Exit at once when the model cannot be loaded, before any pool process starts: else
    the prefork pool would replace pool processes that die loading it, again and again.
    (What is read here is dropped: each pool process loads its own copy.)"""
    checker = _Process()
    try:
        checker.store = JobStore.from_settings(settings)
        checker.read_served()
    except Exception:
        _cannot_load(os.getpid())
        os._exit(1)


@worker_process_init.connect
def _load_in_pool_process(**_: Any) -> None:
    try:
        process.load()
    except Exception:
        _cannot_load(os.getpid())
        os._exit(1)  # fail loudly; the message (acks_late) stays queued for another worker


@worker_process_shutdown.connect
def _forget(**_: Any) -> None:
    process.shutdown()


REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError)


@app.task(name=PREDICT_CHUNK)
def predict_chunk(job_id: str, start: int, stop: int) -> int:
    """Predict images [start, stop) of a job and record each result once; returns new ones.

    Skips a chunk whose job was cancelled, ended or expired. A chunk delivered more than
    `max_chunk_attempts` times (its worker keeps dying on it) gets per-file errors instead.
    When Redis is unreachable the message goes back to the queue (or, if even that fails,
    comes back after the visibility timeout): a Redis restart loses no chunk.
    """
    try:
        return _predict_chunk(job_id, Chunk(int(start), int(stop)))
    except REDIS_DOWN as exc:
        log.warning("job %s: chunk %s-%s put back, Redis unreachable: %s", job_id, start,
                    stop, exc)
        time.sleep(1.0)  # no hot loop while Redis restarts
        raise Reject(str(exc), requeue=True) from None
    except Exception:
        # Not the user's doing (a model that will not load, a Redis error reply): the task is
        # acknowledged as failed, so end the job now rather than leave it running to its TTL.
        log.exception("job %s: chunk %s-%s failed; the job fails", job_id, start, stop)
        try:  # (no store yet when the model is what failed to load)
            store = process.store or JobStore.from_settings(settings)
            store.fail(job_id, "internal error in a worker")
            announce_end(store, app, job_id)
        except Exception:
            log.exception("job %s: could not mark the job failed", job_id)
        raise


def _predict_chunk(job_id: str, chunk: Chunk) -> int:
    process.load()
    store = process.store
    assert store is not None
    begun = time.perf_counter()
    state = store.begin_chunk(job_id, chunk, process.name)
    if not state.runnable:
        log.info("job %s: chunk %d-%d skipped, job is %s", job_id, chunk.start, chunk.stop,
                 state.status or "gone", extra=_context(job_id, chunk))
        return 0
    files = state.files
    served = process.served  # once per chunk: a switch happens between two chunks
    assert served is not None
    read = state.read  # fetched with the chunk, in the same round trip
    if state.attempts > settings.max_chunk_attempts:
        log.error("job %s: chunk %d-%d given up after %d deliveries", job_id, chunk.start,
                  chunk.stop, state.attempts - 1)
        reason = f"not processed: its chunk failed {state.attempts - 1} times"
        results = [Result.failure(i, name, reason, read) for i, name, _ in files]
    else:
        results = _predict(job_id, chunk, files, served.model, read)
    results = [replace(r, model=served.version) for r in results]
    added, status = store.record_results(job_id, chunk, results, process.name,
                                         seconds=time.perf_counter() - begun,
                                         model=served.version)
    took_ms = 1000 * (time.perf_counter() - begun)
    if added and status in ENDED:  # this chunk ended the job
        announce_end(store, app, job_id)
    log.info("job %s: chunk %d-%d done in %.1f ms, %d new results, job %s", job_id,
             chunk.start, chunk.stop, took_ms, added, status,
             extra=_context(job_id, chunk, duration_ms=round(took_ms, 1)))
    return added


def _context(job_id: str, chunk: Chunk, **more: Any) -> dict[str, Any]:
    """The fields of a log line about a chunk (JSON logs show them as fields)."""
    return {"job": job_id, "chunk": f"{chunk.start}-{chunk.stop}", "worker": process.name,
            **more}


def _predict(job_id: str, chunk: Chunk, files: list[tuple[int, str, bytes | None]],
             model: DigitModel, read: str = "digit") -> list[Result]:
    """One result per file in index order, a digit or a number each (`read`, the job's
    mode); a bug in prediction fails the chunk's files, loudly, instead of leaving the job
    unfinished forever."""
    present = [(i, name, data) for i, name, data in files if data is not None]
    try:
        results = list(predict_files(model, present, process.limits, read=read))
    except Exception:
        log.exception("job %s: chunk %d-%d: prediction failed", job_id, chunk.start, chunk.stop)
        results = [Result.failure(i, name, "internal error while predicting", read)
                   for i, name, _ in present]
    results += [Result.failure(i, name, "image data is no longer stored", read)
                for i, name, data in files if data is None]
    results.sort(key=lambda result: result.index)
    return results
