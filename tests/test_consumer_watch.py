"""What the consumer watch counts as a stall (worker/consumer_watch.py); that a stalled worker
reconnects and reads is tested on real processes in tests/test_reliability_workers.py."""

from __future__ import annotations

from worker.consumer_watch import StallCount


def test_a_stall_is_messages_waiting_and_none_held_at_every_look_in_a_row() -> None:
    count = StallCount(limit=3)
    looks = [(4, False), (4, False), (4, True), (4, False), (None, False), (0, False),
             (4, False), (4, False), (4, False)]
    assert [count.see(waiting, holding) for waiting, holding in looks] == [
        False, False, False, False, False, False, False, False, True]
