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
| `mnistq:interactive:taken:{task}`   | list   | what one batch task (or fast lane) took,      |
|                                     |        | until it recorded                             |
| `mnistq:interactive:wake`           | list   | tokens that wake the fast lanes (a few)       |
| `mnistq:interactive:lanes`          | zset   | fast lane -> its process's last heartbeat     |

Why nothing waits forever: the task deletes the bell and takes in one script, so a chunk
appended after the take rings for a new task, and one appended before is taken. A take that
leaves chunks behind (more than `BATCH_IMAGES`) rings again. A bell whose task was never
sent (the API died in between) expires after `BELL_SECONDS`, and a worker's heartbeat rings
for whatever waits unrung. A task whose worker dies is delivered again by Celery (late acks)
with the same id, and reads what it had taken.

The fast lane (worker/lane.py, MNISTQ_FAST_LANE): a thread in every worker pool process
blocks on the wake list and, woken, takes and reads a batch itself, as a batch task would,
under a taken list that names its process (`lane:{host}:{pid}`). While any lane is alive
(registered in the lanes zset by its process's heartbeat) the API's job-creation script
pushes a wake token instead of ringing the bell, so a single image skips Celery's three
hops (the API's send, the worker's delivery, the hand-off to the pool process: about 2.5 ms
of 6.8, docs/performance.md). Nothing waits forever: a lane looks at the waiting list
when it starts and at least every few seconds even unwoken, and leaves a token when it leaves
chunks behind; a worker's heartbeat still rings the batch task for chunks waiting unrung when
no lane is alive, or when wake tokens wait unclaimed (every lane busy); a lane whose process
stopped heartbeating for HEARTBEAT_MAX_AGE is dropped and what it had taken is put back at the
head of the waiting list, woken for (`put_back_dead_lanes`); a process that stops does the
same for its own lane (`leave`).
"""

from __future__ import annotations

import time
from dataclasses import replace

import redis

from common.job_scripts import LUA_BEGIN
from common.jobs import BatchQueue, Chunk, ChunkStart, parse_chunk_entry
from common.jobstore import chunk_start
from common.redis_keys import HEARTBEAT_MAX_AGE, PREFIX, job_key

WAITING_KEY = f"{PREFIX}:interactive"
BELL_KEY = f"{PREFIX}:interactive:bell"
BATCH_IMAGES = 64
"""The most images one batch task takes (at least one chunk): about 50 ms of reading, the
same bound as a big job's chunk (common.queue.CHUNK_SECONDS)."""
BELL_SECONDS = 10.0
"""A bell rung without a task behind it is forgotten after this long (then rung again)."""

WAKE_KEY = f"{PREFIX}:interactive:wake"
LANES_KEY = f"{PREFIX}:interactive:lanes"
WAKE_TOKENS = 16
"""Most tokens on the wake list (at most one per chunk waiting): each wakes one lane, and a
lane takes many chunks at once, so more would only wake lanes to find nothing."""

QUEUE = BatchQueue(WAITING_KEY, BELL_KEY, int(BELL_SECONDS * 1000))
"""What `JobStore.create` needs to queue a small job's chunk as it records the job (the
API's path: one round trip for both); the chunk is read by a batch task (bell rung)."""
LANE_QUEUE = replace(QUEUE, wake_key=WAKE_KEY, lanes_key=LANES_KEY, wake_tokens=WAKE_TOKENS)
"""The same, waking a fast lane instead of ringing the bell while one is alive."""

# fit_tokens(waiting, wake, most): keep a wake token while chunks wait on list `waiting`, at
# most one per chunk and `most` in all; none when nothing waits.
_LUA_TOKENS = """
local function fit_tokens(waiting, wake, most)
  local left = redis.call('LLEN', waiting)
  if left == 0 then redis.call('DEL', wake) return end
  if redis.call('LLEN', wake) == 0 then redis.call('RPUSH', wake, 1) end
  redis.call('LTRIM', wake, -math.min(left, tonumber(most)), -1)
end
"""

# A batch task takes what it took before (delivered again), or up to ARGV[1] images of what
# waits, ringing again when chunks are left; then begins each chunk taken (`begin_chunk`), in
# one step before the worker reads. A fast lane (ARGV[7] '0') rings no bell but leaves wake
# tokens for what it left. KEYS: waiting, bell, taken, wake. ARGV: most images, the taken
# list's TTL, the bell's ms, now, the job keys' prefix (`job_key("")`), the reading process,
# ring ('1' task, '0' lane), most wake tokens.
# Returns {more (1: send another task), taken, each one's begin_chunk reply}.
_TAKE_AND_BEGIN = LUA_BEGIN + _LUA_TOKENS + """
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
  if ARGV[7] == '1' and redis.call('LLEN', KEYS[1]) > 0
      and redis.call('SET', KEYS[2], 1, 'NX', 'PX', ARGV[3]) then
    return 1, taken
  end
  return 0, taken
end

local more, taken = take()
if ARGV[7] == '0' then fit_tokens(KEYS[1], KEYS[4], ARGV[8]) end
local begun = {}
for i, entry in ipairs(taken) do
  local _, _, id, start = string.find(entry, '^(.+):(%d+):%d+$')
  local job = ARGV[5] .. id
  begun[i] = begin_chunk(job, job .. ':images', ARGV[4], start, ARGV[6])
end
return {more, taken, begun}
"""

# Put back, at the head of the waiting list, what the lanes registered before ARGV[1] had
# taken (their processes stopped heartbeating), or only lane ARGV[3]'s ('' all those); forget
# those lanes; wake for what waits (a token a dead lane had claimed is made good too).
# KEYS: lanes, waiting, wake. ARGV: registered before, the taken lists' prefix
# (`taken_key("")`), one lane or '', most wake tokens. Returns how many chunks were put back.
_PUT_BACK = _LUA_TOKENS + """
local lanes = {ARGV[3]}
if ARGV[3] == '' then lanes = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1]) end
local back = 0
for _, lane in ipairs(lanes) do
  local taken = redis.call('LRANGE', ARGV[2] .. lane, 0, -1)
  for i = #taken, 1, -1 do redis.call('LPUSH', KEYS[2], taken[i]) end
  back = back + #taken
  redis.call('DEL', ARGV[2] .. lane)
  redis.call('ZREM', KEYS[1], lane)
end
if #lanes > 0 then fit_tokens(KEYS[2], KEYS[3], ARGV[4]) end
return back
"""

# Ring the bell for chunks waiting unrung, unless a fast lane alive (registered since ARGV[2])
# has claimed every wake token (it is taking them). KEYS: waiting, bell, wake, lanes.
# ARGV: the bell's ms, lanes alive since. Returns 1 when rung (send a batch task).
_RING_IF_WAITING = """
if redis.call('LLEN', KEYS[1]) == 0 then return 0 end
if redis.call('LLEN', KEYS[3]) == 0 and redis.call('ZCOUNT', KEYS[4], ARGV[2], '+inf') > 0 then
  return 0
end
if redis.call('SET', KEYS[2], 1, 'NX', 'PX', ARGV[1]) then return 1 end
return 0
"""


def taken_key(task_id: str) -> str:
    return f"{WAITING_KEY}:taken:{task_id}"


def lane_id(process: str) -> str:
    """The fast lane of worker process `process` (`host:pid`): its taken list's id."""
    return f"lane:{process}"


class InteractiveBatches:
    """The list of small jobs' chunks waiting and its doorbell; shared by API and workers."""

    def __init__(self, client: redis.Redis, ttl: int) -> None:
        self.redis = client
        self.ttl = ttl
        """Seconds a task's taken list is kept (the job TTL: past it, its jobs are gone)."""
        self._take_and_begin = client.register_script(_TAKE_AND_BEGIN)
        self._ring_if_waiting = client.register_script(_RING_IF_WAITING)
        self._put_back = client.register_script(_PUT_BACK)

    def silence(self) -> None:
        """Forget the bell (its task could not be sent), so that the next chunk rings."""
        self.redis.delete(BELL_KEY)

    def take_and_begin(self, task_id: str, worker: str, lane: bool = False
                       ) -> tuple[list[tuple[str, Chunk, ChunkStart]], bool]:
        """The chunks for batch task `task_id`, each begun as `worker` (`JobStore.begin_chunk`)
        in the same round trip: what it took before (delivered again), or up to BATCH_IMAGES
        images of what waits; (job id, chunk, its start) of each. The flag: chunks are left,
        send another task (never for a fast `lane`: it leaves wake tokens instead). (A small
        job's chunk is queued with the job itself: `JobStore.create(batch=QUEUE)`.)"""
        more, taken, begun = self._take_and_begin(
            keys=[WAITING_KEY, BELL_KEY, taken_key(task_id), WAKE_KEY],
            args=[BATCH_IMAGES, self.ttl, QUEUE.bell_ms, f"{time.time():.3f}", job_key(""),
                  worker, 0 if lane else 1, WAKE_TOKENS])
        chunks = [parse_chunk_entry(entry) for entry in taken]
        return [(job_id, chunk, chunk_start(chunk, reply))
                for (job_id, chunk), reply in zip(chunks, begun, strict=True)], bool(more)

    def taken(self, task_id: str) -> list[tuple[str, Chunk]]:
        """What batch task `task_id` took and has not recorded yet."""
        return [parse_chunk_entry(entry) for entry in self.redis.lrange(taken_key(task_id), 0, -1)]

    def done(self, task_id: str) -> None:
        """The task recorded what it took."""
        self.redis.delete(taken_key(task_id))

    def wait_for_wake(self, timeout: float) -> bool:
        """Block up to `timeout` seconds (whole, at least 1) for a wake token; True: woken."""
        return self.redis.blpop([WAKE_KEY], max(1, round(timeout))) is not None

    def join_lanes(self, lane: str) -> None:
        """Say that fast lane `lane` is alive (now): the API wakes lanes instead of ringing
        the bell while one is. Repeated by its process's heartbeat."""
        self.redis.zadd(LANES_KEY, {lane: time.time()})

    def put_back_dead_lanes(self, max_age: float = HEARTBEAT_MAX_AGE) -> int:
        """Put back what the lanes not heard of for `max_age` seconds had taken (their
        processes died), forget them, and wake the others; returns the chunks put back."""
        return int(self._put_back(keys=[LANES_KEY, WAITING_KEY, WAKE_KEY],
                                  args=[f"{time.time() - max_age:.3f}", taken_key(""), "",
                                        WAKE_TOKENS]))

    def leave(self, lane: str) -> int:
        """Fast lane `lane` stops: what it took and did not record goes back to wait, and
        the API no longer counts it alive. Returns the chunks put back."""
        return int(self._put_back(keys=[LANES_KEY, WAITING_KEY, WAKE_KEY],
                                  args=[0, taken_key(""), lane, WAKE_TOKENS]))

    def ring_if_waiting(self, max_age: float = HEARTBEAT_MAX_AGE) -> bool:
        """True when chunks wait with no bell rung: the caller must send a batch task. Not
        while a fast lane is alive and no wake token waits (a lane has them in hand); while
        tokens wait (every lane busy, or stuck), a batch task adds a reader."""
        return bool(self._ring_if_waiting(keys=[WAITING_KEY, BELL_KEY, WAKE_KEY, LANES_KEY],
                                          args=[QUEUE.bell_ms,
                                                f"{time.time() - max_age:.3f}"]))

