"""The job store on a real Redis: results recorded once, chunks that keep failing, expiry."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from common.jobstore import (
    TOMBSTONE_S,
    UNFINISHED_KEY,
    Chunk,
    JobStore,
    QueueFull,
    job_key,
    pack_files,
    tombstone_key,
    unpack_files,
)
from core.results import Result
from tests.support import RedisServer, wait_for


def store_on(server: RedisServer, ttl: int = 3600) -> JobStore:
    return JobStore(server.client(), ttl)


def new_job(
    store: JobStore, files: list[tuple[str, bytes]], chunk_size: int
) -> tuple[str, list[Chunk]]:
    """A job as the API makes it: recorded, then each chunk's images stored."""
    job_id, chunks = store.create_job(files, chunk_size)
    for chunk in chunks:
        assert store.store_images(job_id, chunk, files)
    return job_id, chunks


def unfinished(server: RedisServer) -> set[str]:
    """The ids the queued-jobs limit (429) counts."""
    return {m.decode() for m in server.client().zrange(UNFINISHED_KEY, 0, -1)}


def results_for(chunk: Chunk, failed: set[int] = frozenset()) -> list[Result]:
    return [Result.failure(i, f"{i}.png", "bad") if i in failed
            else Result(i, f"{i}.png", prediction=i % 10, confidence=0.9, runner_up=0)
            for i in range(chunk.start, chunk.stop)]


def test_a_chunk_recorded_twice_counts_once(redis_server: RedisServer) -> None:
    store = store_on(redis_server)
    job_id, chunks = new_job(store, [(f"{i}.png", b"img") for i in range(5)], chunk_size=3)
    assert chunks == [Chunk(0, 3), Chunk(3, 5)]
    begun = store.begin_chunk(job_id, chunks[0], worker="a:1")
    assert begun.runnable and begun.attempts == 1
    assert store.redis.hget(job_key(job_id), "reader:0") == b"a:1"  # who is reading it now
    assert [(i, n, d) for i, n, d in begun.files] == [(0, "0.png", b"img"), (1, "1.png", b"img"),
                                                      (2, "2.png", b"img")]
    assert store.record_results(job_id, chunks[0], results_for(chunks[0], {1}),
                                worker="a:1") == (3, "running")
    assert store.record_results(job_id, chunks[0], results_for(chunks[0]),
                                worker="b:2") == (0, "running")
    assert store.chunk_workers(job_id) == {0: "a:1"}  # the first, and only, recording counts
    job = store.get_job(job_id)
    assert (job["status"], job["processed"], job["failed"], job["results"]) == (
        "running", 3, 1, None)
    # the consumed bytes are gone: a redelivery sees None, and records nothing new
    assert [d for _, _, d in store.begin_chunk(job_id, chunks[0]).files] == [None] * 3
    assert store.record_results(job_id, chunks[1], results_for(chunks[1])) == (2, "succeeded")
    assert store.record_results(job_id, chunks[1], results_for(chunks[1])) == (0, "succeeded")
    job = store.get_job(job_id)
    assert (job["status"], job["processed"], job["failed"]) == ("succeeded", 5, 1)
    assert [r["index"] for r in job["results"]] == [0, 1, 2, 3, 4]
    assert job["results"][1]["error"] == "bad"
    assert unfinished(redis_server) == set()
    assert not store.begin_chunk(job_id, chunks[1]).runnable
    store.wait_until_ended(job_id, timeout=5)  # returns at once: the token is there
    assert not redis_server.client().exists(job_key(job_id) + ":images")


def test_a_chunk_hands_each_file_its_own_bytes(redis_server: RedisServer) -> None:
    store = store_on(redis_server)
    files = [(f"{i}.png", bytes(range(i)) * 7) for i in range(12)]  # the first is empty
    job_id, chunks = new_job(store, files, chunk_size=5)
    handed = [f for chunk in chunks for f in store.begin_chunk(job_id, chunk).files]
    assert handed == [(i, name, data) for i, (name, data) in enumerate(files)]
    assert unpack_files(pack_files([]), 0) == []
    odd = [("ünï 数.png", b""), ("", b"\x00" * 3)]
    assert unpack_files(pack_files(odd), 2) == odd
    with pytest.raises(ValueError, match="does not hold"):
        unpack_files(pack_files(odd) + b"!", 2)


def test_deliveries_are_counted_per_chunk(redis_server: RedisServer) -> None:
    store = store_on(redis_server)
    job_id, chunks = new_job(store, [("a.png", b"x"), ("b.png", b"y")], chunk_size=1)
    assert [store.begin_chunk(job_id, chunks[0]).attempts for _ in range(3)] == [1, 2, 3]
    assert store.begin_chunk(job_id, chunks[1]).attempts == 1


def test_cancel_ends_the_job_once_and_wakes_waiters(redis_server: RedisServer) -> None:
    store = store_on(redis_server)
    job_id, chunks = new_job(store, [("a.png", b"x")] * 4, chunk_size=2)
    assert unfinished(redis_server) == {job_id}
    assert store.cancel(job_id) == 1
    assert not store.store_images(job_id, chunks[0], [("a.png", b"x")] * 4)  # ended: no bytes
    assert store.cancel(job_id) == 0
    assert store.cancel("0" * 32) == -1
    assert unfinished(redis_server) == set()
    # the waiter's wake-up token is there: a wait of 0 (no blocking) already sees the end
    assert store.wait_until_ended(job_id, timeout=0)
    assert store.wait_until_ended(job_id, timeout=10)
    assert not store.begin_chunk(job_id, chunks[1]).runnable
    assert store.record_results(job_id, chunks[0], results_for(chunks[0])) == (0, "cancelled")
    assert store.get_job(job_id)["results"] == []


def test_a_job_expires_whole(redis_server: RedisServer) -> None:
    store = store_on(redis_server, ttl=1)
    job_id, chunks = new_job(store, [("a.png", b"x"), ("b.png", b"y")], chunk_size=1)
    store.record_results(job_id, chunks[0], results_for(chunks[0]))
    assert store.get_job(job_id) is not None
    expires_at = int(redis_server.client().hget(job_key(job_id), "expires_at"))
    assert store.expired_at(job_id) is None  # alive: no answer of "expired" yet
    wait_for(lambda: store.get_job(job_id) is None, timeout=10, what="the job to expire")
    assert redis_server.client().keys(f"{job_key(job_id)}*") == []
    assert store.results(job_id) is None
    # the tombstone outlives the job, holds only its expiry time, and goes a week later
    assert store.expired_at(job_id) == datetime.fromtimestamp(expires_at, UTC).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")
    tombstone = tombstone_key(job_id)
    assert redis_server.client().get(tombstone) == str(expires_at).encode()
    assert redis_server.client().expiretime(tombstone) == expires_at + TOMBSTONE_S
    assert store.expired_at("0" * 32) is None  # never created: unknown, not expired


def test_a_job_refused_by_the_queue_limit_leaves_no_tombstone(redis_server: RedisServer) -> None:
    store = store_on(redis_server)
    store.create_job([("a.png", b"x")], 1, max_unfinished=1)
    before = set(redis_server.client().keys("*"))
    with pytest.raises(QueueFull):
        store.create_job([("a.png", b"x")], 1, max_unfinished=1)
    assert set(redis_server.client().keys("*")) == before  # nothing of the refused job stays
