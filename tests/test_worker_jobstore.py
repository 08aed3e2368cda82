"""The job store on a real Redis: results recorded once, chunks that keep failing, expiry."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from common.chunk_packing import pack_digits, pack_files, unpack_digits, unpack_files
from common.jobs import Chunk, QueueFull
from common.jobstore import JobStore
from common.queue import SMALLEST_CHUNK, time_bounded_chunk
from common.redis_keys import TOMBSTONE_S, UNFINISHED_KEY, digits_key, job_key, tombstone_key
from core.results import DigitRead, Result
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
    # The expiry is a whole second (`int(now) + ttl`): a ttl of 1 s could end the job before
    # the checks below that it is alive; 5 s leaves 4 s at least.
    store = store_on(redis_server, ttl=5)
    job_id, chunks = new_job(store, [("a.png", b"x"), ("b.png", b"y")], chunk_size=1)
    store.record_results(job_id, chunks[0], results_for(chunks[0]))
    assert store.get_job(job_id) is not None
    assert store.expired_at(job_id) is None  # alive: no answer of "expired" yet
    # the tombstone, set at creation, holds the job's expiry time (read in one transaction)
    pipe = redis_server.client().pipeline(transaction=True)
    pipe.hget(job_key(job_id), "expires_at")
    pipe.get(tombstone_key(job_id))
    job_expiry, tombstone_value = pipe.execute()
    assert job_expiry is not None and job_expiry == tombstone_value
    expires_at = int(job_expiry)
    wait_for(lambda: store.get_job(job_id) is None, timeout=20, what="the job to expire")
    assert redis_server.client().keys(f"{job_key(job_id)}*") == []
    assert store.results(job_id) is None
    # the tombstone outlives the job, holds only its expiry time, and goes a week later
    assert store.expired_at(job_id) == datetime.fromtimestamp(expires_at, UTC).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")
    tombstone = tombstone_key(job_id)
    assert redis_server.client().get(tombstone) == job_expiry
    assert redis_server.client().expiretime(tombstone) == expires_at + TOMBSTONE_S
    assert store.expired_at("0" * 32) is None  # never created: unknown, not expired


def test_chunks_are_cut_by_the_cpu_cost_of_big_chunks_in_the_job_s_own_read_mode(
    redis_server: RedisServer,
) -> None:
    """A busy machine (a chunk's wall time stretched), small jobs (a batch's fixed costs over
    a single image) and number jobs (each image some 150 times a digit's cost) must not
    shrink a digit job's chunks."""
    store = store_on(redis_server)
    digits, digit_chunks = new_job(store, [(f"{i}.png", b"img") for i in range(1000)], 500)
    for chunk in digit_chunks:  # 100 ms of CPU each, spread over 2 s by other processes
        store.record_results(digits, chunk, results_for(chunk), seconds=2.0, cpu_seconds=0.1)
    small, [one] = new_job(store, [("0.png", b"img")], 64)
    store.record_many([(small, one, results_for(one), 0.5)])  # no CPU figure: not counted
    numbers, number_chunks = store.create_job([(f"{i}.png", b"img") for i in range(1000)], 64,
                                              read="number")
    for chunk in number_chunks:
        store.record_results(numbers, chunk, results_for(chunk), seconds=3.0,
                             cpu_seconds=0.03 * (chunk.stop - chunk.start))

    assert store.seconds_per_image("digit") == pytest.approx(0.0002)
    assert time_bounded_chunk(store.seconds_per_image("digit"), 512) == 250
    assert store.seconds_per_image("number") == pytest.approx(0.03)
    assert time_bounded_chunk(store.seconds_per_image("number"), 512) == SMALLEST_CHUNK
    assert store.seconds_per_image("digit", min_images=1001) is None  # not measured enough


def test_a_job_refused_by_the_queue_limit_leaves_no_tombstone(redis_server: RedisServer) -> None:
    store = store_on(redis_server)
    store.create_job([("a.png", b"x")], 1, max_unfinished=1)
    before = set(redis_server.client().keys("*"))
    with pytest.raises(QueueFull):
        store.create_job([("a.png", b"x")], 1, max_unfinished=1)
    assert set(redis_server.client().keys("*")) == before  # nothing of the refused job stays


def some_digits(n: int, seed: int = 0) -> list[np.ndarray]:
    """MNIST-like digits: mostly black, some ink."""
    rng = np.random.default_rng(seed)
    digits = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    digits[rng.random((n, 28, 28)) < 0.8] = 0
    return list(digits)


def test_packed_digits_come_back_exactly_per_result() -> None:
    a, b, c, d = some_digits(4)
    per_result = [[a], [], [b, c, d], [np.zeros((28, 28), np.uint8)]]
    packed = pack_digits(per_result)
    assert len(packed) < 0.45 * 5 * 784  # a third of the bytes, give or take the ink
    back = unpack_digits(packed)
    assert [len(images) for images in back] == [1, 0, 3, 1]
    for got, want in zip((x for images in back for x in images), [a, b, c, d, per_result[3][0]],
                         strict=True):
        assert got.dtype == np.uint8 and np.array_equal(got, want)
    assert unpack_digits(pack_digits([[], []])) == [[], []]


def test_a_chunks_normalised_digits_are_kept_with_its_results_and_expire_with_the_job(
    redis_server: RedisServer,
) -> None:
    store = store_on(redis_server, ttl=5)  # alive for 4 s at least (a whole second's expiry)
    job_id, chunks = new_job(store, [(f"{i}.png", b"x") for i in range(4)], chunk_size=2)
    first, second = some_digits(2, seed=1)
    results = results_for(chunks[0], failed={1})
    results[0] = replace(results[0], image=first)
    store.record_results(job_id, chunks[0], results)
    number = Result(2, "2.png", read="number", text="12", confidence=0.8, digits=(
        DigitRead(1, 0.9, 7, (0, 0, 5, 9), first), DigitRead(2, 0.9, 3, (6, 0, 5, 9), second)))
    store.record_results(job_id, chunks[1], [number, Result.failure(3, "3.png", "bad")])

    kept = store.stored_result(job_id, 0)
    assert kept is not None and kept.result is not None and kept.result["prediction"] == 0
    assert len(kept.digits) == 1 and np.array_equal(kept.digits[0], first)
    assert store.stored_result(job_id, 1).digits == []  # an error: no digit
    number_kept = store.stored_result(job_id, 2).digits
    assert [d.tolist() for d in number_kept] == [first.tolist(), second.tolist()]
    # a chunk recorded again changes nothing, its digits neither
    store.record_results(job_id, chunks[0], results_for(chunks[0]))
    assert np.array_equal(store.stored_result(job_id, 0).digits[0], first)

    pipe = redis_server.client().pipeline(transaction=True)
    pipe.hget(job_key(job_id), "expires_at")
    pipe.expiretime(digits_key(job_id))
    expires_at, digits_expire = pipe.execute()
    assert expires_at is not None and digits_expire == int(expires_at)
    wait_for(lambda: store.get_job(job_id) is None, timeout=20, what="the job to expire")
    assert redis_server.client().keys(f"{job_key(job_id)}*") == []


def test_a_correction_shows_in_every_read_of_the_results(redis_server: RedisServer) -> None:
    store = store_on(redis_server)
    job_id, chunks = new_job(store, [(f"{i}.png", b"x") for i in range(5)], chunk_size=2)
    for chunk in chunks:
        store.record_results(job_id, chunk, results_for(chunk))
    assert store.set_corrected(job_id, 3, 8) and store.set_corrected(job_id, 4, 1)
    assert store.set_corrected(job_id, 3, 9)  # the latest wins
    expected = [None, None, None, 9, 1]
    assert [r.get("corrected") for r in store.results(job_id)] == expected
    job = store.get_job(job_id, results_as_json=True)
    assert [r.get("corrected") for r in json.loads(job["results"])] == expected
    assert [r.get("corrected") for r in store.get_job(job_id)["results"]] == expected
    assert [r.get("corrected") for r in json.loads(store.results_json(job_id))] == expected
    assert store.stored_result(job_id, 3).result["corrected"] == 9
    assert not store.set_corrected("0" * 32, 0, 1)  # no job: nothing written
    assert not redis_server.client().exists(f"{job_key('0' * 32)}:corrected")
