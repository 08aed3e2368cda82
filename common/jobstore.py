"""The Redis job store: JobStore, the one class that reads and writes a job's keys.

The API writes a job here (file names and bytes under the job: the claim check), workers
read a chunk's files and record its results, and clients read the job back. Every key of a job
expires at the same instant (`expires_at`, set at creation), so a job is never half gone.

Around it: the keys, their layout and TTLs in common.redis_keys; each change of a job, one
atomic step, a Lua script of common.job_scripts; the values the store takes and hands out
(statuses, chunks, replies) in common.jobs; a chunk's files and digits packed in one value by
common.chunk_packing; a job as the API shows it, from its hashes, by common.job_views.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from common import job_scripts, job_views
from common.chunk_packing import pack_digits, pack_files, unpack_digits, unpack_files
from common.jobs import (
    CANCELLED,
    ENDED,
    FAILED,
    QUEUED,
    RUNNING,
    BatchQueue,
    Chunk,
    ChunkStart,
    MetricsSnapshot,
    NewJob,
    QueueFull,
    StoredResult,
    chunk_entry,
    parse_chunk_entry,
)
from common.metrics import cost_fields
from common.redis_keys import (
    HEARTBEAT_MAX_AGE,
    METRICS_KEY,
    MODEL_KEY,
    TOMBSTONE_S,
    UNFINISHED_KEY,
    WEBHOOKS_DUE_KEY,
    WORKERS_KEY,
    corrected_key,
    digits_key,
    ending_keys,
    job_key,
    job_keys,
    new_job_id,
    tombstone_key,
)
from common.settings import Settings
from core.results import Result, model_label

log = logging.getLogger(__name__)

REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError)
"""What a client of `connect` raises while Redis is unreachable (restarting, or gone): the
callers wait and try again, or answer 503, rather than fail the work."""


def connect(settings: Settings, blocking_timeout: float | None = None) -> redis.Redis:
    """A Redis client that fails fast when Redis is down and reconnects by itself after.

    `socket_timeout` must outlast the longest blocking call (long-polls), hence the margin.
    """
    wait = blocking_timeout if blocking_timeout is not None else settings.max_wait
    return redis.Redis.from_url(
        settings.broker_url,
        socket_connect_timeout=2.0,
        socket_timeout=wait + 10.0,
        socket_keepalive=True,
        health_check_interval=30,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
    )


class JobStore:
    """Jobs in Redis; one instance per process, safe to share between threads."""

    def __init__(self, client: redis.Redis, ttl: int) -> None:
        self.redis = client
        self.ttl = ttl
        self._record = client.register_script(job_scripts.RECORD)
        self._create = client.register_script(job_scripts.CREATE)
        self._end = client.register_script(job_scripts.END)
        self._begin = client.register_script(job_scripts.BEGIN)
        self._store = client.register_script(job_scripts.STORE)
        self._callback_attempt = client.register_script(job_scripts.CALLBACK_ATTEMPT)
        self._overdue_webhooks = client.register_script(job_scripts.OVERDUE_WEBHOOKS)
        self._correct = client.register_script(job_scripts.CORRECT)
        self._unrecorded = client.register_script(job_scripts.UNRECORDED)

    @classmethod
    def from_settings(cls, settings: Settings) -> JobStore:
        return cls(connect(settings), settings.job_ttl)

    def ping(self) -> bool:
        return bool(self.redis.ping())

    # ---- the API side -------------------------------------------------------------------

    def create_job(
        self, files: Sequence[tuple[str, bytes]], chunk_size: int,
        max_unfinished: int | None = None, callback_url: str | None = None,
        read: str = "digit",
    ) -> tuple[str, list[Chunk]]:
        """`create` without a batch, as (job id, chunks)."""
        job = self.create(files, chunk_size, max_unfinished, callback_url, read)
        return job.id, job.chunks

    def create(
        self, files: Sequence[tuple[str, bytes]], chunk_size: int,
        max_unfinished: int | None = None, callback_url: str | None = None,
        read: str = "digit", batch: BatchQueue | None = None,
    ) -> NewJob:
        """Record a new job (status and counts) and store its first chunk's files, in one
        round trip (a single image's path pays one, not two); with `batch`, queue that chunk
        for the next interactive batch in the same step (and wake a fast lane, or ring the
        batch task's bell: `NewJob.rang`).

        The other chunks' files are stored with `store_images` right before each is
        enqueued, so workers start on the first chunks while the rest are still being
        stored. With `max_unfinished`, the same step counts unfinished jobs; when this one
        would be over the limit nothing is written and `QueueFull` raised.
        """
        job_id = new_job_id()
        now = time.time()
        expires_at = int(now) + self.ttl
        total = len(files)
        chunks = [Chunk(s, min(s + chunk_size, total)) for s in range(0, total, chunk_size)]
        fields = {
            "status": QUEUED, "total": total, "processed": 0, "failed": 0,
            "created_at": f"{now:.3f}", "expires_at": expires_at, "chunk_size": chunk_size,
            "read": read,
            **({"callback_url": callback_url, "callback_status": "pending",
                "callback_attempts": 0} if callback_url else {}),
        }
        job, images, _results, _done = job_keys(job_id)
        keys = [job, images, tombstone_key(job_id), UNFINISHED_KEY, METRICS_KEY]
        first = pack_files(files[chunks[0].start:chunks[0].stop]) if chunks else b""
        entry, bell_ms = "", 0
        if batch is not None and chunks:
            keys += [batch.waiting_key, batch.bell_key]
            entry, bell_ms = chunk_entry(job_id, chunks[0]), batch.bell_ms
            if batch.wake_key is not None and batch.lanes_key is not None:
                keys += [batch.wake_key, batch.lanes_key]
        created, unfinished, rang = self._create(keys=keys, args=[
            f"{now:.3f}", job_id, expires_at, -1 if max_unfinished is None else max_unfinished,
            expires_at + TOMBSTONE_S, first, entry, bell_ms,
            f"{now - HEARTBEAT_MAX_AGE:.3f}", batch.wake_tokens if batch else 0,
            *(item for pair in fields.items() for item in pair)])
        if not created:
            raise QueueFull(f"{unfinished} unfinished, limit {max_unfinished}")
        log.info("job %s: created, %d files in %d chunks", job_id, total, len(chunks),
                 extra={"job": job_id})
        return NewJob(job_id, chunks, bool(rang))

    def store_images(
        self, job_id: str, chunk: Chunk, files: Sequence[tuple[str, bytes]]
    ) -> bool:
        """Store the files of one chunk (`files` are all the job's files, in index order)
        as one value, with the job's expiry. False when the job has ended meanwhile
        (cancelled): nothing is stored, and nothing more need be enqueued."""
        job, images, _results, _done = job_keys(job_id)
        packed = pack_files(files[chunk.start:chunk.stop])
        return bool(self._store(keys=[job, images], args=[chunk.start, packed]))

    def get_job(
        self, job_id: str, with_results: bool = True, expect_ended: bool = False,
        results_as_json: bool = False,
    ) -> dict[str, Any] | None:
        """The job as the API shows it, or None when unknown or expired.

        `results` is the full list in upload order once the job has ended, else None; with
        `results_as_json` it is that list as JSON text (spliced, not re-encoded: fast for
        10,000 results). `expect_ended` reads job and results in one round trip.
        """
        job, _images, results, _done = job_keys(job_id)
        if with_results and expect_ended:
            pipe = self.redis.pipeline(transaction=True)
            _read_job(pipe, job_id)
            fields, raw, corrected = pipe.execute()
        else:
            fields, raw, corrected = self.redis.hgetall(job), None, None
        if with_results and raw is None and fields.get(b"status", b"").decode() in ENDED:
            pipe = self.redis.pipeline(transaction=True)
            pipe.hgetall(results)
            pipe.hgetall(corrected_key(job_id))
            raw, corrected = pipe.execute()
        return job_views.job_view(job_id, fields, raw, corrected, results_as_json)

    def wait_for_job(self, job_id: str, timeout: float) -> dict[str, Any] | None:
        """`get_job(results_as_json=True)` once the job has ended (at once if it has) or
        `timeout` seconds (> 0) have passed, in one round trip: the reads are pipelined
        behind the blocking wait, and Redis runs them as soon as it returns. Only for a job
        known to exist: the wait on an unknown id would last the whole `timeout`."""
        done = job_keys(job_id)[3]
        pipe = self.redis.pipeline(transaction=False)
        pipe.blmove(done, done, timeout, src="RIGHT", dest="LEFT")
        _read_job(pipe, job_id)
        _, fields, raw, corrected = pipe.execute()
        return job_views.job_view(job_id, fields, raw, corrected, results_as_json=True)

    def job_read(self, job_id: str) -> str:
        """What the job reads on each image: `digit` (also for jobs from before the field)
        or `number`."""
        value = self.redis.hget(job_key(job_id), "read")
        return value.decode() if value else "digit"

    def progress(self, job_id: str) -> dict[str, Any] | None:
        """`{"status", "total", "processed", "failed"}` of a job in one cheap read (event
        streams ask often); None when unknown or expired."""
        status, total, processed, failed = self.redis.hmget(
            job_key(job_id), "status", "total", "processed", "failed")
        if status is None:
            return None
        return {"status": status.decode(), "total": int(total or 0),
                "processed": int(processed or 0), "failed": int(failed or 0)}

    def results(self, job_id: str) -> list[dict[str, Any]] | None:
        """The results recorded so far, in upload order; None when the job is unknown."""
        raw = self._stored_results(job_id)
        return None if raw is None else job_views.rows(*raw)

    def results_json(self, job_id: str) -> str | None:
        """`results` as JSON text, spliced from the stored chunks without re-encoding (but
        the chunks holding a correction)."""
        raw = self._stored_results(job_id)
        return None if raw is None else job_views.rows_json(*raw)

    def _stored_results(
        self, job_id: str
    ) -> tuple[dict[bytes, bytes], dict[bytes, bytes]] | None:
        """The results hash (chunk start -> JSON array) and the corrections hash (index ->
        JSON) as stored; None for an unknown job."""
        job, _images, results, _done = job_keys(job_id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.exists(job)
        pipe.hgetall(results)
        pipe.hgetall(corrected_key(job_id))
        exists, raw, corrected = pipe.execute()
        return (raw, corrected) if exists else None

    def stored_result(self, job_id: str, index: int | None) -> StoredResult | None:
        """One result as stored, with its normalised digits and its correction, for a person
        to correct it; None when the job is unknown or expired. `result` is None when
        `index` is outside the job or its chunk was never recorded."""
        status, total, chunk_size, read = self.redis.hmget(
            job_key(job_id), "status", "total", "chunk_size", "read")
        if status is None:
            return None
        stored = StoredResult(status.decode(), (read or b"digit").decode(), int(total or 0))
        if index is None or not 0 <= index < stored.total or not chunk_size:
            return stored
        start = index - index % int(chunk_size)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hget(job_keys(job_id)[2], start)
        pipe.hget(digits_key(job_id), start)
        pipe.hget(corrected_key(job_id), index)
        rows, packed, corrected = pipe.execute()
        row = next((r for r in json.loads(rows) if r["index"] == index), None) if rows else None
        if row is None:
            return stored
        if corrected is not None:
            row["corrected"] = json.loads(corrected)
        digits = unpack_digits(packed)[index - start] if packed else []
        return replace(stored, result=row, digits=digits)

    def set_corrected(self, job_id: str, index: int, value: int | str) -> bool:
        """Record a person's correction of result `index` (every later read shows it as
        `corrected`); False when the job is gone."""
        return bool(self._correct(keys=[job_key(job_id), corrected_key(job_id)],
                                  args=[index, json.dumps(value)]))

    def expired_at(self, job_id: str) -> str | None:
        """When a job that is gone expired (ISO 8601), from its tombstone; None when the id
        is unknown (never created, refused, or expired more than TOMBSTONE_S ago). Ask only
        after a lookup found no job: the tombstone exists while the job does too."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.exists(job_key(job_id))
        pipe.get(tombstone_key(job_id))
        exists, expires_at = pipe.execute()
        return None if exists or expires_at is None else job_views.iso(expires_at)

    def wait_until_ended(self, job_id: str, timeout: float) -> bool:
        """Block up to `timeout` seconds until the job ends (at once if it has); whether it
        has ended."""
        done = job_keys(job_id)[3]
        if timeout <= 0:
            return bool(self.redis.exists(done))
        return self.redis.blmove(done, done, timeout, src="RIGHT", dest="LEFT") is not None

    def cancel(self, job_id: str) -> int:
        """1 cancelled now, 0 had already ended (409), -1 unknown. Pending chunks skip."""
        outcome = int(self._end(keys=ending_keys(job_id),
                                args=[f"{time.time():.3f}", job_id, CANCELLED]))
        if outcome == 1:
            log.info("job %s: cancelled", job_id, extra={"job": job_id})
        return outcome

    def fail(self, job_id: str, reason: str) -> None:
        """End a job as failed when the service cannot process it (e.g. enqueue failed)."""
        self._end(keys=ending_keys(job_id),
                  args=[f"{time.time():.3f}", job_id, FAILED])
        log.error("job %s: failed: %s", job_id, reason, extra={"job": job_id})

    # ---- the worker side ----------------------------------------------------------------

    def begin_chunk(self, job_id: str, chunk: Chunk, worker: str = "") -> ChunkStart:
        """Count this delivery of the chunk, note which process (`worker`) took it, mark the
        job running and fetch the chunk's files, in one round trip; `runnable` says whether
        to go on (not cancelled, ended or gone)."""
        job, images, _results, _done = job_keys(job_id)
        return chunk_start(chunk, self._begin(keys=[job, images],
                                              args=[f"{time.time():.3f}", chunk.start, worker]))

    def record_results(
        self, job_id: str, chunk: Chunk, results: Sequence[Result], worker: str = "",
        seconds: float = 0.0, model: str | None = None, cpu_seconds: float | None = None,
    ) -> tuple[int, str | None]:
        """Record a chunk's results once (atomic; a chunk that runs twice changes nothing the
        second time), bump the counters, end the job when all are in.

        `results` are `core.results.Result` objects, one per image of the chunk; `worker`
        names the process that read them (kept with the chunk, see `chunk_workers`);
        `seconds` is how long the chunk took (the `mnistq_chunk_seconds` histogram);
        `model` the version that read it (the job's `models`). The results' normalised
        digits (`Result.normalised`) are kept beside them, for a person's correction.
        `cpu_seconds`, given for a big job's chunk, is the CPU time its reading thread spent
        on it: it joins the job's read mode's cost per image (`seconds_per_image`).
        Returns (newly recorded, job status after).
        """
        return _recorded(self._record(**_record_call(job_id, chunk, results, worker, seconds,
                                                     model, cpu_seconds)))

    def record_many(
        self, chunks: Sequence[tuple[str, Chunk, Sequence[Result], float]], worker: str = "",
        model: str | None = None,
    ) -> list[tuple[int, str | None]]:
        """`record_results` for several jobs' chunks (job id, chunk, results, seconds each),
        in one round trip (a pipeline costs one more, its SCRIPT EXISTS, so one chunk goes
        alone)."""
        if len(chunks) == 1:
            job_id, chunk, results, seconds = chunks[0]
            return [self.record_results(job_id, chunk, results, worker, seconds, model)]
        pipe = self.redis.pipeline(transaction=False)
        for job_id, chunk, results, seconds in chunks:
            self._record(**_record_call(job_id, chunk, results, worker, seconds, model, None),
                         client=pipe)
        return [_recorded(reply) for reply in (pipe.execute() if chunks else [])]

    def unrecorded_chunks(self, quiet: float, most: int = 1000) -> list[tuple[str, Chunk]]:
        """The chunks not recorded yet of unfinished jobs that have made no progress (no chunk
        recorded since, nor created) for `quiet` seconds (`common.lost_chunks`)."""
        entries = self._unrecorded(keys=[UNFINISHED_KEY],
                                   args=[f"{time.time():.3f}", quiet, most, job_key("")])
        return [parse_chunk_entry(entry) for entry in entries]

    def chunk_workers(self, job_id: str) -> dict[int, str]:
        """Chunk start -> the worker process that recorded that chunk, for the chunks
        recorded so far (who read what, written in the same step as the results)."""
        fields = self.redis.hgetall(job_key(job_id))
        return {int(name[len(b"worker:"):]): value.decode()
                for name, value in fields.items() if name.startswith(b"worker:")}

    # ---- workers and the model ----------------------------------------------------------

    def heartbeat(self, worker: str, max_age: float) -> None:
        """Say that `worker` lives with the model loaded; drop workers silent for `max_age`."""
        now = time.time()
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(WORKERS_KEY, {worker: now})
        pipe.zremrangebyscore(WORKERS_KEY, "-inf", now - max_age)
        pipe.execute()

    def forget_worker(self, worker: str) -> None:
        self.redis.zrem(WORKERS_KEY, worker)

    def live_workers(self, max_age: float) -> int:
        """Workers whose last heartbeat is younger than `max_age` seconds."""
        return int(self.redis.zcount(WORKERS_KEY, time.time() - max_age, "+inf"))

    def publish_model(self, metadata: dict[str, Any]) -> None:
        self.redis.set(MODEL_KEY, json.dumps(metadata, default=str))

    def model_metadata(self) -> dict[str, Any] | None:
        raw = self.redis.get(MODEL_KEY)
        return None if raw is None else json.loads(raw)

    # ---- webhooks -----------------------------------------------------------------------

    def begin_callback(self, job_id: str) -> str | None:
        """A new delivery id when the job wants a webhook and none was started yet (so the
        one webhook of a job is sent once, whoever sees it end); else None."""
        key = job_key(job_id)
        if not self.redis.hexists(key, "callback_url"):
            return None
        delivery = secrets.token_hex(16)
        return delivery if self.redis.hsetnx(key, "callback_delivery", delivery) else None

    def callback_queued(self, job_id: str) -> None:
        """The job's webhook delivery is on the queue: take it out of the outbox."""
        self.redis.zrem(WEBHOOKS_DUE_KEY, job_id)

    def overdue_callbacks(self, grace: float, most: int = 100) -> list[tuple[str, str]]:
        """(job id, delivery id) of the webhooks that fell due `grace` seconds ago or more and
        were never queued (whoever ended the job died first), claimed for another `grace`
        seconds; entries of expired jobs, or whose delivery has already ended, are dropped."""
        ids = self._overdue_webhooks(keys=[WEBHOOKS_DUE_KEY],
                                     args=[f"{time.time():.3f}", grace, most])
        overdue = []
        for raw in ids:
            job_id = raw.decode()
            delivery, status = self.redis.hmget(job_key(job_id), "callback_delivery",
                                                "callback_status")
            delivery = delivery.decode() if delivery else self.begin_callback(job_id)
            if delivery is None or status in (b"delivered", b"failed"):
                self.callback_queued(job_id)
            else:
                overdue.append((job_id, delivery))
        return overdue

    def callback_target(self, job_id: str) -> tuple[str, dict[str, Any]] | None:
        """(callback URL, webhook payload) of an ended job; None when gone or without one."""
        url, status, total, processed, failed = self.redis.hmget(
            job_key(job_id), "callback_url", "status", "total", "processed", "failed")
        if url is None or status is None:
            return None
        return url.decode(), {
            "id": job_id, "status": status.decode(), "total": int(total or 0),
            "processed": int(processed or 0), "failed": int(failed or 0),
            "url": f"/api/v1/jobs/{job_id}",
        }

    def record_callback_attempt(self, job_id: str, status: str, error: str | None) -> int:
        """Count one delivery attempt and its outcome (`delivered`, `retrying`, `failed`);
        the attempts so far, or -1 when the job has expired."""
        return int(self._callback_attempt(keys=[job_key(job_id)], args=[status, error or ""]))

    # ---- metrics ------------------------------------------------------------------------

    def seconds_per_image(self, read: str = "digit", min_images: int = 1000) -> float | None:
        """The workers' mean CPU seconds per image of the big jobs' chunks read in mode
        `read` so far (from the metrics hash); None until `min_images` have been read.

        CPU time of big chunks only, per mode, so that neither a busy machine (wall time
        stretched by other processes), nor the small jobs (a batch's fixed costs over one
        image), nor the other mode (a number costs some 150 digits) shrinks the chunks.
        """
        seconds, images = self.redis.hmget(METRICS_KEY, *cost_fields(read))
        count = int(images or 0)
        return float(seconds) / count if seconds and count >= min_images else None

    def metrics_snapshot(self, queue_keys: Sequence[str], max_age: float) -> MetricsSnapshot:
        """Everything `/metrics` shows about the whole system, in one round trip of O(1) and
        O(log n) commands (cheap at any number of jobs): the counters hash, the broker's
        queue lengths (`queue_keys`), unfinished jobs, live workers, the model."""
        now = time.time()
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(METRICS_KEY)
        pipe.zcount(UNFINISHED_KEY, now, "+inf")
        pipe.zcount(WORKERS_KEY, now - max_age, "+inf")
        pipe.get(MODEL_KEY)
        for key in queue_keys:
            pipe.llen(key)
        fields, unfinished, workers, model, *lengths = pipe.execute()
        version = None
        if model is not None:
            with contextlib.suppress(ValueError, AttributeError):
                version = model_label(json.loads(model))
        return MetricsSnapshot(
            counters={k.decode(): v.decode() for k, v in fields.items()},
            queue_chunks=sum(lengths), unfinished=int(unfinished), workers_live=int(workers),
            model_version=None if version is None else str(version),
        )


def chunk_start(chunk: Chunk, reply: list[Any]) -> ChunkStart:
    """`begin_chunk`'s reply (`LUA_BEGIN`) as a ChunkStart: the chunk's files when its job
    is runnable."""
    status, attempts, packed, *read = reply
    status = status.decode() if isinstance(status, bytes) else status
    mode = read[0].decode() if read and read[0] else "digit"
    files: list[tuple[int, str, bytes | None]] = []
    if status in (QUEUED, RUNNING):
        count = chunk.stop - chunk.start
        if packed is not None:
            files = [(chunk.start + offset, name, data) for offset, (name, data)
                     in enumerate(unpack_files(packed, count))]
        else:  # already recorded (a late redelivery): nothing left to read
            files = [(chunk.start + offset, "", None) for offset in range(count)]
    return ChunkStart(status or None, int(attempts), files, mode)


def _record_call(job_id: str, chunk: Chunk, results: Sequence[Result], worker: str,
                 seconds: float, model: str | None, cpu_seconds: float | None
                 ) -> dict[str, list[Any]]:
    """The keys and arguments of `job_scripts.RECORD` for one chunk's results."""
    rows = [r.to_dict() for r in results]
    failed = sum(1 for row in rows if row["error"])
    normalised = [r.normalised for r in results]
    digits = pack_digits(normalised) if any(normalised) else b""
    return {"keys": [*ending_keys(job_id), digits_key(job_id)],
            "args": [f"{time.time():.3f}", job_id, chunk.start,
                     json.dumps(rows, separators=(",", ":")), len(rows), failed, worker,
                     f"{seconds:.6f}", model or "", digits,
                     "" if cpu_seconds is None else f"{cpu_seconds:.6f}"]}


def _recorded(reply: list[Any]) -> tuple[int, str | None]:
    """`job_scripts.RECORD`'s reply: (newly recorded, job status after)."""
    added, status = reply
    status = status.decode() if isinstance(status, bytes) else status
    return int(added), (status or None)


def _read_job(pipe: redis.client.Pipeline, job_id: str) -> None:
    """Queue the reads of a job's hash, results and corrections on `pipe`."""
    job, _images, results, _done = job_keys(job_id)
    pipe.hgetall(job)
    pipe.hgetall(results)
    pipe.hgetall(corrected_key(job_id))
