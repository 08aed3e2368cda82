"""A watch on the worker's consumer: messages wait in the broker, yet this worker takes none.

Celery's consumer can stop taking messages after its Redis connection drops and comes back
while its event loop goes on (celery#8030, #8091, #9054): the worker looks alive (its pool
processes' heartbeats go on, so it is healthy and counted ready), and a job whose chunks it
should read waits until another worker reads them, or until its TTL when it is the only one
(seen once in the container tests: the one worker left after a scale-down had read nothing
since a Redis restart). The chunks are not lost (common.lost_chunks looks only when nothing
waits), so nothing else notices.

This consumer bootstep looks every LOOK_EVERY seconds, from the consumer's own event loop:
when messages wait in the broker's lanes and this worker holds none (no task reserved, none
running) at STALLED_LOOKS looks in a row, it raises a connection error there. Celery then
does what it does when Redis drops: closes the connection, connects again and consumes anew.
A worker that is merely busy, or one whose pool is full, holds messages and is left alone.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from celery import bootsteps
from celery.worker import state

from common.queue import broker_lanes

log = logging.getLogger(__name__)

LOOK_EVERY = 5.0
"""Seconds between two looks: one pipelined LLEN per lane."""
STALLED_LOOKS = 3
"""Looks in a row that must see messages waiting and none held: 10-15 s of a stall, while
an idle consumer asks Redis for a message every second (kombu's BRPOP timeout)."""


class ConsumerStalled(ConnectionError):
    """Raised in the consumer's event loop: Celery reconnects on connection errors."""


def waiting_messages(client: redis.Redis) -> int:
    """Messages waiting in the broker's lanes, not yet taken by any worker."""
    pipe = client.pipeline(transaction=False)
    for key in broker_lanes():
        pipe.llen(key)
    return sum(pipe.execute())


def holds_messages() -> bool:
    """This worker has taken a message that is not finished: reserved, or running."""
    return bool(len(state.reserved_requests) or len(state.active_requests))


class StallCount:
    """Looks in a row that saw messages waiting while this worker held none."""

    def __init__(self, limit: int = STALLED_LOOKS) -> None:
        self.limit = limit
        self.looks = 0

    def see(self, waiting: int | None, holding: bool) -> bool:
        """Count one look (`waiting` None: Redis did not answer); True when stalled."""
        self.looks = self.looks + 1 if waiting and not holding else 0
        return self.looks >= self.limit


class ConsumerWatch(bootsteps.StartStopStep):
    """The watch, started with the consumer's task step and again after each reconnection."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.client = redis.Redis.from_url(parent.app.conf.broker_url, socket_timeout=2,
                                           socket_connect_timeout=2)
        self.count = StallCount()
        self.entry: Any = None

    def start(self, parent: Any) -> None:
        self.count = StallCount()
        self.entry = parent.timer.call_repeatedly(LOOK_EVERY, self.look)

    def stop(self, parent: Any) -> None:
        if self.entry is not None:
            self.entry.cancel()
            self.entry = None

    shutdown = stop

    def look(self) -> None:
        try:
            waiting: int | None = waiting_messages(self.client)
        except redis.RedisError:  # Redis restarting: the consumer reconnects by itself
            waiting = None
        if self.count.see(waiting, holds_messages()):
            self.count = StallCount()
            log.warning("consumer: %d messages wait and this worker has taken none for %.0f "
                        "s; reconnecting to the broker", waiting,
                        LOOK_EVERY * STALLED_LOOKS)
            raise ConsumerStalled("the consumer took no message while messages waited")
