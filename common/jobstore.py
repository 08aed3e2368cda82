"""The Redis job store: the one module that knows every key, its layout and its TTL.

The API writes a job here (file names and bytes under the job: the claim check), workers
read a chunk's files and record its results, and clients read the job back. Every key of a job
expires at the same instant (`expires_at`, set at creation), so a job is never half gone.

Key layout (`{id}` is 32 hex digits, 128 random bits):

| key                            | type   | holds                                                  |
|--------------------------------|--------|--------------------------------------------------------|
| `mnistq:job:{id}`              | hash   | status, total, processed, failed, created_at,          |
|                                |        | started_at, finished_at, expires_at, chunk_size,       |
|                                |        | `attempts:{start}` per chunk delivery count,           |
|                                |        | `reader:{start}` the process its latest delivery went  |
|                                |        | to (a chunk read now: reader, no worker field yet),    |
|                                |        | `worker:{start}` the process that recorded the chunk   |
|                                |        | callback_url, callback_delivery (id), callback_status, |
|                                |        | callback_attempts, callback_last_error (webhooks)      |
|                                |        | progress_at: when a chunk was last recorded            |
|                                |        | `model:{version}` per model version that read a chunk  |
| `mnistq:job:{id}:images`       | hash   | chunk start -> the chunk's files (names and bytes)     |
|                                |        | packed in one value (`pack_files`); deleted when the   |
|                                |        | chunk is recorded                                      |
| `mnistq:job:{id}:results`      | hash   | chunk start -> JSON array of its results, HSETNX once  |
| `mnistq:job:{id}:digits`       | hash   | chunk start -> the normalised 28x28 digits of its      |
|                                |        | results (`pack_digits`), written with the results, for |
|                                |        | a person's correction (the uploads are gone by then)   |
| `mnistq:job:{id}:corrected`    | hash   | result index -> JSON of a person's correction (a label |
|                                |        | or a text): the results' `corrected` (api/review.py)   |
| `mnistq:job:{id}:done`         | list   | one token pushed when the job ends: long-poll wake-up  |
| `mnistq:jobs:unfinished`       | zset   | job id -> expires_at, for the queued-jobs limit (429)  |
| `mnistq:expired:{id}`          | string | the job's expires_at (the tombstone), kept TOMBSTONE_S |
|                                |        | longer than the job: 410 "expired", not 404 "unknown"  |
| `mnistq:webhooks:due`          | zset   | job id -> when its webhook fell due: the outbox, added |
|                                |        | by the script that ends the job, removed once the      |
|                                |        | delivery is queued (a worker re-queues what is left)   |
| `mnistq:workers`               | zset   | worker process name -> last heartbeat (epoch seconds)  |
| `mnistq:model`                 | string | metadata JSON of the model the workers serve           |
| `mnistq:metrics`               | hash   | system-wide counters and histograms (common.metrics),  |
|                                |        | bumped by the scripts below; never expires             |

Expiry is Redis's (no sweeper process): the tombstone is written with the job, in the same
transaction, and outlives it, so a lookup that finds no job hash but a tombstone knows the job
expired, and when.

Long-polls: when a job ends, one token is pushed to its `done` list; a waiter runs
`BLMOVE done done RIGHT LEFT timeout`, which returns at once while the token is there and
puts it back, so every waiter (now or later) wakes up without polling.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import logging
import re
import secrets
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from common.metrics import LUA_OBSERVE
from common.settings import Settings
from core.results import Result, model_label

log = logging.getLogger(__name__)

PREFIX = "mnistq"
UNFINISHED_KEY = f"{PREFIX}:jobs:unfinished"
WORKERS_KEY = f"{PREFIX}:workers"
MODEL_KEY = f"{PREFIX}:model"
METRICS_KEY = f"{PREFIX}:metrics"
WEBHOOKS_DUE_KEY = f"{PREFIX}:webhooks:due"

TOMBSTONE_S = 7 * 24 * 3600
"""Seconds a job's tombstone outlives the job: how long an expired id answers 410, not 404."""

QUEUED, RUNNING, SUCCEEDED, CANCELLED, FAILED = (
    "queued", "running", "succeeded", "cancelled", "failed",
)
STATUSES = (QUEUED, RUNNING, SUCCEEDED, CANCELLED, FAILED)
ENDED = frozenset({SUCCEEDED, CANCELLED, FAILED})

HEARTBEAT_EVERY = 2.0
"""Seconds between worker heartbeats; `/readyz` trusts one younger than HEARTBEAT_MAX_AGE."""
HEARTBEAT_MAX_AGE = 6.0

_JOB_ID = re.compile(r"^[0-9a-f]{32}$")


def new_job_id() -> str:
    """128 random bits as 32 hex digits: unguessable, and cheap to validate."""
    return secrets.token_hex(16)


def is_job_id(value: str) -> bool:
    """True when `value` has the shape of a job id (malformed ids are simply 'not found')."""
    return bool(_JOB_ID.match(value))


def job_key(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}"


def chunk_entry(job_id: str, chunk: Chunk) -> str:
    """A chunk named in one string, `{job id}:{start}:{stop}` (lists of chunks in Redis)."""
    return f"{job_id}:{chunk.start}:{chunk.stop}"


def parse_chunk_entry(entry: bytes | str) -> tuple[str, Chunk]:
    text = entry.decode() if isinstance(entry, bytes) else entry
    job_id, start, stop = text.rsplit(":", 2)
    return job_id, Chunk(int(start), int(stop))


def tombstone_key(job_id: str) -> str:
    return f"{PREFIX}:expired:{job_id}"


def _keys(job_id: str) -> tuple[str, str, str, str]:
    """job hash, images, results, done: in the order the Lua scripts take them."""
    base = job_key(job_id)
    return base, f"{base}:images", f"{base}:results", f"{base}:done"


def _ending_keys(job_id: str) -> list[str]:
    """The KEYS of the scripts that may end a job (`_END_JOB`)."""
    return [*_keys(job_id), UNFINISHED_KEY, METRICS_KEY, WEBHOOKS_DUE_KEY]


def digits_key(job_id: str) -> str:
    return f"{job_key(job_id)}:digits"


def corrected_key(job_id: str) -> str:
    return f"{job_key(job_id)}:corrected"


def iso(ts: str | bytes | float | None) -> str | None:
    """Epoch seconds as an ISO 8601 UTC timestamp (milliseconds), None stays None."""
    if ts in (None, b"", ""):
        return None
    value = datetime.fromtimestamp(float(ts), tz=UTC)  # type: ignore[arg-type]
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


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


# Ending a job, shared by the scripts that may end one (KEYS: job, images, results, done,
# unfinished, metrics, webhooks due): set its status, drop its images, wake its long-polls,
# count it, and when it wants a webhook put it in the outbox in the same step, so that the
# webhook is sent even if the process that ended the job dies before queuing the delivery.
_END_JOB = LUA_OBSERVE + """
local function end_job(now, job_id, status, expires_at)
  redis.call('HSET', KEYS[1], 'status', status, 'finished_at', now)
  redis.call('ZREM', KEYS[5], job_id)
  redis.call('DEL', KEYS[2])
  redis.call('RPUSH', KEYS[4], '1')
  redis.call('EXPIREAT', KEYS[4], expires_at)
  job_ended(KEYS[6], KEYS[1], now, status)
  if redis.call('HEXISTS', KEYS[1], 'callback_url') == 1 then
    redis.call('ZADD', KEYS[7], now, job_id)
  end
end
"""

# Record a chunk's results once: one HSETNX of the chunk's JSON array under its start index,
# so a chunk that runs twice adds nothing the second time; counters move only for a new
# chunk; the job ends when processed reaches total. The chunk's packed images are deleted.
# KEYS: job, images, results, done, unfinished, metrics, webhooks due, digits.
# ARGV: now, job id, chunk start, results JSON array, results in it, failed among them,
# the recording worker's name, the chunk's seconds, the model version that read it ('' none),
# the chunk's packed normalised digits ('' none; KEYS[8] the digits hash, expiring with the job).
# Returns {newly recorded, status after}; {-1, ''} when the job is gone.
_RECORD = _END_JOB + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {-1, ''} end
observe(KEYS[6], 'chunk_seconds', tonumber(ARGV[8]))
redis.call('HDEL', KEYS[2], ARGV[3])
if status ~= 'queued' and status ~= 'running' then return {0, status} end
local expires_at = redis.call('HGET', KEYS[1], 'expires_at')
local added, failed = 0, 0
if redis.call('HSETNX', KEYS[3], ARGV[3], ARGV[4]) == 1 then
  added, failed = tonumber(ARGV[5]), tonumber(ARGV[6])
  redis.call('EXPIREAT', KEYS[3], expires_at)
  redis.call('HSET', KEYS[1], 'worker:' .. ARGV[3], ARGV[7], 'progress_at', ARGV[1])
  if ARGV[9] ~= '' then redis.call('HSET', KEYS[1], 'model:' .. ARGV[9], 1) end
  if ARGV[10] ~= '' then
    redis.call('HSET', KEYS[8], ARGV[3], ARGV[10])
    redis.call('EXPIREAT', KEYS[8], expires_at)
  end
  redis.call('HINCRBY', KEYS[6], 'images:read', added - failed)
  redis.call('HINCRBY', KEYS[6], 'images:error', failed)
end
if status == 'queued' then
  redis.call('HSET', KEYS[1], 'status', 'running', 'started_at', ARGV[1])
  status = 'running'
end
local processed = redis.call('HINCRBY', KEYS[1], 'processed', added)
if failed > 0 then redis.call('HINCRBY', KEYS[1], 'failed', failed) end
if processed >= tonumber(redis.call('HGET', KEYS[1], 'total')) then
  status = 'succeeded'
  end_job(ARGV[1], ARGV[2], status, expires_at)
end
return {added, status}
"""

# Create a job in one round trip: refuse it, writing nothing, when ARGV[4] unfinished jobs or
# more wait (-1: no limit); else record it with its tombstone, store its first chunk's packed
# images, and with KEYS[6..7] queue that chunk for the next interactive batch: with KEYS[8..9]
# and a fast lane alive (registered since ARGV[9]), wake one (a token on the wake list, no
# more tokens than chunks waiting nor ARGV[10]); else ring the bell unless it rings already
# (rang: the caller sends the batch task).
# KEYS: job, images, tombstone, unfinished, metrics[, batch list, bell[, wake list, lanes]].
# ARGV: now, job id, expires_at, limit, tombstone's expiry, first chunk's packed images, batch
# entry, bell ms, lanes alive since, most wake tokens, then the job hash's field-value pairs.
# Returns {created, unfinished before it, rang}.
_CREATE = """
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', ARGV[1])
local unfinished = redis.call('ZCARD', KEYS[4])
local limit = tonumber(ARGV[4])
if limit >= 0 and unfinished >= limit then return {0, unfinished, 0} end
redis.call('HSET', KEYS[1], unpack(ARGV, 11))
redis.call('EXPIREAT', KEYS[1], ARGV[3])
redis.call('SET', KEYS[3], ARGV[3], 'EXAT', ARGV[5])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[2])
redis.call('HINCRBY', KEYS[5], 'jobs_created', 1)
if ARGV[6] ~= '' then
  redis.call('HSET', KEYS[2], 0, ARGV[6])
  redis.call('EXPIREAT', KEYS[2], ARGV[3])
end
if #KEYS < 7 then return {1, unfinished, 0} end
local waiting = redis.call('RPUSH', KEYS[6], ARGV[7])
if #KEYS >= 9 and redis.call('ZCOUNT', KEYS[9], ARGV[9], '+inf') > 0 then
  redis.call('RPUSH', KEYS[8], 1)
  redis.call('LTRIM', KEYS[8], -math.min(waiting, tonumber(ARGV[10])), -1)
  return {1, unfinished, 0}
end
if redis.call('SET', KEYS[7], 1, 'NX', 'PX', ARGV[8]) then return {1, unfinished, 1} end
return {1, unfinished, 0}
"""

# Store one chunk's packed images while the job is still queued or running, expiring with
# the job. KEYS: job, images. ARGV: chunk start, packed bytes. Returns 1 when stored, else 0.
_STORE = """
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'queued' and status ~= 'running' then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('EXPIREAT', KEYS[2], redis.call('HGET', KEYS[1], 'expires_at'))
return 1
"""

# The chunks of unfinished jobs not recorded yet, in jobs with no progress (no chunk recorded,
# or created) for ARGV[2] seconds: candidates for `common.lost_chunks`. KEYS: unfinished.
# ARGV: now, quiet seconds, most jobs looked at, the job keys' prefix (`job_key("")`). Returns
# `{job id}:{start}:{stop}` entries.
_UNRECORDED = """
local found = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[3]) - 1)) do
  local key = ARGV[4] .. id
  local f = redis.call('HMGET', key, 'status', 'created_at', 'progress_at', 'chunk_size', 'total')
  if (f[1] == 'queued' or f[1] == 'running') and f[4] and f[5] then
    local last = math.max(tonumber(f[2] or 0), tonumber(f[3] or 0))
    if tonumber(ARGV[1]) - last >= tonumber(ARGV[2]) then
      local size, total = tonumber(f[4]), tonumber(f[5])
      for start = 0, total - 1, size do
        if redis.call('HEXISTS', key .. ':results', start) == 0 then
          table.insert(found, id .. ':' .. start .. ':' .. math.min(start + size, total))
        end
      end
    end
  end
end
return found
"""

# End a job early (cancel or fail). KEYS: those of `_END_JOB`. ARGV: now, job id, new status.
# Returns 1 when ended now, 0 when it had already ended, -1 when gone.
_END = _END_JOB + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return -1 end
if status ~= 'queued' and status ~= 'running' then return 0 end
end_job(ARGV[1], ARGV[2], ARGV[3], redis.call('HGET', KEYS[1], 'expires_at'))
return 1
"""

# Webhooks whose delivery was never queued: the outbox's entries due `grace` seconds ago or
# more, claimed (due again `grace` seconds from now, in case the claimer dies too).
# KEYS: webhooks due. ARGV: now, grace, most. Returns the job ids.
_OVERDUE_WEBHOOKS = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]),
                       'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[1], id) end
return ids
"""

# A worker starts a chunk: count the delivery, note the reading process, mark the job running,
# hand out the chunk's packed files (false when already consumed). begin_chunk(job key,
# images key, now, chunk start, the reading process) returns {status, attempts, packed, read
# mode}; {'', 0, false} when the job is gone, {status, 0, false} when ended. Shared with
# common.interactive's take, which begins what it takes in the same step.
LUA_BEGIN = """
local function begin_chunk(job, images, now, start, worker)
  local status = redis.call('HGET', job, 'status')
  if not status then return {'', 0, false} end
  if status ~= 'queued' and status ~= 'running' then return {status, 0, false} end
  local attempts = redis.call('HINCRBY', job, 'attempts:' .. start, 1)
  redis.call('HSET', job, 'reader:' .. start, worker)
  if status == 'queued' then
    redis.call('HSET', job, 'status', 'running', 'started_at', now)
    status = 'running'
  end
  return {status, attempts, redis.call('HGET', images, start), redis.call('HGET', job, 'read')}
end
"""

# KEYS: job, images. ARGV: now, chunk start, the reading process.
_BEGIN = LUA_BEGIN + "return begin_chunk(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3])"


# Count one webhook attempt of a job that still exists (never recreate an expired hash).
# KEYS: job. ARGV: status after, last error (may be ''). Returns attempts, or -1 when gone.
_CALLBACK_ATTEMPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local attempts = redis.call('HINCRBY', KEYS[1], 'callback_attempts', 1)
redis.call('HSET', KEYS[1], 'callback_status', ARGV[1], 'callback_last_error', ARGV[2])
return attempts
"""


# A person's correction of one result of a job that still exists, expiring with the job.
# KEYS: job, corrected. ARGV: result index, JSON value. Returns 1, or 0 when the job is gone.
_CORRECT = """
local expires_at = redis.call('HGET', KEYS[1], 'expires_at')
if not expires_at then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('EXPIREAT', KEYS[2], expires_at)
return 1
"""


def pack_files(files: Sequence[tuple[str, bytes]]) -> bytes:
    """A chunk's `(filename, bytes)` as one value: the lengths of the names, then of the
    files (uint32, little-endian), then the names (UTF-8), then the files' bytes.

    One value per chunk instead of a hash field per image and a list of names: a sixth of
    Redis's CPU for storing, fetching and deleting a chunk, one reply to parse instead of
    hundreds, and no 10,000-name write before a job's first chunk can start.
    """
    names = [name.encode("utf-8", "replace") for name, _ in files]
    datas = [data for _, data in files]
    head = struct.pack(f"<{2 * len(files)}I", *map(len, names), *map(len, datas))
    return head + b"".join(names) + b"".join(datas)


def unpack_files(packed: bytes, count: int) -> list[tuple[str, bytes]]:
    """The `count` `(filename, bytes)` of a `pack_files` value."""
    lengths = struct.unpack_from(f"<{2 * count}I", packed)
    if 8 * count + sum(lengths) != len(packed):
        raise ValueError(f"packed chunk of {len(packed)} bytes does not hold {count} files")
    pieces, offset = [], 8 * count
    for length in lengths:
        pieces.append(packed[offset:offset + length])
        offset += length
    return [(name.decode("utf-8", "replace"), data)
            for name, data in zip(pieces[:count], pieces[count:], strict=True)]


DIGIT_SHAPE = (28, 28)
_PIXELS = DIGIT_SHAPE[0] * DIGIT_SHAPE[1]
_MASK_BYTES = _PIXELS // 8


def pack_digits(per_result: Sequence[Sequence[np.ndarray]]) -> bytes:
    """The normalised digits of a chunk's results (none, one, or one per digit of a number
    each) as one value: the result count (uint32), each result's digit count (uint16), a
    bit mask of the non-zero pixels of every digit, then those pixels' values.

    MNIST-form digits are four-fifths black: this is a third of their 784 bytes, packed and
    unpacked with a few array operations per chunk (zlib: a quarter fewer bytes at 4.4 times
    the CPU; `python -m bench hotpaths`)."""
    counts = [len(images) for images in per_result]
    head = struct.pack(f"<I{len(counts)}H", len(counts), *counts)
    if not sum(counts):
        return head
    flat = np.stack([image for images in per_result for image in images]).reshape(-1, _PIXELS)
    ink = flat != 0
    return head + np.packbits(ink, axis=1).tobytes() + flat[ink].tobytes()


def unpack_digits(packed: bytes) -> list[list[np.ndarray]]:
    """Per result, its normalised digits (uint8 (28, 28) each) from a `pack_digits` value."""
    (n,) = struct.unpack_from("<I", packed)
    counts = struct.unpack_from(f"<{n}H", packed, 4)
    total, offset = sum(counts), 4 + 2 * n
    masks = np.frombuffer(packed, np.uint8, total * _MASK_BYTES, offset)
    ink = np.unpackbits(masks.reshape(total, _MASK_BYTES), axis=1).astype(bool)
    values = np.frombuffer(packed, np.uint8, offset=offset + total * _MASK_BYTES)
    if values.size != int(ink.sum()):
        raise ValueError(f"packed digits of {len(packed)} bytes do not hold {total} digits")
    flat = np.zeros((total, _PIXELS), np.uint8)
    flat[ink] = values
    digits = list(flat.reshape(total, *DIGIT_SHAPE))
    out, start = [], 0
    for count in counts:
        out.append(digits[start:start + count])
        start += count
    return out


@dataclass(frozen=True)
class BatchQueue:
    """Where a small job's chunk waits for an interactive batch (common.interactive)."""

    waiting_key: str
    bell_key: str
    bell_ms: int
    """How long a bell rung without a task behind it lasts."""
    wake_key: str | None = None
    """With `lanes_key`: the list whose tokens wake the workers' fast lanes (worker/lane.py),
    pushed instead of ringing the bell while a lane is alive."""
    lanes_key: str | None = None
    """The fast lanes alive: lane -> when its process last said so."""
    wake_tokens: int = 0
    """Most tokens kept on the wake list."""


class QueueFull(Exception):
    """Too many unfinished jobs to accept another one."""


@dataclass(frozen=True)
class Chunk:
    """A slice [start, stop) of a job's images: the unit of work of one Celery task."""

    start: int
    stop: int


@dataclass(frozen=True)
class NewJob:
    """A job just created (`JobStore.create`): its id, its chunks (the first one's files
    stored), and whether it rang the interactive batch's bell (send the batch task)."""

    id: str
    chunks: list[Chunk]
    rang: bool = False


@dataclass(frozen=True)
class ChunkStart:
    """What a worker learns when it begins a chunk: whether to run it, which delivery this
    is, and the chunk's `(index, filename, bytes)` (filename "" and bytes None once the
    chunk has been recorded: a late redelivery has nothing left to read)."""

    status: str | None
    attempts: int
    files: list[tuple[int, str, bytes | None]]
    read: str = "digit"
    """What the job reads on each image: `digit` or `number` (`job_read`)."""

    @property
    def runnable(self) -> bool:
        return self.status in (QUEUED, RUNNING)


class JobStore:
    """Jobs in Redis; one instance per process, safe to share between threads."""

    def __init__(self, client: redis.Redis, ttl: int) -> None:
        self.redis = client
        self.ttl = ttl
        self._record = client.register_script(_RECORD)
        self._create = client.register_script(_CREATE)
        self._end = client.register_script(_END)
        self._begin = client.register_script(_BEGIN)
        self._store = client.register_script(_STORE)
        self._callback_attempt = client.register_script(_CALLBACK_ATTEMPT)
        self._overdue_webhooks = client.register_script(_OVERDUE_WEBHOOKS)
        self._correct = client.register_script(_CORRECT)
        self._unrecorded = client.register_script(_UNRECORDED)

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
        job, images, _results, _done = _keys(job_id)
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
        job, images, _results, _done = _keys(job_id)
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
        job, _images, results, _done = _keys(job_id)
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
        return _job_view(job_id, fields, raw, corrected, results_as_json)

    def wait_for_job(self, job_id: str, timeout: float) -> dict[str, Any] | None:
        """`get_job(results_as_json=True)` once the job has ended (at once if it has) or
        `timeout` seconds (> 0) have passed, in one round trip: the reads are pipelined
        behind the blocking wait, and Redis runs them as soon as it returns. Only for a job
        known to exist: the wait on an unknown id would last the whole `timeout`."""
        done = _keys(job_id)[3]
        pipe = self.redis.pipeline(transaction=False)
        pipe.blmove(done, done, timeout, src="RIGHT", dest="LEFT")
        _read_job(pipe, job_id)
        _, fields, raw, corrected = pipe.execute()
        return _job_view(job_id, fields, raw, corrected, results_as_json=True)

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
        return None if raw is None else _rows(*raw)

    def results_json(self, job_id: str) -> str | None:
        """`results` as JSON text, spliced from the stored chunks without re-encoding (but
        the chunks holding a correction)."""
        raw = self._stored_results(job_id)
        return None if raw is None else _rows_json(*raw)

    def _stored_results(
        self, job_id: str
    ) -> tuple[dict[bytes, bytes], dict[bytes, bytes]] | None:
        """The results hash (chunk start -> JSON array) and the corrections hash (index ->
        JSON) as stored; None for an unknown job."""
        job, _images, results, _done = _keys(job_id)
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
        pipe.hget(_keys(job_id)[2], start)
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
        return None if exists or expires_at is None else iso(expires_at)

    def wait_until_ended(self, job_id: str, timeout: float) -> bool:
        """Block up to `timeout` seconds until the job ends (at once if it has); whether it
        has ended."""
        done = _keys(job_id)[3]
        if timeout <= 0:
            return bool(self.redis.exists(done))
        return self.redis.blmove(done, done, timeout, src="RIGHT", dest="LEFT") is not None

    def cancel(self, job_id: str) -> int:
        """1 cancelled now, 0 had already ended (409), -1 unknown. Pending chunks skip."""
        outcome = int(self._end(keys=_ending_keys(job_id),
                                args=[f"{time.time():.3f}", job_id, CANCELLED]))
        if outcome == 1:
            log.info("job %s: cancelled", job_id, extra={"job": job_id})
        return outcome

    def fail(self, job_id: str, reason: str) -> None:
        """End a job as failed when the service cannot process it (e.g. enqueue failed)."""
        self._end(keys=_ending_keys(job_id),
                  args=[f"{time.time():.3f}", job_id, FAILED])
        log.error("job %s: failed: %s", job_id, reason, extra={"job": job_id})

    # ---- the worker side ----------------------------------------------------------------

    def begin_chunk(self, job_id: str, chunk: Chunk, worker: str = "") -> ChunkStart:
        """Count this delivery of the chunk, note which process (`worker`) took it, mark the
        job running and fetch the chunk's files, in one round trip; `runnable` says whether
        to go on (not cancelled, ended or gone)."""
        job, images, _results, _done = _keys(job_id)
        return chunk_start(chunk, self._begin(keys=[job, images],
                                              args=[f"{time.time():.3f}", chunk.start, worker]))

    def record_results(
        self, job_id: str, chunk: Chunk, results: Sequence[Result], worker: str = "",
        seconds: float = 0.0, model: str | None = None,
    ) -> tuple[int, str | None]:
        """Record a chunk's results once (atomic; a chunk that runs twice changes nothing the
        second time), bump the counters, end the job when all are in.

        `results` are `core.results.Result` objects, one per image of the chunk; `worker`
        names the process that read them (kept with the chunk, see `chunk_workers`);
        `seconds` is how long the chunk took (the `mnistq_chunk_seconds` histogram);
        `model` the version that read it (the job's `models`). The results' normalised
        digits (`Result.normalised`) are kept beside them, for a person's correction.
        Returns (newly recorded, job status after).
        """
        return _recorded(self._record(**_record_call(job_id, chunk, results, worker, seconds,
                                                     model)))

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
            self._record(**_record_call(job_id, chunk, results, worker, seconds, model),
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

    def seconds_per_image(self, min_images: int = 1000) -> float | None:
        """The workers' mean seconds per image over every chunk so far (from the metrics
        hash); None until `min_images` have been read."""
        total, read, errors = self.redis.hmget(
            METRICS_KEY, "chunk_seconds:sum", "images:read", "images:error")
        images = int(read or 0) + int(errors or 0)
        return float(total) / images if total and images >= min_images else None

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


@dataclass(frozen=True)
class StoredResult:
    """A result of a job as stored, for a correction (`JobStore.stored_result`)."""

    status: str
    read: str
    total: int
    result: dict[str, Any] | None = None
    """Its JSON object (with `corrected` when there is one); None when never recorded."""
    digits: list[np.ndarray] = field(default_factory=list)
    """Its normalised digits (uint8 (28, 28) each): one, one per digit of a number, or none."""


@dataclass(frozen=True)
class MetricsSnapshot:
    """The figures of `JobStore.metrics_snapshot`; `counters` are the `mnistq:metrics`
    fields (read them with `common.metrics.count` and `common.metrics.histogram`)."""

    counters: dict[str, str]
    queue_chunks: int
    unfinished: int
    workers_live: int
    model_version: str | None


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
                 seconds: float, model: str | None) -> dict[str, list[Any]]:
    """The keys and arguments of `_RECORD` for one chunk's results."""
    rows = [r.to_dict() for r in results]
    failed = sum(1 for row in rows if row["error"])
    normalised = [r.normalised for r in results]
    digits = pack_digits(normalised) if any(normalised) else b""
    return {"keys": [*_ending_keys(job_id), digits_key(job_id)],
            "args": [f"{time.time():.3f}", job_id, chunk.start,
                     json.dumps(rows, separators=(",", ":")), len(rows), failed, worker,
                     f"{seconds:.6f}", model or "", digits]}


def _recorded(reply: list[Any]) -> tuple[int, str | None]:
    """`_RECORD`'s reply: (newly recorded, job status after)."""
    added, status = reply
    status = status.decode() if isinstance(status, bytes) else status
    return int(added), (status or None)


def _rows(chunks: dict[bytes, bytes], corrected: dict[bytes, bytes] | None = None
          ) -> list[dict[str, Any]]:
    """The results hash (chunk start -> JSON array) as one list in upload order, with the
    people's corrections (index -> JSON) as `corrected`."""
    rows: list[dict[str, Any]] = []
    for start in sorted(chunks, key=int):
        rows.extend(json.loads(chunks[start]))
    if corrected:
        for row in rows:
            value = corrected.get(str(row["index"]).encode())
            if value is not None:
                row["corrected"] = json.loads(value)
    return rows


def _rows_json(chunks: dict[bytes, bytes], corrected: dict[bytes, bytes] | None = None) -> str:
    """The same list as JSON text, spliced from the stored arrays without re-encoding; only
    the chunks holding a correction are decoded to add it."""
    starts = sorted(chunks, key=int)
    if corrected:
        numbers = [int(start) for start in starts]
        touched = {starts[i] for i in (bisect.bisect_right(numbers, int(index)) - 1
                                       for index in corrected) if i >= 0}
        chunks = {**chunks, **{start: json.dumps(_rows({start: chunks[start]}, corrected),
                                                 separators=(",", ":")).encode()
                               for start in touched}}
    parts = [chunks[start][1:-1] for start in starts]
    return "[" + b",".join(p for p in parts if p).decode() + "]"


def _read_job(pipe: redis.client.Pipeline, job_id: str) -> None:
    """Queue the reads of a job's hash, results and corrections on `pipe`."""
    job, _images, results, _done = _keys(job_id)
    pipe.hgetall(job)
    pipe.hgetall(results)
    pipe.hgetall(corrected_key(job_id))


def _job_view(job_id: str, fields: dict[bytes, bytes], raw: dict[bytes, bytes] | None,
              corrected: dict[bytes, bytes] | None, results_as_json: bool
              ) -> dict[str, Any] | None:
    """The job as the API shows it (`get_job`), from its hashes as read; `results` only
    once it has ended and when they were read (`raw`)."""
    if not fields:
        return None
    view = _view(job_id, fields)
    if raw is not None and view["status"] in ENDED:
        view["results"] = (_rows_json(raw, corrected) if results_as_json
                           else _rows(raw, corrected))
    return view


def _view(job_id: str, fields: dict[bytes, bytes]) -> dict[str, Any]:
    """The job hash as the API's JSON object (results filled in by the caller)."""
    def get(name: str) -> str | None:
        value = fields.get(name.encode())
        return None if value is None else value.decode()

    view = {
        "id": job_id,
        "status": get("status"),
        "total": int(get("total") or 0),
        "processed": int(get("processed") or 0),
        "failed": int(get("failed") or 0),
        "created_at": iso(get("created_at")),
        "finished_at": iso(get("finished_at")),
        "models": sorted(name[len(b"model:"):].decode() for name in fields
                         if name.startswith(b"model:")),
        "read": get("read") or "digit",
        "results": None,
    }
    if get("callback_url") is not None:
        view["callback"] = {"status": get("callback_status"),
                            "attempts": int(get("callback_attempts") or 0),
                            "last_error": get("callback_last_error") or None}
    return view
