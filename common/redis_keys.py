"""The job store's Redis keys: every key, its layout and its TTL, and the job ids in them.

Every key of a job expires at the same instant (`expires_at`, set at creation), so a job is
never half gone. common.jobstore reads and writes these keys (each change one atomic step, a
script of common.job_scripts); other modules that need a key name it from here, and `PREFIX`
starts every key of the service.

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
|                                |        | bumped by common.job_scripts; never expires            |

Expiry is Redis's (no sweeper process): the tombstone is written with the job, in the same
transaction, and outlives it, so a lookup that finds no job hash but a tombstone knows the job
expired, and when.

Long-polls: when a job ends, one token is pushed to its `done` list; a waiter runs
`BLMOVE done done RIGHT LEFT timeout`, which returns at once while the token is there and
puts it back, so every waiter (now or later) wakes up without polling.

The chunks' values are packed by common.chunk_packing (`pack_files`, `pack_digits`).
"""

from __future__ import annotations

import re
import secrets

PREFIX = "mnistq"
UNFINISHED_KEY = f"{PREFIX}:jobs:unfinished"
WORKERS_KEY = f"{PREFIX}:workers"
MODEL_KEY = f"{PREFIX}:model"
METRICS_KEY = f"{PREFIX}:metrics"
WEBHOOKS_DUE_KEY = f"{PREFIX}:webhooks:due"

TOMBSTONE_S = 7 * 24 * 3600
"""Seconds a job's tombstone outlives the job: how long an expired id answers 410, not 404."""

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


def tombstone_key(job_id: str) -> str:
    return f"{PREFIX}:expired:{job_id}"


def job_keys(job_id: str) -> tuple[str, str, str, str]:
    """job hash, images, results, done: in the order the Lua scripts take them."""
    base = job_key(job_id)
    return base, f"{base}:images", f"{base}:results", f"{base}:done"


def ending_keys(job_id: str) -> list[str]:
    """The KEYS of the scripts that may end a job (common.job_scripts' `_END_JOB`)."""
    return [*job_keys(job_id), UNFINISHED_KEY, METRICS_KEY, WEBHOOKS_DUE_KEY]


def digits_key(job_id: str) -> str:
    return f"{job_key(job_id)}:digits"


def corrected_key(job_id: str) -> str:
    return f"{job_key(job_id)}:corrected"
