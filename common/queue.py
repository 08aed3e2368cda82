"""The Celery wiring shared by the API (which only sends) and the workers (which run tasks).

Both sides build their Celery app from the same `celery_config`, so serializer, queue and
broker options cannot drift apart. Task messages carry ids only (job id, chunk bounds);
the image bytes wait in the job store.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from common.settings import Settings

QUEUE = "mnistq"
PREDICT_CHUNK = "mnistq.predict_chunk"


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
