"""A test-only Celery app: the real worker, plus faults that marked images trigger.

`celery -A tests.faulty_worker worker` runs exactly `worker.app` and `worker.tasks`, except
that `predict_files` first looks at each image for a marker:

- starts with CRASHES: the process SIGKILLs itself, as the kernel's OOM killer (or a
  segfault in a native decoder) would;
- starts with RAISES: it raises MemoryError, as an allocation failing mid-decode would;
- ends with SLOW: the chunk takes SLOW_SECONDS longer (the image itself still decodes: PNG
  ignores bytes after its end), so a test can act while that chunk is being predicted.

Nothing in the production code knows about this module: the faults exist only in workers a
test starts with this app, and everything after them (the pool noticing a lost process, the
message coming back, the delivery count, the giving up) is the real machinery.
"""

from __future__ import annotations

import os
import signal
import time

import worker.tasks
from worker.app import app

CRASHES = b"MNISTQ-FAULT-CRASHES\n"
RAISES = b"MNISTQ-FAULT-RAISES\n"
SLOW = b"\nMNISTQ-FAULT-SLOW"
SLOW_SECONDS = 2.0

_predict_files = worker.tasks.predict_files


def _predict_with_faults(model, items, limits, **options):
    for _, _, data in items:
        if data.startswith(CRASHES):
            os.kill(os.getpid(), signal.SIGKILL)
        if data.startswith(RAISES):
            raise MemoryError("poison image: allocation failed while decoding")
        if data.endswith(SLOW):
            time.sleep(SLOW_SECONDS)
    return _predict_files(model, items, limits, **options)


worker.tasks.predict_files = _predict_with_faults

__all__ = ["CRASHES", "RAISES", "SLOW", "SLOW_SECONDS", "app"]
