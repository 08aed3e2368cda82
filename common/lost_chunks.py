"""Chunks that nothing can deliver any more: found by the workers and sent again.

kombu's Redis transport takes a message in two steps: `BRPOP` from the queue, then a second
command that records it as unacknowledged (kombu#305). A worker whose connection is lost
between the two (Redis stopping at that instant) holds the message only in its memory; when
its task then meets Redis down it cannot put the message back either, and the chunk is never
read: its job stays `running` until it expires.

Nothing in the broker can bring such a chunk back, which is also how it is recognised. When
the broker holds no message at all (every lane, the interactive batch list and kombu's
unacknowledged set are empty: nothing is queued, prefetched or being read), a chunk not yet
recorded of an unfinished job that has made no progress for a visibility timeout cannot be
delivered by anyone. Seen so at two looks in a row (a message between kombu's two steps is
in a worker's hands for a moment only), it is sent again, by one worker (a claim key). A
chunk read twice costs nothing: its results are recorded once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import redis

from common.interactive import WAITING_KEY
from common.jobs import Chunk, chunk_entry
from common.jobstore import JobStore
from common.queue import broker_lanes
from common.redis_keys import PREFIX

log = logging.getLogger(__name__)

UNACKED_KEY = "unacked"
"""kombu's hash of the messages delivered and not yet acknowledged (its default name)."""


def broker_idle(client: redis.Redis) -> bool:
    """No message queued in any lane or the interactive list, none delivered unacknowledged."""
    pipe = client.pipeline(transaction=False)
    for key in (WAITING_KEY, *broker_lanes()):
        pipe.llen(key)
    pipe.hlen(UNACKED_KEY)
    return not any(pipe.execute())


class LostChunks:
    """One worker process's look-out for lost chunks (see the module's docstring)."""

    def __init__(self, store: JobStore, quiet: float) -> None:
        self.store = store
        self.quiet = quiet
        """Seconds without progress before a job's missing chunks count (the visibility
        timeout: by then any chunk that was being read would have come back)."""
        self.suspects: set[tuple[str, Chunk]] = set()

    def look(self, send: Callable[[str, Chunk], None]) -> int:
        """Send again the chunks lost at this look and the last one; returns how many."""
        if not broker_idle(self.store.redis):
            self.suspects.clear()
            return 0
        found = set(self.store.unrecorded_chunks(self.quiet))
        lost, self.suspects = found & self.suspects, found
        sent = 0
        for job_id, chunk in sorted(lost, key=lambda item: (item[0], item[1].start)):
            claim = f"{PREFIX}:lost:{chunk_entry(job_id, chunk)}"
            if self.store.redis.set(claim, 1, nx=True, ex=max(1, int(self.quiet))):
                log.warning("job %s: chunk %d-%d was lost by the broker; sending it again",
                            job_id, chunk.start, chunk.stop, extra={"job": job_id})
                send(job_id, chunk)
                sent += 1
        return sent
