"""The system-wide figures kept in Redis, shared by every process on every host.

Why Redis and not each process's own `prometheus_client` registry: the workers are Celery
pool processes on any number of hosts, restarted at will; their counters must neither reset
when one is replaced nor need a scrape target per process. So the job store's atomic scripts,
which already run once per job and per chunk, also bump a few fields of one hash
(`mnistq:metrics`): no extra round trip on the hot path, exactly-once with the results they
count. The API reads that hash in one pipeline per scrape (`JobStore.metrics_snapshot`) and
`api.metrics` exposes it. The API's own per-request figures (HTTP latency) stay in
`prometheus_client`'s multiprocess mode: they belong to the process that served the request.

Fields of `mnistq:metrics`:
  jobs_created                         counter
  jobs_ended:{status}                  counter (succeeded, cancelled, failed)
  images:read, images:error            counter (images with a digit / with a per-file error)
  {histogram}:{i}                      observations in bucket i (1-based, not cumulative;
                                       i = len(bounds) + 1 is +Inf)
  {histogram}:sum                      sum of the observations (seconds)
  cost:{read}:cpu_seconds, cost:{read}:images
                                       CPU time and images of the big jobs' chunks read in
                                       mode `read` (digit, number): what a chunk is cut by
                                       (`common.queue.time_bounded_chunk`)
"""

from __future__ import annotations

from dataclasses import dataclass

CHUNK_SECONDS_BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
JOB_SECONDS_BOUNDS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                      300.0, 900.0)
HISTOGRAMS = {"chunk_seconds": CHUNK_SECONDS_BOUNDS, "job_seconds": JOB_SECONDS_BOUNDS}


def _lua_table(bounds: tuple[float, ...]) -> str:
    return "{" + ", ".join(repr(b) for b in bounds) + "}"


LUA_OBSERVE = f"""
local histogram_bounds = {{chunk_seconds = {_lua_table(CHUNK_SECONDS_BOUNDS)},
                          job_seconds = {_lua_table(JOB_SECONDS_BOUNDS)}}}
local function observe(metrics, name, value)
  local bounds = histogram_bounds[name]
  local bucket = #bounds + 1
  for i, bound in ipairs(bounds) do
    if value <= bound then bucket = i break end
  end
  redis.call('HINCRBY', metrics, name .. ':' .. bucket, 1)
  redis.call('HINCRBYFLOAT', metrics, name .. ':sum', value)
end
local function add_cost(metrics, read, cpu_seconds, images)
  redis.call('HINCRBYFLOAT', metrics, 'cost:' .. read .. ':cpu_seconds', cpu_seconds)
  redis.call('HINCRBY', metrics, 'cost:' .. read .. ':images', images)
end
local function job_ended(metrics, job, now, status)
  redis.call('HINCRBY', metrics, 'jobs_ended:' .. status, 1)
  observe(metrics, 'job_seconds', tonumber(now) - tonumber(redis.call('HGET', job, 'created_at')))
end
"""
"""Lua functions for the job store's scripts: `observe(metrics_key, histogram, seconds)`,
`add_cost(metrics_key, read, cpu_seconds, images)` (the fields of `cost_fields`),
`job_ended(metrics_key, job_key, now, status)`."""


def cost_fields(read: str) -> tuple[str, str]:
    """The fields of `mnistq:metrics` that `add_cost` bumps for mode `read`: CPU seconds,
    images."""
    return f"cost:{read}:cpu_seconds", f"cost:{read}:images"


@dataclass(frozen=True)
class Histogram:
    """Cumulative buckets `(upper bound, count)` ending with +Inf, and the sum."""

    buckets: list[tuple[float, int]]
    total: float

    @property
    def count(self) -> int:
        return self.buckets[-1][1]


def histogram(fields: dict[str, str], name: str) -> Histogram:
    """The named histogram from the hash's fields (missing fields count zero)."""
    bounds = (*HISTOGRAMS[name], float("inf"))
    running, buckets = 0, []
    for i, bound in enumerate(bounds, start=1):
        running += int(fields.get(f"{name}:{i}", 0))
        buckets.append((bound, running))
    return Histogram(buckets, float(fields.get(f"{name}:sum", 0.0)))


def count(fields: dict[str, str], name: str) -> int:
    return int(fields.get(name, 0))
