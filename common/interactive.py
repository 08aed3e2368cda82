"""The interactive lane's batches: small jobs waiting together, read many to one task.

A single image costs a worker about 0.8 ms to read but several ms more as a Celery task of
its own (delivery, the hand-off to the pool process, two job-store scripts, the ack). Under
32 clients sending single images beside big jobs, the workers spent most of their turns on
that overhead (`bench load`: 187 single images a second, p50 139 ms). So a small job's chunk
is not sent as a task: the API appends it to one Redis list and rings a doorbell, and one
task (`PREDICT_INTERACTIVE`, in the first lane) takes everything waiting, up to
`BATCH_IMAGES` images, and reads it with one predict call. Each job's chunk is still begun
and recorded by the job store's own scripts, so counts, retries, cancellation, webhooks and
metrics are the same as for any chunk.

| key                                 | type   | holds                                         |
|-------------------------------------|--------|-----------------------------------------------|
| `mnistq:interactive`                | list   | `{job id}:{start}:{stop}`, chunks waiting     |
| `mnistq:interactive:bell`           | string | set while a batch task is queued (expires)    |
| `mnistq:interactive:taken:{task}`   | list   | what one batch task took, until it recorded   |

Why nothing waits forever: the task deletes the bell and takes in one script, so a chunk
appended after the take rings for a new task, and one appended before is taken. A take that
leaves chunks behind (more than `BATCH_IMAGES`) rings again. A bell whose task was never
sent (the API died in between) expires after `BELL_SECONDS`, and a worker's heartbeat rings
for whatever waits unrung. A task whose worker dies is delivered again by Celery (late acks)
with the same id, and reads what it had taken.
"""

from __future__ import annotations

import time

import redis

from common.jobstore import (
    LUA_BEGIN,
    PREFIX,
    BatchQueue,
    Chunk,
    ChunkStart,
    chunk_start,
    job_key,
    parse_chunk_entry,
)

WAITING_KEY = f"{PREFIX}:interactive"
BELL_KEY = f"{PREFIX}:interactive:bell"
BATCH_IMAGES = 64
"""The most images one batch task takes (at least one chunk): about 50 ms of reading, the
same bound as a big job's chunk (common.queue.CHUNK_SECONDS)."""
BELL_SECONDS = 10.0
"""A bell rung without a task behind it is forgotten after this long (then rung again)."""

QUEUE = BatchQueue(WAITING_KEY, BELL_KEY, int(BELL_SECONDS * 1000))
"""What `JobStore.create` needs to queue a small job's chunk as it records the job (the
API's path: one round trip for both)."""

# A batch task takes what it took before (delivered again), or up to ARGV[1] images of what
# waits, ringing again when chunks are left; then begins each chunk taken (`begin_chunk`), in
# one step before the worker reads. KEYS: waiting, bell, taken. ARGV: most images, the taken
# list's TTL, the bell's ms, now, the job keys' prefix (`job_key("")`), the reading process.
# Returns {more (1: send another task), taken, each one's begin_chunk reply}.
_TAKE_AND_BEGIN = LUA_BEGIN + """
local function take()
  local taken = redis.call('LRANGE', KEYS[3], 0, -1)
  if #taken > 0 then return 0, taken end
  redis.call('DEL', KEYS[2])
  local waiting = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
  local count, images = 0, 0
  for _, entry in ipairs(waiting) do
    local _, _, start, stop = string.find(entry, ':(%d+):(%d+)$')
    local size = tonumber(stop) - tonumber(start)
    if count > 0 and images + size > tonumber(ARGV[1]) then break end
    count, images = count + 1, images + size
    table.insert(taken, entry)
  end
  if count == 0 then return 0, taken end
  redis.call('LTRIM', KEYS[1], count, -1)
  redis.call('RPUSH', KEYS[3], unpack(taken))
  redis.call('EXPIRE', KEYS[3], ARGV[2])
  if redis.call('LLEN', KEYS[1]) > 0 and redis.call('SET', KEYS[2], 1, 'NX', 'PX', ARGV[3]) then
    return 1, taken
  end
  return 0, taken
end

local more, taken = take()
local begun = {}
for i, entry in ipairs(taken) do
  local _, _, id, start = string.find(entry, '^(.+):(%d+):%d+$')
  local job = ARGV[5] .. id
  begun[i] = begin_chunk(job, job .. ':images', ARGV[4], start, ARGV[6])
end
return {more, taken, begun}
"""

_RING_IF_WAITING = """
if redis.call('LLEN', KEYS[1]) > 0 and redis.call('SET', KEYS[2], 1, 'NX', 'PX', ARGV[1]) then
  return 1
end
return 0
"""


def taken_key(task_id: str) -> str:
    return f"{WAITING_KEY}:taken:{task_id}"


class InteractiveBatches:
    """The list of small jobs' chunks waiting and its doorbell; shared by API and workers."""

    def __init__(self, client: redis.Redis, ttl: int) -> None:
        self.redis = client
        self.ttl = ttl
        """Seconds a task's taken list is kept (the job TTL: past it, its jobs are gone)."""
        self._take_and_begin = client.register_script(_TAKE_AND_BEGIN)
        self._ring_if_waiting = client.register_script(_RING_IF_WAITING)

    def silence(self) -> None:
        """Forget the bell (its task could not be sent), so that the next chunk rings."""
        self.redis.delete(BELL_KEY)

    def take_and_begin(self, task_id: str, worker: str
                       ) -> tuple[list[tuple[str, Chunk, ChunkStart]], bool]:
        """The chunks for batch task `task_id`, each begun as `worker` (`JobStore.begin_chunk`)
        in the same round trip: what it took before (delivered again), or up to BATCH_IMAGES
        images of what waits; (job id, chunk, its start) of each. The flag: chunks are left,
        send another task. (A small job's chunk is queued with the job itself:
        `JobStore.create(batch=QUEUE)`.)"""
        more, taken, begun = self._take_and_begin(
            keys=[WAITING_KEY, BELL_KEY, taken_key(task_id)],
            args=[BATCH_IMAGES, self.ttl, QUEUE.bell_ms, f"{time.time():.3f}", job_key(""),
                  worker])
        chunks = [parse_chunk_entry(entry) for entry in taken]
        return [(job_id, chunk, chunk_start(chunk, reply))
                for (job_id, chunk), reply in zip(chunks, begun, strict=True)], bool(more)

    def taken(self, task_id: str) -> list[tuple[str, Chunk]]:
        """What batch task `task_id` took and has not recorded yet."""
        return [parse_chunk_entry(entry) for entry in self.redis.lrange(taken_key(task_id), 0, -1)]

    def done(self, task_id: str) -> None:
        """The task recorded what it took."""
        self.redis.delete(taken_key(task_id))

    def ring_if_waiting(self) -> bool:
        """True when chunks wait with no bell rung: the caller must send a batch task."""
        return bool(self._ring_if_waiting(keys=[WAITING_KEY, BELL_KEY],
                                          args=[QUEUE.bell_ms]))

