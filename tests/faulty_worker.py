"""A test-only Celery app: the real worker, plus faults that marked images trigger.

`celery -A tests.faulty_worker worker` runs exactly `worker.app` and `worker.tasks`, except
that `predict_files` first looks at each image for a marker:

- starts with CRASHES: the process SIGKILLs itself, as the kernel's OOM killer (or a
  segfault in a native decoder) would;
- starts with RAISES: it raises MemoryError, as an allocation failing mid-decode would;
- ends with SLOW: the chunk takes SLOW_SECONDS longer (the image itself still decodes: PNG
  ignores bytes after its end), so a test can act while that chunk is being predicted;
- ends with DIES_BEFORE_WEBHOOK: the image is read, but if its chunk ends the job, the
  process SIGKILLs itself after recording the results and before queuing the job's webhook.

And one fault that no image carries: when the key STALL_KEY appears in Redis, one worker's
consumer takes it and stops taking messages (its task consumer cancelled, in its own event
loop) while the loop and the heartbeats go on, as celery#8030 leaves a worker.

Nothing in the production code knows about this module: the faults exist only in workers a
test starts with this app, and everything after them (the pool noticing a lost process, the
message coming back, the delivery count, the giving up) is the real machinery.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import redis
from celery import bootsteps

import worker.tasks
from worker.app import app

CRASHES = b"MNISTQ-FAULT-CRASHES\n"
RAISES = b"MNISTQ-FAULT-RAISES\n"
SLOW = b"\nMNISTQ-FAULT-SLOW"
SLOW_SECONDS = 2.0
DIES_BEFORE_WEBHOOK = b"\nMNISTQ-FAULT-DIES-BEFORE-WEBHOOK"
STALL_KEY = "mnistq-fault:stall-consumer"

_predict_files = worker.tasks.predict_files
_announce_end = worker.tasks.announce_end
_dying = False


def _predict_with_faults(model, items, limits, **options):
    global _dying
    for _, _, data in items:
        _dying = _dying or data.endswith(DIES_BEFORE_WEBHOOK)
        if data.startswith(CRASHES):
            os.kill(os.getpid(), signal.SIGKILL)
        if data.startswith(RAISES):
            raise MemoryError("poison image: allocation failed while decoding")
        if data.endswith(SLOW):
            time.sleep(SLOW_SECONDS)
    return _predict_files(model, items, limits, **options)


def _announce_or_die(store, celery, job_id):
    if _dying:
        os.kill(os.getpid(), signal.SIGKILL)
    _announce_end(store, celery, job_id)


class _StallOnRequest(bootsteps.StartStopStep):
    """Looks for STALL_KEY five times a second; the worker that deletes it stalls."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def start(self, parent: Any) -> None:
        client = redis.Redis.from_url(parent.app.conf.broker_url)

        def look() -> None:
            if client.delete(STALL_KEY):
                parent.task_consumer.cancel()

        self.entry = parent.timer.call_repeatedly(0.2, look)

    def stop(self, parent: Any) -> None:
        self.entry.cancel()


worker.tasks.predict_files = _predict_with_faults
worker.tasks.announce_end = _announce_or_die
app.steps["consumer"].add(_StallOnRequest)

__all__ = ["CRASHES", "DIES_BEFORE_WEBHOOK", "RAISES", "SLOW", "SLOW_SECONDS", "STALL_KEY",
           "app"]
