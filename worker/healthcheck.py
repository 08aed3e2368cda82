"""The worker container's healthcheck: `python -m worker.healthcheck`.

Healthy when a process of this host (container) has sent a heartbeat with the model loaded
within HEARTBEAT_MAX_AGE seconds: Redis answers, the model is loaded and a pool process
lives. It reads the job store, as `/readyz` does; it needs no Celery remote control (the
workers run without it: its pub/sub connection could hang a worker's consumer after a Redis
restart) and costs one Redis round trip.
"""

from __future__ import annotations

import socket
import sys
import time

import redis

from common.redis_keys import HEARTBEAT_MAX_AGE, WORKERS_KEY
from common.settings import Settings


def main() -> int:
    client = redis.Redis.from_url(Settings.from_env().broker_url, socket_timeout=5,
                                  socket_connect_timeout=5)
    prefix = f"{socket.gethostname()}:"
    members = client.zrangebyscore(WORKERS_KEY, time.time() - HEARTBEAT_MAX_AGE, "+inf")
    if any(member.decode().startswith(prefix) for member in members):
        return 0
    print(f"no heartbeat from {prefix}* in {HEARTBEAT_MAX_AGE:.0f} s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
