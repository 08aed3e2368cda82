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

With MNISTQ_FAST_LANE (the default), a third daemon thread, the fast lane (worker/lane.py),
reads small jobs the API wakes it for, as `predict_interactive` would, without a Celery task.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from celery.exceptions import Reject
from celery.signals import worker_init, worker_process_init, worker_process_shutdown
from threadpoolctl import threadpool_limits

from common import model_registry
from common.interactive import InteractiveBatches
from common.jobs import ENDED, Chunk, ChunkStart
from common.jobstore import REDIS_DOWN, JobStore
from common.lost_chunks import LostChunks
from common.queue import (
    FIRST_BIG,
    PREDICT_CHUNK,
    PREDICT_INTERACTIVE,
    send_interactive_batch,
)
from common.redis_keys import HEARTBEAT_EVERY, HEARTBEAT_MAX_AGE
from common.webhooks import announce_end, resend_overdue
from core.imaging import ImageLimits
from core.metadata import described
from core.model import DigitModel
from core.pipeline import predict_files
from core.results import Result, model_label
from core.versions import NoActiveVersion, VersionError, active_version, load_version
from worker.app import app, settings
from worker.lane import Lane

log = logging.getLogger(__name__)

SWITCH_POLL = 0.5
"""Seconds between two looks at the active version's name (one Redis GET)."""
LOST_LOOK_EVERY = 5
"""Heartbeats between two looks for chunks the broker lost (common.lost_chunks): 10 s."""


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
        self.batches: InteractiveBatches | None = None
        self.lost: LostChunks | None = None
        self.lane: Lane | None = None
        self.stop = threading.Event()
        self.lock = threading.Lock()

    @property
    def model(self) -> DigitModel | None:
        return None if self.served is None else self.served.model

    @property
    def name(self) -> str:
        """`host:pid` of this process (a pool process is forked after this object exists)."""
        return f"{socket.gethostname()}:{os.getpid()}"

    def connect(self) -> tuple[JobStore, InteractiveBatches]:
        """The job store and the interactive batches, without the model: a task knows its
        jobs (and can fail them) even when the model cannot be loaded."""
        with self.lock:
            if self.store is None or self.batches is None:
                self.store = JobStore.from_settings(settings)
                self.batches = InteractiveBatches(self.store.redis, self.store.ttl)
            return self.store, self.batches

    def load(self) -> None:
        """Load the model once in this process and start the heartbeat."""
        self.connect()
        with self.lock:
            if self.served is not None:
                return
            threadpool_limits(limits=settings.worker_threads)
            started = time.perf_counter()
            self.served = self.read_served()
            self.lost = LostChunks(self.store, settings.visibility_timeout)
            self.limits = ImageLimits(
                max_bytes=settings.max_image_bytes, max_pixels=settings.max_image_pixels
            )
            log.info("worker %s: model %s loaded in %.0f ms (%d BLAS threads)", self.name,
                     self.served.version or settings.model_path,
                     1000 * (time.perf_counter() - started), settings.worker_threads)
            if settings.fast_lane:  # registered before the first heartbeat says "ready"
                assert self.batches is not None
                self.lane = Lane(self.batches, self.name, read=_read_in_lane,
                                 fail=_fail_lane)
                self.lane.start()
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
        when Redis restarts without its data); the webhooks nobody queued, the small jobs
        nobody rang for, what dead processes' fast lanes held, and now and then the chunks
        the broker lost. The fast lane is said alive with the heartbeat, while its thread is."""
        assert self.store is not None and self.served is not None
        beats = 0
        while not self.stop.is_set():
            beats += 1
            try:
                self.store.heartbeat(self.name, HEARTBEAT_MAX_AGE)
                served = self.served
                self.store.publish_model(described(served.model.metadata))
                model_registry.report_served(self.store.redis, self.name, served.version,
                                             self.switch_error)
                resend_overdue(self.store, app, settings.webhook_resend_after)
                if self.batches is not None:
                    if self.lane is not None and self.lane.alive:
                        self.batches.join_lanes(self.lane.id)
                    if self.batches.ring_if_waiting():
                        send_interactive_batch(app)
                    back = self.batches.put_back_dead_lanes()  # woken for: lanes read it
                    if back:
                        log.warning("worker %s: %d chunks held by the fast lane of a process "
                                    "that died are put back", self.name, back)
                if self.lost is not None and beats % LOST_LOOK_EVERY == 0:
                    self.lost.look(_send_again)
            except Exception as exc:  # Redis restarting: keep beating, it comes back
                log.warning("worker %s: heartbeat failed: %s", self.name, exc)
            self.stop.wait(HEARTBEAT_EVERY)

    def shutdown(self) -> None:
        self.stop.set()
        if self.store is not None:
            try:
                if self.lane is not None:
                    self.lane.leave()
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


def _send_again(job_id: str, chunk: Chunk) -> None:
    """Queue a chunk the broker lost (common.lost_chunks) as a chunk task of its own."""
    app.send_task(PREDICT_CHUNK, args=[job_id, chunk.start, chunk.stop], priority=FIRST_BIG)


@app.task(name=PREDICT_CHUNK)
def predict_chunk(job_id: str, start: int, stop: int) -> int:
    """Predict images [start, stop) of a job and record each result once; returns new ones.

    Skips a chunk whose job was cancelled, ended or expired. A chunk delivered more than
    `max_chunk_attempts` times (its worker keeps dying on it) gets per-file errors instead.
    When Redis is unreachable the message goes back to the queue (or, if even that fails,
    comes back after the visibility timeout): a Redis restart loses no chunk.
    """
    chunk = Chunk(int(start), int(stop))
    with _requeue_or_fail(f"job {job_id}: chunk {start}-{stop}", lambda: [job_id]):
        return _predict_chunk(job_id, chunk)


@app.task(name=PREDICT_INTERACTIVE, bind=True)
def predict_interactive(self: Any) -> int:
    """Read the small jobs waiting in the interactive batch list together (common.interactive)
    and record each one's results; returns the new ones. Like `predict_chunk` otherwise: the
    same skips, limits and Redis outages, per job."""
    task_id = self.request.id
    with _requeue_or_fail(f"interactive batch {task_id}", lambda: _taken_jobs(task_id),
                          after_failing=lambda: process.connect()[1].done(task_id)):
        return _predict_batch(task_id)


def _read_in_lane(lane: str) -> int:
    """The fast lane's read (worker/lane.py): a batch, as `predict_interactive` reads one."""
    return _predict_batch(lane, lane=True)


def _fail_lane(lane: str) -> None:
    """The fast lane's batch raised: fail its jobs and forget them, as a batch task does."""
    _fail_jobs(_taken_jobs(lane), after_failing=lambda: process.connect()[1].done(lane))


@contextmanager
def _requeue_or_fail(what: str, jobs: Callable[[], list[str]],
                     after_failing: Callable[[], None] = lambda: None) -> Iterator[None]:
    """Put the task back when Redis is unreachable; on any other error, fail its `jobs`, then
    call `after_failing` (a batch forgets what it took: its jobs are over)."""
    try:
        yield
    except REDIS_DOWN as exc:
        log.warning("%s put back, Redis unreachable: %s", what, exc)
        time.sleep(1.0)  # no hot loop while Redis restarts
        raise Reject(str(exc), requeue=True) from None
    except Exception:
        # Not the user's doing (a model that will not load, a Redis error reply): the task is
        # acknowledged as failed, so end the jobs now rather than leave them running to TTL.
        log.exception("%s failed; its jobs fail", what)
        try:
            _fail_jobs(jobs(), after_failing)
        except Exception:
            log.exception("%s: could not mark its jobs failed", what)
        raise


def _fail_jobs(jobs: list[str], after_failing: Callable[[], None]) -> None:
    """Fail `jobs` (an error not the user's doing), announce their ends, then `after_failing`."""
    store = process.store or JobStore.from_settings(settings)  # (none if the model failed)
    for job_id in jobs:
        store.fail(job_id, "internal error in a worker")
        announce_end(store, app, job_id)
    after_failing()


@dataclass(frozen=True)
class _Run:
    """A chunk begun in this worker: its job, bounds, files and delivery count."""

    job_id: str
    chunk: Chunk
    state: ChunkStart


def _predict_chunk(job_id: str, chunk: Chunk) -> int:
    process.load()
    store = process.store
    assert store is not None
    begun, begun_cpu = time.perf_counter(), time.thread_time()
    run = _runnable(job_id, chunk, store.begin_chunk(job_id, chunk, process.name))
    if run is None:
        return 0
    served = process.served  # once per chunk: a switch happens between two chunks
    assert served is not None
    [results] = _read([run], served.model)
    seconds, cpu_seconds = time.perf_counter() - begun, time.thread_time() - begun_cpu
    outcome = store.record_results(job_id, chunk, _named(results, served), process.name,
                                   seconds=seconds, model=served.version,
                                   cpu_seconds=cpu_seconds)
    return _recorded(store, run, outcome, seconds)


def _predict_batch(task_id: str, lane: bool = False) -> int:
    """Take, read and record one interactive batch under taken list `task_id` (a batch task's
    id, or a fast `lane`'s, which sends no more tasks: it leaves wake tokens instead)."""
    store, batches = process.connect()
    begun = time.perf_counter()
    begun_chunks, more = batches.take_and_begin(task_id, process.name, lane=lane)
    if more:  # over one batch waits: another task takes the rest, maybe on another worker
        send_interactive_batch(app)
    process.load()
    runs = [run for job_id, chunk, state in begun_chunks
            if (run := _runnable(job_id, chunk, state))]
    served = process.served  # once per batch, as per chunk
    assert served is not None
    results = _read(runs, served.model)
    seconds = time.perf_counter() - begun
    images = max(1, sum(len(chunk_results) for chunk_results in results))
    shares = [seconds * len(chunk_results) / images for chunk_results in results]
    outcomes = store.record_many(
        [(run.job_id, run.chunk, _named(chunk_results, served), share)
         for run, chunk_results, share in zip(runs, results, shares, strict=True)],
        process.name, served.version)
    added = sum(_recorded(store, run, outcome, share)
                for run, outcome, share in zip(runs, outcomes, shares, strict=True))
    if begun_chunks:
        batches.done(task_id)
    if runs:
        log.info("interactive batch of %d jobs, %d images, read in %.1f ms%s", len(runs),
                 images, 1000 * seconds, " (fast lane)" if lane else "",
                 extra={"worker": process.name, "duration_ms": round(1000 * seconds, 1)})
    return added


def _taken_jobs(task_id: str) -> list[str]:
    """The jobs an interactive batch task had taken (to fail them when it fails)."""
    return [job_id for job_id, _ in process.connect()[1].taken(task_id)]


def _runnable(job_id: str, chunk: Chunk, state: ChunkStart) -> _Run | None:
    """The begun chunk to read; None (logged) when its job is over."""
    if not state.runnable:
        log.info("job %s: chunk %d-%d skipped, job is %s", job_id, chunk.start, chunk.stop,
                 state.status or "gone", extra=_context(job_id, chunk))
        return None
    return _Run(job_id, chunk, state)


def _named(results: list[Result], served: Served) -> list[Result]:
    """The results, each naming the model version that read it."""
    return [replace(r, model=served.version) for r in results]


def _recorded(store: JobStore, run: _Run, outcome: tuple[int, str | None],
              seconds: float) -> int:
    """After a chunk's record: announce its job's end when this chunk ended it, log it.
    Returns the results newly recorded."""
    added, status = outcome
    job_id, chunk = run.job_id, run.chunk
    if added and status in ENDED:  # this chunk ended the job
        announce_end(store, app, job_id)
    log.info("job %s: chunk %d-%d done in %.1f ms, %d new results, job %s", job_id,
             chunk.start, chunk.stop, 1000 * seconds, added, status,
             extra=_context(job_id, chunk, duration_ms=round(1000 * seconds, 1)))
    return added


def _context(job_id: str, chunk: Chunk, **more: Any) -> dict[str, Any]:
    """The fields of a log line about a chunk (JSON logs show them as fields)."""
    return {"job": job_id, "chunk": f"{chunk.start}-{chunk.stop}", "worker": process.name,
            **more}


def _read(runs: list[_Run], model: DigitModel) -> list[list[Result]]:
    """Each run's results in index order. A chunk delivered more than `max_chunk_attempts`
    times (its worker keeps dying on it) gets per-file errors; the other runs' files are read
    together, one `predict_files` call per read mode (digit or number)."""
    results: list[list[Result]] = [[] for _ in runs]
    together: dict[str, list[tuple[int, int, str, bytes | None]]] = {}
    for n, run in enumerate(runs):
        state = run.state
        if state.attempts > settings.max_chunk_attempts:
            log.error("job %s: chunk %d-%d given up after %d deliveries", run.job_id,
                      run.chunk.start, run.chunk.stop, state.attempts - 1)
            reason = f"not processed: its chunk failed {state.attempts - 1} times"
            results[n] = [Result.failure(i, name, reason, state.read)
                          for i, name, _ in state.files]
        else:
            together.setdefault(state.read, []).extend(
                (n, i, name, data) for i, name, data in state.files)
    for read, files in together.items():
        numbered = [(position, name, data) for position, (_, _, name, data) in enumerate(files)]
        for result in _predict(runs, numbered, model, read):
            n, index, _, _ = files[result.index]
            results[n].append(replace(result, index=index))
    for chunk_results in results:
        chunk_results.sort(key=lambda result: result.index)
    return results


def _predict(runs: list[_Run], files: list[tuple[int, str, bytes | None]],
             model: DigitModel, read: str) -> list[Result]:
    """One result per file, a digit or a number each (`read`, the jobs' mode); a bug in
    prediction fails these files, loudly, instead of leaving their jobs unfinished forever."""
    present = [(i, name, data) for i, name, data in files if data is not None]
    try:
        results = list(predict_files(model, present, process.limits, read=read))
    except Exception:
        log.exception("chunks %s: prediction failed",
                      ", ".join(f"{r.job_id}:{r.chunk.start}-{r.chunk.stop}" for r in runs))
        results = [Result.failure(i, name, "internal error while predicting", read)
                   for i, name, _ in present]
    return results + [Result.failure(i, name, "image data is no longer stored", read)
                      for i, name, data in files if data is None]
