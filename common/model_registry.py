"""What Redis knows about model versions: the active one's name, and what each worker serves.

| key                          | type   | holds                                                    |
|------------------------------|--------|----------------------------------------------------------|
| `mnistq:model:active`        | string | the active version's name, published on activation       |
| `mnistq:model:served`        | hash   | worker process name -> JSON {"version", "error"}: what   |
|                              |        | it serves and why it could not switch (null when it did) |

The model folder (`core/versions.py`, shared by every process) is the source of truth; this
key is the notice. A worker that finds no key (a Redis restarted without its data) reads the
folder's pointer and publishes it again.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from common.redis_keys import PREFIX, WORKERS_KEY

ACTIVE_KEY = f"{PREFIX}:model:active"
SERVED_KEY = f"{PREFIX}:model:served"


def publish_active(client: redis.Redis, version: str) -> None:
    """Tell every worker that `version` is now active."""
    client.set(ACTIVE_KEY, version)


def published_active(client: redis.Redis) -> str | None:
    raw = client.get(ACTIVE_KEY)
    return None if raw is None else raw.decode()


def republish_if_missing(client: redis.Redis, version: str) -> str:
    """Publish `version` unless a version is published already; the published one."""
    pipe = client.pipeline(transaction=True)
    pipe.set(ACTIVE_KEY, version, nx=True)
    pipe.get(ACTIVE_KEY)
    return pipe.execute()[1].decode()


def report_served(client: redis.Redis, worker: str, version: str | None,
                  error: str | None) -> None:
    """Record which version `worker` serves and, when it could not switch, why."""
    client.hset(SERVED_KEY, worker, json.dumps({"version": version, "error": error}))


def forget_served(client: redis.Redis, worker: str) -> None:
    client.hdel(SERVED_KEY, worker)


def served_by_workers(client: redis.Redis, max_age: float) -> list[dict[str, Any]]:
    """`[{"name", "version", "error"}]` of the workers alive (heartbeat younger than
    `max_age`), by name; entries of dead workers are dropped on the way."""
    pipe = client.pipeline(transaction=False)
    pipe.zrangebyscore(WORKERS_KEY, time.time() - max_age, "+inf")
    pipe.hgetall(SERVED_KEY)
    live, served = pipe.execute()
    names = {n.decode() for n in live}
    rows, stale = [], []
    for name, raw in served.items():
        if name.decode() not in names:
            stale.append(name)
            continue
        try:
            value = json.loads(raw)
        except ValueError:
            value = {}
        rows.append({"name": name.decode(), "version": value.get("version"),
                     "error": value.get("error")})
    if stale:
        client.hdel(SERVED_KEY, *stale)
    return sorted(rows, key=lambda row: row["name"])
