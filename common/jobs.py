"""What the job store takes and hands out: job statuses, chunks, and the values of its
methods' arguments and replies (plain data: no Redis here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

QUEUED, RUNNING, SUCCEEDED, CANCELLED, FAILED = (
    "queued", "running", "succeeded", "cancelled", "failed",
)
STATUSES = (QUEUED, RUNNING, SUCCEEDED, CANCELLED, FAILED)
ENDED = frozenset({SUCCEEDED, CANCELLED, FAILED})


@dataclass(frozen=True)
class Chunk:
    """A slice [start, stop) of a job's images: the unit of work of one Celery task."""

    start: int
    stop: int


def chunk_entry(job_id: str, chunk: Chunk) -> str:
    """A chunk named in one string, `{job id}:{start}:{stop}` (lists of chunks in Redis)."""
    return f"{job_id}:{chunk.start}:{chunk.stop}"


def parse_chunk_entry(entry: bytes | str) -> tuple[str, Chunk]:
    text = entry.decode() if isinstance(entry, bytes) else entry
    job_id, start, stop = text.rsplit(":", 2)
    return job_id, Chunk(int(start), int(stop))


@dataclass(frozen=True)
class NewJob:
    """A job just created (`JobStore.create`): its id, its chunks (the first one's files
    stored), and whether it rang the interactive batch's bell (send the batch task)."""

    id: str
    chunks: list[Chunk]
    rang: bool = False


@dataclass(frozen=True)
class ChunkStart:
    """What a worker learns when it begins a chunk: whether to run it, which delivery this
    is, and the chunk's `(index, filename, bytes)` (filename "" and bytes None once the
    chunk has been recorded: a late redelivery has nothing left to read)."""

    status: str | None
    attempts: int
    files: list[tuple[int, str, bytes | None]]
    read: str = "digit"
    """What the job reads on each image: `digit` or `number` (`job_read`)."""

    @property
    def runnable(self) -> bool:
        return self.status in (QUEUED, RUNNING)



@dataclass(frozen=True)
class BatchQueue:
    """Where a small job's chunk waits for an interactive batch (common.interactive)."""

    waiting_key: str
    bell_key: str
    bell_ms: int
    """How long a bell rung without a task behind it lasts."""
    wake_key: str | None = None
    """With `lanes_key`: the list whose tokens wake the workers' fast lanes (worker/lane.py),
    pushed instead of ringing the bell while a lane is alive."""
    lanes_key: str | None = None
    """The fast lanes alive: lane -> when its process last said so."""
    wake_tokens: int = 0
    """Most tokens kept on the wake list."""


class QueueFull(Exception):
    """Too many unfinished jobs to accept another one."""


@dataclass(frozen=True)
class StoredResult:
    """A result of a job as stored, for a correction (`JobStore.stored_result`)."""

    status: str
    read: str
    total: int
    result: dict[str, Any] | None = None
    """Its JSON object (with `corrected` when there is one); None when never recorded."""
    digits: list[np.ndarray] = field(default_factory=list)
    """Its normalised digits (uint8 (28, 28) each): one, one per digit of a number, or none."""


@dataclass(frozen=True)
class MetricsSnapshot:
    """The figures of `JobStore.metrics_snapshot`; `counters` are the `mnistq:metrics`
    fields (read them with `common.metrics.count` and `common.metrics.histogram`)."""

    counters: dict[str, str]
    queue_chunks: int
    unfinished: int
    workers_live: int
    model_version: str | None
