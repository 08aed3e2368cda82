"""A test-only Celery app: the real worker, plus a fault that crashes it on a poison image.

`celery -A tests.poison_worker worker` runs exactly `worker.app` and `worker.tasks`, except
that `predict_files` first looks for the POISON marker at the start of an image and, when it
finds one, SIGKILLs its own process, as the kernel's OOM killer (or a segfault in a native
decoder) would. Nothing in the production code knows about this module: the fault is
installed only in workers a test starts with this app, and everything after the crash (the
pool noticing a lost worker, the message coming back, the delivery count, the giving up) is
the real machinery.
"""

from __future__ import annotations

import os
import signal

import worker.tasks
from worker.app import app

POISON = b"MNISTQ-POISON\n"

_predict_files = worker.tasks.predict_files


def _predict_or_die(model, items, limits):
    if any(data.startswith(POISON) for _, _, data in items):
        os.kill(os.getpid(), signal.SIGKILL)
    return _predict_files(model, items, limits)


worker.tasks.predict_files = _predict_or_die

__all__ = ["POISON", "app"]
