"""The Celery wiring shared by the API (which only sends) and the workers (which run tasks).

Both sides build their Celery app from the same `celery_config`, so serializer, queue and
broker options cannot drift apart. Task messages carry ids only (job id, chunk bounds);
the image bytes wait in the job store.
"""

from __future__ import annotations

import math
from typing import Any

from celery import Celery

from common.settings import Settings

QUEUE = "mnistq"
QUEUES = (QUEUE,)
PREDICT_CHUNK = "mnistq.predict_chunk"

CHUNKS_PER_WORKER = 4
"""A job is cut into about this many chunks per live worker process: every worker gets a
share, and the last chunk to finish keeps the others idle for a fraction of the job only..."""
SMALLEST_CHUNK = 64
"""...but no chunk is cut smaller than this (unless MNISTQ_CHUNK_SIZE is): each task costs
about 1-2 ms of delivery, acknowledgement and job-store work, 3 % of a 64-image chunk."""


def chunk_size_for(total: int, live_workers: int, largest: int) -> int:
    """Images per chunk of a job of `total` images: about `CHUNKS_PER_WORKER` chunks for each
    live worker, within [SMALLEST_CHUNK, largest] (`largest` is MNISTQ_CHUNK_SIZE, and wins).

    10,000 images on 2 workers: 20 chunks of 512 (the per-task costs stay near 1 %); 600 on 2:
    8 of 75 instead of one of 512 and one of 88.
    """
    share = math.ceil(total / (CHUNKS_PER_WORKER * max(live_workers, 1)))
    return max(min(SMALLEST_CHUNK, largest), min(share, largest))


def queue_keys() -> list[str]:
    """The Redis lists that hold the chunks waiting in the broker (kombu keeps one list per
    queue and priority step: `name`, then `name\\x06\\x16{step}`): `mnistq_queue_chunks`."""
    steps = (3, 6, 9)  # kombu's default priority steps after 0
    return [key for queue in QUEUES for key in (queue, *(f"{queue}\x06\x16{s}" for s in steps))]


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery settings from ours: JSON only, late acks, one message in flight per process."""
    return {
        "broker_url": settings.broker_url,
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        "broker_transport_options": {
            # An unacknowledged chunk (its worker died) comes back after this many seconds.
            "visibility_timeout": settings.visibility_timeout,
            # kombu sweeps for such chunks every interval x throttle seconds (100 s by
            # default): every 5 s, so a lost chunk is back within visibility_timeout + 5 s.
            "unacked_restore_interval": 5,
            "unacked_restore_throttle": 1,
            "socket_keepalive": True,
            "retry_on_timeout": True,
            "socket_connect_timeout": 2,
            "health_check_interval": 30,
        },
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_serializer": "json",
        "task_ignore_result": True,
        "task_default_queue": QUEUE,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # The API must answer 503 quickly when Redis is down, not retry for seconds.
        "task_publish_retry_policy": {
            "max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5,
        },
        "worker_prefetch_multiplier": 1,
        "worker_concurrency": settings.worker_concurrency,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "worker_hijack_root_logger": False,
        "worker_redirect_stdouts": False,
    }


def make_celery(settings: Settings, main: str = "mnistq") -> Celery:
    app = Celery(main)
    app.conf.update(celery_config(settings))
    return app
