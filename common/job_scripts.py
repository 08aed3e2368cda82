"""The job store's Lua scripts: each changes a job in one atomic step and one round trip.

Every script names the KEYS and ARGV it takes and what it returns; common.jobstore.JobStore
registers them and passes the keys of common.redis_keys.
"""

from __future__ import annotations

from common.metrics import LUA_OBSERVE

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
# the chunk's packed normalised digits ('' none; KEYS[8] the digits hash, expiring with the job),
# the CPU seconds of its reading thread ('' none: a small job's, not counted in the job's read
# mode's cost per image).
# Returns {newly recorded, status after}; {-1, ''} when the job is gone.
RECORD = _END_JOB + """
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
  if ARGV[11] ~= '' then
    add_cost(KEYS[6], redis.call('HGET', KEYS[1], 'read') or 'digit', ARGV[11], added)
  end
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
CREATE = """
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
STORE = """
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
UNRECORDED = """
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
END = _END_JOB + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return -1 end
if status ~= 'queued' and status ~= 'running' then return 0 end
end_job(ARGV[1], ARGV[2], ARGV[3], redis.call('HGET', KEYS[1], 'expires_at'))
return 1
"""

# Webhooks whose delivery was never queued: the outbox's entries due `grace` seconds ago or
# more, claimed (due again `grace` seconds from now, in case the claimer dies too).
# KEYS: webhooks due. ARGV: now, grace, most. Returns the job ids.
OVERDUE_WEBHOOKS = """
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
BEGIN = LUA_BEGIN + "return begin_chunk(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3])"


# Count one webhook attempt of a job that still exists (never recreate an expired hash).
# KEYS: job. ARGV: status after, last error (may be ''). Returns attempts, or -1 when gone.
CALLBACK_ATTEMPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local attempts = redis.call('HINCRBY', KEYS[1], 'callback_attempts', 1)
redis.call('HSET', KEYS[1], 'callback_status', ARGV[1], 'callback_last_error', ARGV[2])
return attempts
"""


# A person's correction of one result of a job that still exists, expiring with the job.
# KEYS: job, corrected. ARGV: result index, JSON value. Returns 1, or 0 when the job is gone.
CORRECT = """
local expires_at = redis.call('HGET', KEYS[1], 'expires_at')
if not expires_at then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('EXPIREAT', KEYS[2], expires_at)
return 1
"""
