"""The fast lane: a thread in each worker pool process that reads small jobs without Celery.

A single image sent as a Celery task pays three hops before a worker reads it: the API's
`send_task`, the worker main process's BRPOP and unacked bookkeeping, and the prefork
hand-off to the pool process (about 2.5 ms of the 6.8 ms a single image took on an idle
stack, docs/performance.md). The pool process already holds the model and a Redis client, so
a thread in it blocks on the wake list (common.interactive) and, when the API's job-creation
script pushes a token, takes and reads what waits exactly as a batch task does (the same
`read` function, under a taken list of its own, `lane:{host}:{pid}`): the job store's
bookkeeping (counts, retries, cancel, webhooks, metrics, the long-poll wake-up) is the one
code path.

The thread may read while the process's main thread reads a big chunk: the model is
read-only once loaded (the fast predictor allocates its buffers per call), the Redis client
is thread-safe (a connection pool), and the served model is taken once per batch.

Why nothing waits forever (see also common.interactive): the lane takes what waits when it
starts and every WAKE_WAIT seconds even unwoken; a Redis error keeps its taken list and reads
it again once Redis answers; any other
error fails the jobs it took, as a batch task's would; a lane whose process dies is noticed
by the other processes' heartbeats, which put back what it took.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from common.interactive import InteractiveBatches, lane_id
from common.jobstore import REDIS_DOWN

log = logging.getLogger(__name__)

WAKE_WAIT = 2.0
"""Seconds one wait for a wake token lasts: how soon the thread notices it must stop, and how
often it looks at the waiting list unwoken."""
LEAVE_WAIT = 5.0
"""Seconds a stopping process lets the lane finish the batch it reads before it is put
back for another lane."""


class Lane:
    """The fast lane of one worker process: `start` it once the model is loaded."""

    def __init__(self, batches: InteractiveBatches, process: str,
                 read: Callable[[str], int], fail: Callable[[str], None]) -> None:
        self.batches = batches
        self.id = lane_id(process)
        """Its taken list's id, naming its process (`lane:{host}:{pid}`)."""
        self.read = read
        """Takes, reads and records one batch under the taken list named by its argument."""
        self.fail = fail
        """Fails the jobs taken under that list, and forgets them (reading raised a bug)."""
        self.stop = threading.Event()
        self.reading = threading.Lock()
        """Held while a batch is read: a stopping process waits for that, not for a wait."""
        self.thread = threading.Thread(target=self._run, name="fast-lane", daemon=True)

    @property
    def alive(self) -> bool:
        return self.thread.is_alive()

    def start(self) -> None:
        """Register the lane (so the API wakes lanes from now on), then start its thread."""
        self.batches.join_lanes(self.id)
        self.thread.start()

    def leave(self) -> None:
        """Stop the thread (letting it end the batch it reads, if any; a thread waiting for
        a token dies with the process) and put back what it still holds."""
        self.stop.set()
        if self.reading.acquire(timeout=LEAVE_WAIT):  # (kept: no batch begins after)
            log.debug("fast lane %s: stopped", self.id)
        self.batches.leave(self.id)

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                # what waits: at start, when woken, and every WAKE_WAIT seconds unwoken (a
                # token claimed by a lane that died or stopped costs seconds, not a job);
                # after a Redis error, what this lane had taken
                with self.reading:
                    if self.stop.is_set():
                        return
                    self.read(self.id)
                self.batches.wait_for_wake(WAKE_WAIT)
            except REDIS_DOWN as exc:
                log.warning("fast lane %s: Redis unreachable, reads again later: %s",
                            self.id, exc)
                self.stop.wait(1.0)  # no hot loop while Redis restarts
            except Exception:
                log.exception("fast lane %s: batch failed; its jobs fail", self.id)
                try:
                    self.fail(self.id)
                except Exception:
                    log.exception("fast lane %s: could not mark its jobs failed", self.id)
                    self.stop.wait(1.0)
