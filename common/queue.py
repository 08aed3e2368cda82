"""The Celery wiring shared by the API (which only sends) and the workers (which run tasks).

Both sides build their Celery app from the same `celery_config`, so serializer, queue and
broker options cannot drift apart. Task messages carry ids only (job id, chunk bounds);
the image bytes wait in the job store.
"""

from __future__ import annotations

import math
from typing import Any

from celery import Celery

from common.interactive import WAITING_KEY
from common.settings import Settings

QUEUE = "mnistq"
QUEUES = (QUEUE,)
PREDICT_CHUNK = "mnistq.predict_chunk"
PREDICT_INTERACTIVE = "mnistq.predict_interactive"
"""Reads the small jobs waiting in the interactive batch list (common.interactive)."""

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


PRIORITY_STEPS = list(range(10))
"""Lanes: kombu keeps one Redis list per priority step and a worker asks for the lists in
this order (BRPOP checks its keys in order), so a waiting message of step 0 always goes
before any of step 1, and so on; within a step, first in first out."""
INTERACTIVE = 0
"""The lane of small jobs (one chunk of at most SMALLEST_CHUNK images: single images, a
drawing on the page): served before any chunk of a big job."""
WEBHOOK = 1
"""Webhook deliveries: quick, and waiting on no one."""
FIRST_BIG = 2
"""A bigger job's chunks spread over the lanes FIRST_BIG..9 by how far into the job they
are: its first eighth in lane 2, the next in lane 3, and so on. The job least far along goes
first: a big job submitted behind another starts on the next free worker, catches up to the
same fraction, and from then on the two interleave (a multilevel feedback queue: fair shares
without per-client state)."""
CHUNK_SECONDS = 0.05
"""Target time of one chunk, in a worker's CPU time: what a single image may wait for a busy
worker (without the fast lane). Big jobs' chunks are cut to about this long
(`time_bounded_chunk`), at 1-2 ms of per-task cost (2-4 %)."""


def chunk_priority(index: int, chunks: int, total: int) -> int:
    """The lane (priority step, 0 first) of chunk `index` of a job of `chunks` chunks and
    `total` images."""
    if chunks == 1 and total <= SMALLEST_CHUNK:
        return INTERACTIVE
    lanes = PRIORITY_STEPS[-1] - FIRST_BIG + 1
    return FIRST_BIG + index * lanes // chunks


def time_bounded_chunk(seconds_per_image: float | None, largest: int) -> int:
    """The most images per chunk such that a chunk takes about CHUNK_SECONDS, given the
    workers' measured CPU seconds per image in the job's read mode
    (`JobStore.seconds_per_image`; None: not known yet, `largest`), within
    [SMALLEST_CHUNK, largest]."""
    if not seconds_per_image:
        return largest
    fitting = int(CHUNK_SECONDS / seconds_per_image)
    return max(min(SMALLEST_CHUNK, largest), min(fitting, largest))


def send_interactive_batch(celery: Celery, producer: Any = None) -> None:
    """Send the task that reads the small jobs' chunks waiting together (common.interactive),
    in the first lane; `producer`: a connection already held (the API's, while enqueueing)."""
    celery.send_task(PREDICT_INTERACTIVE, producer=producer, priority=INTERACTIVE)


def lane_key(queue: str, step: int) -> str:
    """kombu's Redis list of `queue`'s priority `step`: the queue's name for step 0, else
    `name\\x06\\x16{step}`."""
    return f"{queue}\x06\x16{step}" if step else queue


def broker_lanes() -> list[str]:
    """Every Redis list the broker keeps messages in for the workers: each queue's lanes."""
    return [lane_key(queue, step) for queue in QUEUES for step in PRIORITY_STEPS]


def queue_keys() -> list[str]:
    """The Redis lists that hold the chunks waiting, `mnistq_queue_chunks`: the small jobs'
    chunks waiting to be read together (common.interactive), and the broker's lanes from
    WEBHOOK on (`lane_key`). The first lane holds only the batch task that will read the
    small jobs' chunks, counted by their own list."""
    return [WAITING_KEY, *(lane_key(queue, step) for queue in QUEUES
                           for step in PRIORITY_STEPS[WEBHOOK:])]


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
            # the lanes (chunk_priority): ten lists per queue, served in priority order
            "priority_steps": PRIORITY_STEPS,
            "queue_order_strategy": "priority",
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
        # No remote control (pidbox): its pub/sub connection reconnects inside a blocking read
        # after a quick Redis restart and hangs the worker's consumer (seen with `docker compose
        # restart redis`); nothing uses it (health comes from heartbeats, worker.healthcheck).
        "worker_enable_remote_control": False,
        "worker_concurrency": settings.worker_concurrency,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "worker_hijack_root_logger": False,
        "worker_redirect_stdouts": False,
    }


def make_celery(settings: Settings, main: str = "mnistq") -> Celery:
    app = Celery(main)
    app.conf.update(celery_config(settings))
    return app
