"""The Celery app of the workers: `celery -A worker.app worker` runs one.

Configuration comes from `Settings` (the `MNISTQ_*` environment); the tasks and the
per-process model loading live in `worker.tasks`.
"""

from __future__ import annotations

import logging

from common import logs
from common.queue import make_celery
from common.settings import Settings
from worker.consumer_watch import ConsumerWatch

settings = Settings.from_env()
logs.configure(settings, with_process_name=True)

# Celery's own two lines per task (received, succeeded) repeat ours, which carry the job id
# and timing; at hundreds of single-image jobs a second they cost more than they tell.
for name in ("celery.app.trace", "celery.worker.strategy"):
    logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))

app = make_celery(settings, main="worker")
app.conf.include = ["worker.tasks", "worker.webhooks"]
app.steps["consumer"].add(ConsumerWatch)  # a consumer that stops taking messages reconnects
